import { describe, expect, it } from 'vitest';
import { KEY_WORDS } from '../../../src/lib/flow-key.js';
import { warmUpUpcalls } from '../../../src/vswitchd/warmup.js';

describe('upcall path warm-up', () => {
  it('translates every synthetic miss and answers each with a PUT_EXECUTE', async () => {
    const r = await warmUpUpcalls(300);
    expect(r.upcalls).toBe(300);
    // Each answer carries at least a key and a mask (flows are installed: far below the limit).
    expect(r.bytesOut).toBeGreaterThan(300 * 2 * KEY_WORDS * 4);
  });

  it('can run again (private objects each time) and handles a count that is not a whole chunk', async () => {
    const a = await warmUpUpcalls(70);
    const b = await warmUpUpcalls(70);
    expect(a.upcalls).toBe(70);
    expect(b).toEqual(a); // deterministic frames, fresh state: the same answers
  });
});
