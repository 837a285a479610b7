// The stream netdev over a real Unix socket in a temporary directory (no root): a net.Socket
// plays QEMU's `-netdev stream` client. Frames split across reads and several per read come
// out whole; more than a batch waits in the ring; impossible lengths reset the connection;
// the peer can go and come back; a second peer is refused; a slow peer costs counted drops,
// never an unbounded queue; the socket file is created 0660, re-created and removed.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BATCH_MAX, PacketBatch, RX_HEADROOM, SLOT_SIZE, VNET_WORDS } from '../../../src/datapath/batch.js';
import { loadNative } from '../../../src/datapath/native.js';
import { NetdevOpenError, openNetdev } from '../../../src/datapath/netdev.js';
import { STREAM_TX_PENDING_BYTES, StreamNetdev } from '../../../src/datapath/netdev-stream.js';
import { resolveGroup } from '../../../src/lib/stream-options.js';

/** A frame of `len` bytes whose bytes say `seq` (first 4) and a pattern from it. */
function frame(seq: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  new DataView(f.buffer).setUint32(0, seq);
  for (let i = 4; i < len; i++) f[i] = (seq * 7 + i) & 0xff;
  return f;
}
function seqOf(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset).getUint32(0);
}
/** What a QEMU stream netdev sends for `frames`: each behind its 4-byte big-endian length. */
function wire(frames: Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of frames) {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(f.length);
    parts.push(h, Buffer.from(f));
  }
  return Buffer.concat(parts);
}
/** Splits a stream of length-prefixed frames as QEMU does (throws on a bad length). */
class Deframer {
  frames: Uint8Array[] = [];
  private acc = Buffer.alloc(0);
  push(d: Buffer): void {
    this.acc = Buffer.concat([this.acc, d]);
    while (this.acc.length >= 4) {
      const len = this.acc.readUInt32BE(0);
      if (len < 14 || len > 65536) throw new Error(`bad length ${len}`);
      if (this.acc.length < 4 + len) break;
      this.frames.push(new Uint8Array(this.acc.subarray(4, 4 + len)));
      this.acc = this.acc.subarray(4 + len);
    }
  }
  get partial(): number { return this.acc.length; }
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function connect(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path, () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends frames i<count of `frames` through txBurst from a batch. */
function tx(dev: StreamNetdev, batch: PacketBatch, frames: Uint8Array[]): number {
  batch.count = 0;
  for (const f of frames) expect(batch.push(f)).toBe(true);
  return dev.txBurst(batch.buf, batch.offs, batch.lens, batch.count, batch.vnetBytes);
}

describe('stream netdev', () => {
  let dir = '';
  let dev: StreamNetdev | null = null;
  const clients: net.Socket[] = [];
  const batch = new PacketBatch();
  let got: Uint8Array[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vswitch-stream-'));
    got = [];
  });
  afterEach(() => {
    for (const c of clients) c.destroy();
    clients.length = 0;
    dev?.close();
    dev = null;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Opens the port at dir/name.sock and collects what it receives into `got`. */
  function open(name = 'vmS'): StreamNetdev {
    const d = openNetdev(name, 'stream', { path: join(dir, `${name}.sock`) }) as StreamNetdev;
    dev = d;
    d.start(() => {
      const n = d.rxBurst(batch);
      for (let i = 0; i < n; i++) {
        expect(batch.offs[i]).toBe(i * SLOT_SIZE + RX_HEADROOM);
        for (let w = 0; w < VNET_WORDS; w++) expect(batch.vnet[i * VNET_WORDS + w]).toBe(0);
        got.push(batch.copyFrame(i));
      }
    });
    return d;
  }
  async function client(d: StreamNetdev): Promise<net.Socket> {
    const c = await connect(d.path);
    clients.push(c);
    return c;
  }

  it('listens on options:path with mode 0660, reports link down until a peer connects, and removes the file on close', async () => {
    const d = open();
    expect(statSync(d.path).isSocket()).toBe(true);
    expect(statSync(d.path).mode & 0o777).toBe(0o660);
    expect(d.type).toBe('stream');
    expect(d.offloads).toBe(0);
    expect(d.linkState()).toBe('down');
    expect(d.error()).toBe('');
    await client(d);
    await until(() => d.linkState() === 'up', 'link up');
    expect(d.dropCounters().connects).toBe(1);
    d.close();
    expect(existsSync(d.path)).toBe(false);
    expect(d.linkState()).toBe('down');
  });

  it('refuses bad paths with messages that name the port and the fix', () => {
    const fail = (path: string | undefined): string => {
      try {
        openNetdev('vmS', 'stream', path === undefined ? {} : { path }).close();
      } catch (e) {
        expect(e).toBeInstanceOf(NetdevOpenError);
        expect((e as NetdevOpenError).code).toBe('NETDEV_OPEN');
        return (e as Error).message;
      }
      throw new Error(`opened ${path}`);
    };
    expect(fail(undefined)).toMatch(/^stream port vmS: options:path is required/);
    expect(fail('vm.sock')).toBe("stream port vmS: options:path must be an absolute path, not 'vm.sock'");
    expect(fail(`/${'x'.repeat(120)}`)).toMatch(/options:path is 121 bytes long; a Unix socket path may have at most 107/);
    expect(fail(join(dir, 'nodir', 'a.sock'))).toBe(`stream port vmS: cannot listen on ${join(dir, 'nodir', 'a.sock')}: directory ${join(dir, 'nodir')} does not exist`);
    writeFileSync(join(dir, 'file'), 'x');
    expect(fail(join(dir, 'file'))).toMatch(/cannot listen on .*file: a file that is not a socket is in the way$/);
  });

  it('gives the socket file options:mode and options:group, and refuses bad ones', () => {
    const gid = process.getgid!();
    const d = openNetdev('vmG', 'stream', { path: join(dir, 'g.sock'), mode: '0606', group: String(gid) }) as StreamNetdev;
    try {
      expect(statSync(d.path).mode & 0o777).toBe(0o606);
      expect(statSync(d.path).gid).toBe(gid);
    } finally {
      d.close();
    }
    expect(() => openNetdev('vmG', 'stream', { path: join(dir, 'h.sock'), mode: '999' })).toThrow(
      "stream port vmG: options:mode must be octal permission bits such as 0660, not '999'");
    expect(() => openNetdev('vmG', 'stream', { path: 'x.sock', group: 'no such' })).toThrow(
      "stream port vmG: options:path must be an absolute path, not 'x.sock'; options:group 'no such' is not a group name or number");
    expect(() => openNetdev('vmG', 'stream', { path: join(dir, 'h.sock'), group: 'nogroup-vswitch-test' })).toThrow(
      "stream port vmG: options:group: no group named 'nogroup-vswitch-test'");
    expect(existsSync(join(dir, 'h.sock'))).toBe(false);
  });

  it('resolves a group by name from the group file, or takes a number', () => {
    const f = join(dir, 'group');
    writeFileSync(f, 'root:x:0:\nkvm:x:994:alice\nbroken\n');
    expect(resolveGroup('kvm', f)).toBe(994);
    expect(resolveGroup('root', f)).toBe(0);
    expect(resolveGroup('1234', f)).toBe(1234);
    expect(resolveGroup('libvirt', f)).toBe(-1);
    expect(resolveGroup('kvm', join(dir, 'missing'))).toBe(-1);
  });

  it('refuses a path a live process listens on, and replaces a socket file a dead one left', async () => {
    const live = join(dir, 'live.sock');
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(live, r));
    try {
      expect(() => openNetdev('vmS', 'stream', { path: live })).toThrow(/cannot listen on .*live\.sock: another process is listening there/);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
    // A listener that went away without removing its file (as after a crash).
    const stale = join(dir, 'stale.sock');
    const io = loadNative();
    io.fdClose(io.unixListen(stale, 0o600)); // closes the socket, keeps the file
    expect(statSync(stale).isSocket()).toBe(true);
    dev = openNetdev('vmS', 'stream', { path: stale }) as StreamNetdev;
    await client(dev);
    await until(() => dev!.linkState() === 'up', 'link up');
  });

  it('reassembles frames split across reads and splits several per read', async () => {
    const d = open();
    const c = await client(d);
    const frames = [frame(1, 60), frame(2, 1514), frame(3, 14), frame(4, 9000), frame(5, 65535)];
    const bytes = wire(frames);
    // One byte at a time for the first frames, then the rest in uneven chunks.
    for (let i = 0; i < 70; i++) {
      c.write(bytes.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
    }
    for (let i = 70; i < bytes.length; i += 777) {
      c.write(bytes.subarray(i, Math.min(i + 777, bytes.length)));
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await until(() => got.length === frames.length, 'all frames');
    expect(got).toEqual(frames);
    // Many frames in one write.
    const many = Array.from({ length: 10 }, (_, i) => frame(100 + i, 64 + i));
    c.write(wire(many));
    await until(() => got.length === frames.length + many.length, 'the burst');
    expect(got.slice(frames.length)).toEqual(many);
    expect(d.stats.rxPackets).toBe(15);
    expect(d.stats.rxBytes).toBe([...frames, ...many].reduce((n, f) => n + f.length, 0));
  });

  it('delivers more than a batch from one read over several bursts', async () => {
    const d = open();
    const c = await client(d);
    const frames = Array.from({ length: BATCH_MAX * 5 + 3 }, (_, i) => frame(i, 60));
    c.write(wire(frames));
    await until(() => got.length === frames.length, 'every frame');
    expect(got.map(seqOf)).toEqual(frames.map((_, i) => i));
    expect(d.dropCounters().rx_bad_frame).toBe(0);
  });

  it('resets the connection on a length below 14 or above a slot, and takes the next peer', async () => {
    const d = open();
    for (const bad of [0, 13, SLOT_SIZE - RX_HEADROOM + 1, 0xffffffff]) {
      const c = await client(d);
      const closed = new Promise((r) => c.once('close', r));
      const h = Buffer.alloc(4);
      h.writeUInt32BE(bad >>> 0);
      c.write(Buffer.concat([wire([frame(1)]), h, Buffer.alloc(20)]));
      await closed;
      await until(() => d.linkState() === 'down', 'link down');
    }
    expect(d.dropCounters().rx_bad_frame).toBe(4);
    expect(d.stats.rxErrors).toBe(4);
    expect(got.length).toBe(4); // the good frame before each bad length got through
    const c = await client(d);
    c.write(wire([frame(9)]));
    await until(() => got.length === 5, 'a frame from the next peer');
    expect(d.dropCounters()).toMatchObject({ connects: 5, disconnects: 4 });
  });

  it('goes down when the peer leaves, counts a truncated frame, and comes back up for the next peer', async () => {
    const d = open();
    const c1 = await client(d);
    const w = wire([frame(1), frame(2)]);
    c1.end(w.subarray(0, w.length - 10)); // the second frame is cut short
    await until(() => d.linkState() === 'down', 'link down');
    expect(got.map(seqOf)).toEqual([1]);
    expect(d.dropCounters()).toMatchObject({ rx_truncated: 1, disconnects: 1 });
    expect(tx(d, batch, [frame(3)])).toBe(0);
    expect(d.dropCounters().tx_link_down).toBe(1);

    const c2 = await client(d);
    const rx = new Deframer();
    c2.on('data', (b: Buffer) => rx.push(b));
    await until(() => d.linkState() === 'up', 'link up again');
    c2.write(wire([frame(4)]));
    await until(() => got.length === 2, 'a frame from the new peer');
    expect(seqOf(got[1]!)).toBe(4);
    expect(tx(d, batch, [frame(5, 100), frame(6, 1514)])).toBe(2);
    await until(() => rx.frames.length === 2, 'frames at the new peer');
    expect(rx.frames).toEqual([frame(5, 100), frame(6, 1514)]);
  });

  it('refuses a second peer while the first is alive', async () => {
    const d = open();
    const c1 = await client(d);
    await until(() => d.linkState() === 'up', 'link up');
    const c2 = await client(d);
    await new Promise((r) => c2.once('close', r));
    expect(d.dropCounters().connects_refused).toBe(1);
    c1.write(wire([frame(7)]));
    await until(() => got.length === 1, 'the first peer still works');
  });

  it('sends each frame behind its length, one burst at a time', async () => {
    const d = open();
    const c = await client(d);
    const rx = new Deframer();
    c.on('data', (b: Buffer) => rx.push(b));
    await until(() => d.linkState() === 'up', 'link up');
    const frames = Array.from({ length: BATCH_MAX }, (_, i) => frame(i, 14 + i * 37));
    expect(tx(d, batch, frames)).toBe(BATCH_MAX);
    await until(() => rx.frames.length === BATCH_MAX, 'all frames');
    expect(rx.frames).toEqual(frames);
    expect(d.stats.txPackets).toBe(BATCH_MAX);
    expect(d.stats.txBytes).toBe(frames.reduce((n, f) => n + f.length, 0));
    // A runt is refused, counted, and the stream stays in step.
    batch.count = 0;
    batch.push(frame(50, 60));
    batch.lens[0] = 10;
    batch.push(frame(51, 60));
    expect(d.txBurst(batch.buf, batch.offs, batch.lens, 2, batch.vnetBytes)).toBe(1);
    expect(d.dropCounters().tx_bad_frame).toBe(1);
    await until(() => rx.frames.length === BATCH_MAX + 1, 'the good frame');
    expect(seqOf(rx.frames[BATCH_MAX]!)).toBe(51);
  });

  it('drops and counts frames a slow peer cannot take, and delivers every accepted frame whole and in order', async () => {
    const d = open();
    const c = await client(d);
    await until(() => d.linkState() === 'up', 'link up');
    c.pause(); // the peer stops reading
    let seq = 0;
    let accepted = 0;
    let offered = 0;
    for (let b = 0; b < 200; b++) {
      const frames = Array.from({ length: BATCH_MAX }, () => frame(seq++, 1514));
      offered += frames.length;
      accepted += tx(d, batch, frames);
    }
    const drops = d.dropCounters().tx_queue_full;
    expect(drops).toBeGreaterThan(0);
    expect(accepted + drops).toBe(offered);
    expect(d.stats.txDropped).toBe(drops);
    expect(d.pendingBytes).toBeGreaterThan(0);
    expect(d.pendingBytes).toBeLessThanOrEqual(STREAM_TX_PENDING_BYTES);
    const rx = new Deframer();
    c.on('data', (b: Buffer) => rx.push(b));
    c.resume();
    await until(() => rx.frames.length === accepted, `${accepted} frames (have ${rx.frames.length})`, 10_000);
    await until(() => d.pendingBytes === 0, 'the queue to drain');
    expect(rx.partial).toBe(0);
    let last = -1;
    for (const f of rx.frames) {
      const s = seqOf(f);
      expect(s).toBeGreaterThan(last);
      expect(f).toEqual(frame(s, 1514));
      last = s;
    }
    // Nothing left over: the next frame arrives right after.
    expect(tx(d, batch, [frame(seq, 60)])).toBe(1);
    await until(() => rx.frames.length === accepted + 1, 'one more frame');
  });

  it('re-creates the socket file if it is removed, so a VM started later can connect', async () => {
    const d = open();
    unlinkSync(d.path);
    d.check();
    expect(statSync(d.path).isSocket()).toBe(true);
    await client(d);
    await until(() => d.linkState() === 'up', 'link up');
    // A directory that went away: reported, and listening resumes when it is back.
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    const d2 = openNetdev('vmT', 'stream', { path: join(sub, 't.sock') }) as StreamNetdev;
    try {
      rmSync(sub, { recursive: true });
      d2.check();
      expect(d2.error()).toMatch(/^stream port vmT: cannot listen on .*t\.sock: directory .*sub does not exist$/);
      mkdirSync(sub);
      d2.check();
      expect(d2.error()).toBe('');
      expect(statSync(join(sub, 't.sock')).isSocket()).toBe(true);
    } finally {
      d2.close();
    }
  });
});
