// A bridge's flow_removed events: only for entries with send_flow_rem, for timeouts and deletes,
// never for an entry an add replaced (OpenFlow 1.3); and the tables-changed hook.
import { describe, expect, it } from 'vitest';
import { Bridge, type FlowRemovedEvent } from '../../../src/vswitchd/bridge.js';
import { OFPRR_DELETE, OFPRR_HARD_TIMEOUT } from '../../../src/vswitchd/ofp/flow-table.js';
import { parseFlow } from '../../../src/vswitchd/ofp/flow-syntax.js';

describe('Bridge events', () => {
  it('emits flow_removed for send_flow_rem entries deleted or timed out, not for replaced ones', async () => {
    const br = new Bridge('br0', 'u');
    const got: FlowRemovedEvent[] = [];
    br.events.on('flow_removed', (ev) => got.push(ev));
    let changes = 0;
    br.onTablesChange = () => changes++;
    const t0 = 1_000_000;
    br.tables.apply(parseFlow('priority=5,tcp,send_flow_rem,actions=drop'), t0);
    br.tables.apply(parseFlow('priority=5,tcp,send_flow_rem,actions=output:1'), t0); // replaces
    br.tables.apply(parseFlow('priority=6,udp,actions=drop'), t0); // no send_flow_rem
    br.tables.apply(parseFlow('priority=7,icmp,hard_timeout=2,send_flow_rem,actions=drop'), t0);
    await Promise.resolve();
    expect(got).toEqual([]);
    expect(changes).toBeGreaterThanOrEqual(4);
    br.tables.expire(t0 + 2000);
    expect(got.map((e) => [e.entry.priority, e.reason])).toEqual([[7, OFPRR_HARD_TIMEOUT]]);
    br.tables.apply(parseFlow('ip', { command: 'delete' }), t0 + 3000);
    await Promise.resolve();
    expect(got.map((e) => [e.entry.priority, e.reason])).toEqual([[7, OFPRR_HARD_TIMEOUT], [5, OFPRR_DELETE]]);
  });
});
