/*
 * ofctl: OpenFlow-style management of a bridge, in ovs-ofctl's syntax and output shapes, over
 * the flow protocol (src/lib/flowproto) on VSWITCH_RUNDIR/BRIDGE.mgmt, or on any unix: or tcp:
 * target. The commands live in tools/ofctl/ (flows.ts, switch.ts, monitor.ts), each loaded only
 * when its command runs (a dump-flows does not pay for the others at start); this module parses
 * the command line, connects, applies --timeout and exports main(). Control path.
 */
import { ToolError, ToolExit, checkArgCount, parseOptions, parseSeconds, runTool, stdio, TIMEOUT_STATUS, versionLine, type OptSpec, type ToolIo } from './common.js';
import { startEarlyDump, type EarlyDump } from './ofctl/early.js';
import { OfSession, type OfctlContext } from './ofctl/session.js';
import { resolveTarget } from './ofctl/target.js';

const HELP = `ofctl: OpenFlow switch management utility
usage: ofctl [OPTIONS] COMMAND [ARG...]

For OpenFlow switches:
  show SWITCH                 show OpenFlow information
  dump-desc SWITCH            print switch description
  dump-tables SWITCH          print table stats
  mod-port SWITCH IFACE ACT   modify port behavior
      ACT: up, down, flood, no-flood, receive, no-receive,
           forward, no-forward, packet-in, no-packet-in
  dump-ports SWITCH [PORT]    print port statistics
  dump-ports-desc SWITCH [PORT]  print port descriptions
  dump-flows SWITCH           print all flow entries
  dump-flows SWITCH FLOW      print matching FLOWs
  dump-aggregate SWITCH       print aggregate flow statistics
  dump-aggregate SWITCH FLOW  print aggregate stats for FLOWs
  add-flow SWITCH FLOW        add flow described by FLOW
  add-flows SWITCH FILE       add flows from FILE ("-": standard input)
  mod-flows SWITCH FLOW       modify actions of matching FLOWs
  del-flows SWITCH [FLOW]     delete matching FLOWs
  replace-flows SWITCH FILE   replace flows with those in FILE
  diff-flows SOURCE1 SOURCE2  compare flows from two sources
  packet-out SWITCH "in_port=PORT packet=HEX actions=ACTIONS"
  packet-out SWITCH IN_PORT ACTIONS PACKET...
                              execute ACTIONS on PACKET
  monitor SWITCH [MISSLEN] [invalid_ttl] [watch:[...]]
                              print packets received from SWITCH
  probe SWITCH                probe whether SWITCH is up

SWITCH is a bridge name (its socket VSWITCH_RUNDIR/BRIDGE.mgmt), unix:FILE or
tcp:HOST[:PORT] (default port 6653). A diff-flows SOURCE that names an existing
file (or "-") is a file of flows, one per line; otherwise a switch.

Options:
  --strict                    use strict match for flow commands
  --names                     show port names in output
  --no-names                  show port numbers in output (default unless
                              standard output is a terminal)
  --no-stats                  do not print flow statistics (dump-flows)
  --readd                     replace-flows: re-add every flow, not only changes
  -O, --protocols=VERSION     output as ovs-ofctl does with this OpenFlow version
                              (OpenFlow10 by default; OpenFlow11..OpenFlow15)
  -t, --timeout=SECS          give up after SECS seconds
  -h, --help                  display this help message
  -V, --version               display version information
`;

const SPECS: OptSpec[] = [
  { long: 'strict', arg: 'none' },
  { long: 'names', arg: 'none' },
  { long: 'no-names', arg: 'none' },
  { long: 'no-stats', arg: 'none' },
  { long: 'readd', arg: 'none' },
  { long: 'protocols', short: 'O', arg: 'required' },
  { long: 'timeout', short: 't', arg: 'required' },
  { long: 'help', short: 'h', arg: 'none' },
  { long: 'version', short: 'V', arg: 'none' },
];

/** command -> [min args, max args]. */
const COMMANDS: Record<string, [number, number]> = {
  show: [1, 1], 'dump-desc': [1, 1], 'dump-tables': [1, 1], 'mod-port': [3, 3], 'dump-ports': [1, 2], 'dump-ports-desc': [1, 2],
  'dump-flows': [1, 2], 'dump-aggregate': [1, 2], 'add-flow': [2, 2], 'add-flows': [2, 2], 'mod-flows': [2, 2], 'del-flows': [1, 2],
  'replace-flows': [2, 2], 'diff-flows': [2, 2], 'packet-out': [2, Infinity], monitor: [1, 4], probe: [1, 1],
};

/** Commands of tools/ofctl/flows.ts (diff-flows aside: it may need no switch; dump-flows is dump.ts). */
const FLOW_COMMANDS = new Set(['dump-aggregate', 'add-flow', 'add-flows', 'mod-flows', 'del-flows', 'replace-flows']);

/** The version ovs-ofctl would speak given -O LIST (its highest): 10 ... 15. */
export function parseProtocols(list: string): number {
  let best = 0;
  for (const v of list.split(',')) {
    const m = /^OpenFlow1([0-5])$/i.exec(v.trim());
    if (!m) throw new ToolError(`Unknown OpenFlow version: "${v.trim()}"`);
    best = Math.max(best, 10 + Number(m[1]));
  }
  return best;
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.once('error', reject);
  });
}

async function runCommand(ctx: OfctlContext, cmd: string, args: string[], early: EarlyDump | null): Promise<number> {
  if (cmd === 'diff-flows') return (await import('./ofctl/flows.js')).diffFlows(ctx, args[0], args[1]);
  if (cmd === 'dump-flows' && early !== null) {
    const d = await import('./ofctl/dump.js');
    if (await d.earlyConnected(early)) {
      await d.dumpFlows(ctx, { early, sw: args[0] }, undefined);
      return 0;
    }
    early.sock.destroy();
  }
  // The command's module loads while the connection is being made.
  // The command's module loads while the connection is being made (dump-flows loads the rest
  // once its request is out: dump.ts).
  const mod = cmd === 'dump-flows' ? import('./ofctl/dump.js') : cmd === 'monitor' ? import('./ofctl/monitor.js')
    : FLOW_COMMANDS.has(cmd) ? import('./ofctl/flows.js') : import('./ofctl/switch.js');
  mod.catch(() => undefined);
  const s = await ctx.open(args[0]);
  try {
    if (cmd === 'dump-flows') {
      await (await import('./ofctl/dump.js')).dumpFlows(ctx, s, args[1]);
      return 0;
    }
    if (cmd === 'monitor') return await (await import('./ofctl/monitor.js')).monitor(ctx, s, args.slice(1));
    if (FLOW_COMMANDS.has(cmd)) {
      const f = await import('./ofctl/flows.js');
      switch (cmd) {
        case 'dump-aggregate': await f.dumpAggregate(ctx, s, args[1]); break;
        case 'add-flow': await f.flowModCommand(ctx, s, 'add', args[1]); break;
        case 'add-flows': await f.addFlows(ctx, s, args[1]); break;
        case 'mod-flows': await f.flowModCommand(ctx, s, ctx.strict ? 'modify_strict' : 'modify', args[1]); break;
        case 'del-flows': await f.flowModCommand(ctx, s, ctx.strict ? 'delete_strict' : 'delete', args[1]); break;
        case 'replace-flows': await f.replaceFlows(ctx, s, args[1]); break;
        default: break;
      }
      return 0;
    }
    const w = await import('./ofctl/switch.js');
    switch (cmd) {
      case 'show': await w.show(ctx, s); break;
      case 'dump-desc': await w.dumpDesc(ctx, s); break;
      case 'dump-tables': await w.dumpTables(ctx, s); break;
      case 'mod-port': await w.modPort(ctx, s, args[1], args[2]); break;
      case 'dump-ports': await w.dumpPorts(ctx, s, args[1]); break;
      case 'dump-ports-desc': await w.dumpPortsDesc(ctx, s, args[1]); break;
      case 'packet-out': await w.packetOut(ctx, s, args.slice(1)); break;
      case 'probe': await w.probe(s); break;
      default: throw new ToolError(`unknown command '${cmd}'; use --help for help`);
    }
    return 0;
  } finally {
    s.close();
  }
}

export async function main(argv: string[], io: ToolIo = stdio, env: NodeJS.ProcessEnv = process.env, stdin: () => Promise<string> = readStdin): Promise<number> {
  const code = await runTool('ofctl', io, () => run(argv, io, env, stdin));
  // The caller may exit at once: let a pipe take everything written first (100k flows).
  if (io === stdio) await new Promise<void>((r) => process.stdout.write('', () => r()));
  return code;
}

async function run(argv: string[], io: ToolIo, env: NodeJS.ProcessEnv, stdin: () => Promise<string>): Promise<number> {
  const { opts, rest } = parseOptions(argv, SPECS, true);
  let timeout = 0;
  let names: boolean | null = null;
  const opened: OfSession[] = [];
  const ctx: OfctlContext = {
    io, env, style: 10, strict: false, names: false, noStats: false, readd: false, timeoutMs: 0, readStdin: stdin,
    open: async (sw) => {
      const s = await OfSession.open(sw, env, ctx.timeoutMs);
      opened.push(s);
      return s;
    },
    adopted: (s) => void opened.push(s),
  };
  for (const o of opts) {
    switch (o.name) {
      case 'help': io.out(HELP); return 0;
      case 'version': io.out(versionLine('ofctl')); return 0;
      case 'timeout': timeout = parseSeconds(o.value); break;
      case 'strict': ctx.strict = true; break;
      case 'names': names = true; break;
      case 'no-names': names = false; break;
      case 'no-stats': ctx.noStats = true; break;
      case 'readd': ctx.readd = true; break;
      case 'protocols': ctx.style = parseProtocols(o.value ?? ''); break;
      default: break;
    }
  }
  // As ovs-ofctl: port names by default only when a person reads the output.
  ctx.names = names ?? (io === stdio && process.stdout.isTTY === true);
  ctx.timeoutMs = timeout * 1000;
  const [cmd, ...args] = rest;
  if (cmd === undefined) throw new ToolError('missing command name; use --help for help');
  const spec = COMMANDS[cmd];
  if (!spec) throw new ToolError(`unknown command '${cmd}'; use --help for help`);
  checkArgCount(cmd, args.length, spec[0], spec[1]);
  // A dump of every flow goes out before the protocol code loads (early.ts).
  let early: EarlyDump | null = null;
  if (cmd === 'dump-flows' && args.length === 1 && !ctx.names && !ctx.strict) {
    let target = '';
    try {
      target = resolveTarget(args[0], env);
    } catch {
      // not a switch: the normal path reports it
    }
    if (target.startsWith('unix:')) early = startEarlyDump(target.slice(5));
  }
  const work = runCommand(ctx, cmd, args, early);
  if (timeout <= 0) return work;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(cmd === 'monitor' ? new ToolExit(TIMEOUT_STATUS) : new ToolError(`${args[0]}: no response within ${timeout} seconds`, TIMEOUT_STATUS)), timeout * 1000);
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
    for (const s of opened) s.close();
  }
}
