/*
 * The record ofproto/trace keeps of one translation: a tree of what happened (the bridge, each
 * table visited with the rule it matched, each action, notes from NORMAL and the actions), and
 * its printing in Open vSwitch's layout. The translation (xlate.ts) writes it only when a
 * trace is asked for; appctl (ofproto-commands.ts) prints it. Control path.
 *
 * Layout, as ovs-appctl ofproto/trace prints it: a table reached by resubmit or goto_table
 * goes in the list of the action that reached it, right after that action; every node is
 * indented by 4 per level, a table or bridge that is the last of its list one level less (so
 * goto chains and tail resubmits read as a flat sequence), and the children of a table that
 * is not last go two levels deeper. Notes print as " -> text" (detail), " >> text" (warning)
 * and " >>>> text <<<<" (error).
 */

export const TN_BRIDGE = 0;
export const TN_TABLE = 1;
export const TN_ACTION = 2;
export const TN_DETAIL = 3;
export const TN_WARN = 4;
export const TN_ERROR = 5;

export interface TraceNode {
  type: number;
  text: string;
  subs: TraceNode[];
}

export class XlateTrace {
  readonly root: TraceNode[] = [];
  private cur: TraceNode[] = this.root;

  private add(type: number, text: string): TraceNode {
    const n: TraceNode = { type, text, subs: [] };
    this.cur.push(n);
    return n;
  }

  bridge(name: string): void {
    this.cur = this.add(TN_BRIDGE, `bridge("${name}")`).subs;
  }
  /** Adds a table node; returns the list to restore with leave() after its actions. */
  enterTable(text: string): TraceNode[] {
    const prev = this.cur;
    this.cur = this.add(TN_TABLE, text).subs;
    return prev;
  }
  leave(prev: TraceNode[]): void {
    this.cur = prev;
  }
  action(text: string): void {
    this.add(TN_ACTION, text);
  }
  detail(text: string): void {
    this.add(TN_DETAIL, text);
  }
  warn(text: string): void {
    this.add(TN_WARN, text);
  }
  error(text: string): void {
    this.add(TN_ERROR, text);
  }

  /** The tree as ofproto/trace prints it (the part between "Flow:" and "Final flow:"). */
  format(): string {
    let out = '';
    const walk = (nodes: TraceNode[], level: number): void => {
      for (let i = 0; i < nodes.length; i++) {
        const n = nodes[i];
        const terminal = n.type >= TN_ACTION;
        const more = terminal || i < nodes.length - 1 ? 1 : 0;
        const pad = ' '.repeat(Math.max(0, level + more - 1) * 4);
        if (n.type === TN_BRIDGE) {
          out += `\n${pad}${n.text}\n${pad}${'-'.repeat(n.text.length)}\n`;
        } else if (n.type === TN_DETAIL) {
          out += `${pad} -> ${n.text}\n`;
        } else if (n.type === TN_WARN) {
          out += `${pad} >> ${n.text}\n`;
        } else if (n.type === TN_ERROR) {
          out += `${pad} >>>> ${n.text} <<<<\n`;
        } else {
          out += `${pad}${n.text}\n`;
        }
        walk(n.subs, level + 2 * more);
      }
    };
    walk(this.root, 1);
    return out;
  }
}
