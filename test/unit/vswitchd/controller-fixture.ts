/*
 * Helpers for the vswitchd controller tests (controller-*.test.ts): a fake controller (a
 * FlowServer that keeps its connections and what they receive) and Controller-row plumbing on
 * a SwitchFixture.
 */
import { FlowConnection } from '../../../src/lib/flowproto/connection.js';
import type { FlowMessage } from '../../../src/lib/flowproto/messages.js';
import { FlowServer } from '../../../src/lib/flowproto/server.js';
import { namedUuid, set } from '../../../src/ovsdb/datum.js';
import { parseFlow } from '../../../src/vswitchd/ofp/flow-syntax.js';
import { flowModToWire } from '../../../src/vswitchd/ofp/wire.js';
import type { SwitchFixture } from './switch-fixture.js';

export const wireMod = (s: string) => ({ flowMod: flowModToWire(parseFlow(s)) });
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class FakeCtl {
  conns: FlowConnection[] = [];
  got = new Map<FlowConnection, FlowMessage[]>();
  server = new FlowServer((c) => {
    this.conns.push(c);
    const got: FlowMessage[] = [];
    this.got.set(c, got);
    c.onMessage((m) => void got.push(m));
  }, { agent: 'fake controller' });
  port = 0;
  async listen(port = 0): Promise<this> {
    this.port = await this.server.listenTcp(port, '127.0.0.1');
    return this;
  }
  live(): FlowConnection[] {
    return this.conns.filter((c) => !c.closed);
  }
  packetIns(c: FlowConnection): NonNullable<FlowMessage['packetIn']>[] {
    return (this.got.get(c) ?? []).filter((m) => m.body === 'packetIn').map((m) => m.packetIn!);
  }
}

/** Replaces br0's controllers (and sets fail_mode when given; '' clears it). */
export async function setControllers(sw: SwitchFixture, rows: Record<string, unknown>[], failMode?: string): Promise<void> {
  const br = (await sw.db.transact('Open_vSwitch', [{ op: 'select', table: 'Bridge', where: [['name', '==', 'br0']] }]))[0].rows[0];
  const ops: object[] = rows.map((r, i) => ({ op: 'insert', table: 'Controller', row: r, 'uuid-name': `c${i}` }));
  const row: Record<string, unknown> = { controller: set(rows.map((_, i) => namedUuid(`c${i}`))) };
  if (failMode !== undefined) row.fail_mode = failMode === '' ? set([]) : failMode;
  ops.push({ op: 'update', table: 'Bridge', where: [['_uuid', '==', br._uuid]], row });
  await sw.configure(ops);
}

export async function ctlRow(sw: SwitchFixture, target: string): Promise<any> {
  return (await sw.db.transact('Open_vSwitch', [{ op: 'select', table: 'Controller', where: [['target', '==', target]] }]))[0].rows[0];
}
