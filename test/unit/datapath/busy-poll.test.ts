// Busy polling of the native addon (vswitch_io.c pollSetBusy): once wakeups of a busy poll come
// close together, the event loop keeps polling without sleeping for the window after each,
// then sleeps again. Observed through the event loop's utilization (libuv counts time blocked
// in epoll as idle, and a zero-timeout poll as not idle), so CPU contention from other tests
// does not change the outcome. A FIFO stands in for a tap: no root needed.
import { execFileSync } from 'node:child_process';
import { constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNativeBusy } from '../../../src/datapath/native.js';
import { DEFAULT_BUSY_POLL_US, defaultBusyPollUs } from '../../../src/datapath/netdev-tap.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('busy polling (pollSetBusy)', () => {
  const io = loadNativeBusy();
  let dir = '';
  let fd = -1;
  let handle = 0;
  let wakeups = 0;
  let onWake: (() => void) | null = null;
  const scratch = Buffer.alloc(64);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vswitch-busy-'));
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    handle = io.pollStart(fd, () => {
      wakeups++;
      try {
        readSync(fd, scratch, 0, scratch.length, null);
      } catch {
        // EAGAIN: already drained
      }
      const w = onWake;
      onWake = null;
      w?.();
    });
  });

  afterAll(() => {
    if (fd >= 0) io.fdClose(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Makes the fd readable and resolves once its callback has drained it. */
  function kick(): Promise<void> {
    return new Promise((resolve) => {
      onWake = resolve;
      writeSync(fd, 'x');
    });
  }

  /** Event loop utilization over the next `ms` milliseconds (1: never slept). */
  async function utilization(ms: number): Promise<number> {
    const start = performance.eventLoopUtilization();
    await sleep(ms);
    return performance.eventLoopUtilization(start).utilization;
  }

  it('without it the loop sleeps between wakeups', async () => {
    await kick();
    expect(await utilization(40)).toBeLessThan(0.5);
  });

  it('a lone wakeup does not spin; wakeups close together keep the loop polling for the window', async () => {
    io.pollSetBusy(handle, 50000); // window 50 ms; 3 wakeups within 200 ms arm it
    await sleep(250);
    const before = wakeups;
    await kick();
    expect(await utilization(30)).toBeLessThan(0.5); // one wakeup: it slept
    await sleep(250);
    await kick();
    await kick();
    await kick();
    expect(wakeups).toBe(before + 4);
    expect(await utilization(15)).toBeGreaterThan(0.8); // the timer fired while it spun
    await sleep(150); // past the window: no traffic came, so it stopped
    expect(await utilization(60)).toBeLessThan(0.5);
    // Traffic is still delivered through the callback.
    await kick();
    expect(wakeups).toBe(before + 5);
  });

  it('0 turns it off again', async () => {
    io.pollSetBusy(handle, 0);
    await sleep(150);
    await kick();
    expect(await utilization(40)).toBeLessThan(0.5);
  });

  it('throws EINVAL for a window out of range, ignores unknown handles', () => {
    for (const us of [-1, 100001, 1.5]) {
      let err: unknown;
      try {
        io.pollSetBusy(handle, us);
      } catch (e) {
        err = e;
      }
      expect((err as { code?: string }).code).toBe('EINVAL');
    }
    expect(() => io.pollSetBusy(987654, 50)).not.toThrow();
  });

  it('does not keep the process alive', () => {
    // A child that busy-polls a FIFO and then stops its poll must exit at once.
    const script = `
      const io = require(${JSON.stringify(join(process.cwd(), 'build', 'Release', 'vswitch_io.node'))});
      const fs = require('node:fs');
      const f = ${JSON.stringify(join(dir, 'fifo'))};
      const fd = fs.openSync(f, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
      let n = 0;
      const h = io.pollStart(fd, () => {
        fs.readSync(fd, Buffer.alloc(8));
        if (++n < 3) setTimeout(() => fs.writeSync(fd, 'y'), 1); // three wakeups: it spins
        else io.pollStop(h);
      });
      io.pollSetBusy(h, 100000);
      fs.writeSync(fd, 'y');`;
    const t0 = Date.now();
    execFileSync(process.execPath, ['-e', script], { timeout: 20000 });
    expect(Date.now() - t0).toBeLessThan(10000);
  });
});

describe('tap ports: busy-poll window', () => {
  it('is DEFAULT_BUSY_POLL_US unless VSWITCH_BUSY_POLL_US is an integer in 0..100000', () => {
    expect(DEFAULT_BUSY_POLL_US).toBe(50);
    expect(defaultBusyPollUs({})).toBe(DEFAULT_BUSY_POLL_US);
    expect(defaultBusyPollUs({ VSWITCH_BUSY_POLL_US: '0' })).toBe(0);
    expect(defaultBusyPollUs({ VSWITCH_BUSY_POLL_US: '200' })).toBe(200);
    for (const bad of ['', ' ', '-1', '100001', '1.5', 'fast']) expect(defaultBusyPollUs({ VSWITCH_BUSY_POLL_US: bad })).toBe(DEFAULT_BUSY_POLL_US);
  });
});
