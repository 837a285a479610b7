// What runs after a poll callback of the native addon (vswitch_io.c on_poll): Node's nextTick
// queue and promise jobs, unless the callback returns false (a forwarding-only wakeup that
// queued neither); then they wait for the next callback scope instead of being lost. Two FIFOs
// made readable together stand in for two taps (no root needed): libuv calls both callbacks in
// one poll phase, and the second one sees whether the first one's queued work already ran.
import { execFileSync } from 'node:child_process';
import { constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../../src/datapath/native.js';

describe('poll callbacks and Node\'s queues', () => {
  const io = loadNative();
  let dir = '';
  const fds: number[] = [];
  const handles: number[] = [];
  let ret: boolean | undefined;
  let first = -1;
  const log: string[] = [];
  let done: ((seen: string[]) => void) | null = null;
  const scratch = Buffer.alloc(64);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vswitch-pollcb-'));
    for (let i = 0; i < 2; i++) {
      const fifo = join(dir, `fifo${i}`);
      execFileSync('mkfifo', [fifo]);
      const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
      fds.push(fd);
      handles.push(io.pollStart(fd, () => {
        try {
          readSync(fd, scratch, 0, scratch.length, null);
        } catch {
          // EAGAIN: already drained
        }
        if (first < 0) {
          first = i;
          process.nextTick(() => log.push('tick'));
          queueMicrotask(() => log.push('microtask'));
          return ret;
        }
        done?.([...log]);
        return undefined;
      }));
    }
  });

  afterAll(() => {
    for (const h of handles) io.pollStop(h);
    for (const fd of fds) io.fdClose(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Makes both FIFOs readable at once; resolves with what the second callback saw. */
  function wake(r: boolean | undefined): Promise<string[]> {
    log.length = 0;
    first = -1;
    ret = r;
    return new Promise((resolve) => {
      done = resolve;
      writeSync(fds[0], 'x');
      writeSync(fds[1], 'x');
    });
  }

  it('runs them right after a callback that returns nothing or true', async () => {
    expect(await wake(undefined)).toEqual(['tick', 'microtask']);
    expect(await wake(true)).toEqual(['tick', 'microtask']);
  });

  it('leaves them for the next callback scope after one that returns false, without losing them', async () => {
    expect(await wake(false)).toEqual([]);
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toEqual(['tick', 'microtask']);
  });
});
