// lock / steal / unlock with "locked" and "stolen" notifications, the "assert" op, locks freed
// when a connection closes, and "cancel" of a parked transaction; against an in-process server.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RpcError } from '../../../src/lib/jsonrpc.js';
import { TransactError } from '../../../src/ovsdb/client.js';
import { Harness } from './server-harness.js';
import { until } from './helpers.js';

const DB = 'Open_vSwitch';
const bump = { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] };

describe('locks', () => {
  let h: Harness;
  beforeEach(async () => {
    h = new Harness({ fsync: false });
    await h.start();
  });
  afterEach(() => h.dispose());

  it('grants, queues, hands over on unlock and on disconnect, with notifications', async () => {
    const [a, b, c] = [await h.client(), await h.client(), await h.client()];
    const events: string[] = [];
    a.onLock((e, n) => events.push(`a ${e} ${n}`));
    b.onLock((e, n) => events.push(`b ${e} ${n}`));
    c.onLock((e, n) => events.push(`c ${e} ${n}`));
    expect(await a.lock('L')).toBe(true);
    expect(await b.lock('L')).toBe(false);
    expect(await c.lock('L')).toBe(false);
    await a.unlock('L');
    await until(() => events.includes('b locked L'));
    b.close(); // the next in line gets it when the owner goes away
    await until(() => events.includes('c locked L'));
    expect(events).toEqual(['b locked L', 'c locked L']);
    await expect(c.lock('L')).rejects.toMatchObject({ error: { error: 'duplicate lock' } });
    await expect(a.unlock('nope')).rejects.toBeInstanceOf(RpcError);
  });

  it('steal takes the lock at once, the victim is told and gets it back on unlock', async () => {
    const [a, b] = [await h.client(), await h.client()];
    const events: string[] = [];
    a.onLock((e, n) => events.push(`a ${e} ${n}`));
    expect(await a.lock('L')).toBe(true);
    await b.steal('L');
    await until(() => events.includes('a stolen L'));
    await b.unlock('L');
    await until(() => events.includes('a locked L'));
  });

  it('assert succeeds only for the owner of the lock, and fails the whole transaction otherwise', async () => {
    const [a, b] = [await h.client(), await h.client()];
    await a.lock('writer');
    const ok = await a.transact(DB, [{ op: 'assert', lock: 'writer' }, bump]);
    expect(ok).toEqual([{}, { count: 1 }]);
    const err = await b.transact(DB, [{ op: 'assert', lock: 'writer' }, bump]).catch((e) => e);
    expect(err).toBeInstanceOf(TransactError);
    expect(err.results).toEqual([{ error: 'not owner', details: expect.any(String) }, null]);
    const rows = await b.transact(DB, [{ op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] }]);
    expect(rows[0].rows[0].next_cfg).toBe(1);
  });

  it('cancel ends a parked wait with the error "canceled" and it never commits', async () => {
    const raw = await h.raw();
    const wait = {
      op: 'wait', table: 'Open_vSwitch', where: [], columns: ['next_cfg'], until: '==', rows: [{ next_cfg: 5 }], timeout: 60000,
    };
    const p = raw.request('transact', [DB, wait, bump]);
    const c = await h.client();
    await until(() => h.server!.service.stats().blocked === 1);
    raw.notify('cancel', [1]);
    const err = await p.catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).error).toBe('canceled');
    expect(h.server!.service.stats().blocked).toBe(0);
    const rows = await c.transact(DB, [{ op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] }]);
    expect(rows[0].rows[0].next_cfg).toBe(0);
  });
});
