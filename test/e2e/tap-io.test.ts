// Tap I/O through the native addon and the tap netdev, against a real kernel: a tap is created,
// moved into a fresh network namespace with an address, and frames go both ways.
import { constants } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_MAX, PacketBatch, SLOT_SIZE } from '../../src/datapath/batch.js';
import { loadNative, TX_STATS_SLOTS, TXS_BYTES, TXS_DOWN, TXS_INVAL, type NativeError, type VswitchIo } from '../../src/datapath/native.js';
import { NetdevOpenError, openNetdev, type Netdev } from '../../src/datapath/netdev.js';
import { nsExec, requireRoot, run, sh, trySh, uniqueName } from './helpers.js';

const root = requireRoot('tap I/O tests');

const OUR_MAC = [0x02, 0x5e, 0x00, 0x00, 0x00, 0x02];
const macStr = (m: ArrayLike<number>) => Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');

/** An ARP request (42 bytes) from OUR_MAC/srcIp asking for dstIp. */
function arpRequest(srcIp: number[], dstIp: number[]): Uint8Array {
  const f = new Uint8Array(42);
  f.fill(0xff, 0, 6);
  f.set(OUR_MAC, 6);
  f.set([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01], 12);
  f.set(OUR_MAC, 22);
  f.set(srcIp, 28);
  f.set(dstIp, 38);
  return f;
}

interface Arp {
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

function parseArp(buf: Uint8Array, off: number, len: number): Arp | null {
  if (len < 42 || buf[off + 12] !== 0x08 || buf[off + 13] !== 0x06) return null;
  const ip = (o: number) => Array.from(buf.subarray(off + o, off + o + 4)).join('.');
  return {
    op: (buf[off + 20] << 8) | buf[off + 21],
    senderMac: macStr(buf.subarray(off + 22, off + 28)),
    senderIp: ip(28),
    targetMac: macStr(buf.subarray(off + 32, off + 38)),
    targetIp: ip(38),
  };
}

/** Resolves when fd is readable (stopping the poll from inside its own callback). */
function waitReadable(io: VswitchIo, fd: number, ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      io.pollStop(handle);
      reject(new Error(`fd ${fd} not readable within ${ms} ms`));
    }, ms);
    const handle = io.pollStart(fd, () => {
      io.pollStop(handle);
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Link names in namespace ns. */
function nsLinks(ns: string): string[] {
  return nsExec(ns, 'ip -o link show').split('\n').filter(Boolean).map((l) => l.split(': ')[1].split('@')[0]);
}

/** Moves device dev into ns, disables IPv6 on it (no stray frames), gives it addr and brings it up. */
function plumb(ns: string, dev: string, addr: string): void {
  sh(`ip link set ${dev} netns ${ns}`);
  nsExec(ns, `sysctl -qw net.ipv6.conf.${dev}.disable_ipv6=1 && ip addr add ${addr} dev ${dev} && ip link set ${dev} up`);
}

describe.skipIf(!root)('tap I/O through the native addon', () => {
  const ns = uniqueName('vswns');
  const tap = uniqueName('vswt');
  let io: VswitchIo;
  let fd = -1;

  beforeAll(() => {
    io = loadNative();
    sh(`ip netns add ${ns}`);
    nsExec(ns, 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1');
    fd = io.tapOpen(tap, false, true);
    plumb(ns, tap, '10.77.0.1/24');
  });

  afterAll(() => {
    if (fd >= 0) {
      try {
        io.fdClose(fd);
      } catch {
        // already closed by a test
      }
    }
    trySh(`ip netns del ${ns}`);
  });

  it('rejects a second exclusive open of the same name with EBUSY', () => {
    const other = uniqueName('vswx');
    const fd2 = io.tapOpen(other, false, true);
    try {
      expect(() => io.tapOpen(other, false, true)).toThrow(expect.objectContaining({ code: 'EBUSY', syscall: 'TUNSETIFF' }));
      expect(io.ifIndex(other)).toBeGreaterThan(0);
    } finally {
      io.fdClose(fd2);
    }
    expect(io.ifIndex(other)).toBe(-1);
  });

  it('throws EINVAL for bad arguments', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as NativeError).code;
      }
      return 'no error';
    };
    expect(err(() => io.tapOpen('0123456789abcdef', false))).toBe('EINVAL');
    expect(err(() => io.recvBurst(fd, new Uint8Array(10), 2048, 1, new Int32Array(1)))).toBe('EINVAL');
    expect(err(() => io.sendBurst(fd, new Uint8Array(10), new Int32Array(1), new Int32Array(1), 2))).toBe('EINVAL');
    expect(err(() => io.linkSetMac(tap, '02:00:00:00:00'))).toBe('EINVAL');
    expect(err(() => io.linkGetMac('nosuchdev0'))).toBe('ENODEV');
    expect(io.ifIndex('nosuchdev0')).toBe(-1);
  });

  it('frames written by the addon reach the namespace, and its ARP reply is read back', async () => {
    const req = arpRequest([10, 77, 0, 2], [10, 77, 0, 1]);
    const b = new PacketBatch();
    b.push(req);
    const txs = new Float64Array(TX_STATS_SLOTS);
    expect(io.sendBurst(fd, b.buf, b.offs, b.lens, b.count, txs)).toBe(1);
    expect(io.lastSendErrno()).toBe(0);
    expect(txs[TXS_BYTES]).toBe(42);

    // The namespace's kernel learned us from the request...
    expect(nsExec(ns, 'ip neigh show 10.77.0.2')).toContain(`lladdr ${macStr(OUR_MAC)}`);
    // ...and answered it.
    await waitReadable(io, fd);
    const n = io.recvBurst(fd, b.buf, SLOT_SIZE, BATCH_MAX, b.lens);
    expect(n).toBe(1);
    const nsMac = nsExec(ns, `cat /sys/class/net/${tap}/address`).trim();
    expect(parseArp(b.buf, 0, b.lens[0])).toEqual({
      op: 2,
      senderMac: nsMac,
      senderIp: '10.77.0.1',
      targetMac: macStr(OUR_MAC),
      targetIp: '10.77.0.2',
    });
    expect(io.recvBurst(fd, b.buf, SLOT_SIZE, BATCH_MAX, b.lens)).toBe(0); // EAGAIN: nothing more
  });

  it('reads frames sent from the namespace in bursts of up to maxFrames', async () => {
    // 40 datagrams to 40 unresolved neighbours: the kernel emits one ARP request for each.
    run('ip', ['netns', 'exec', ns, 'bash', '-c', 'for i in $(seq 10 49); do echo x > /dev/udp/10.77.0.$i/9; done'], 10_000);
    await waitReadable(io, fd);
    const b = new PacketBatch();
    const bursts: number[] = [];
    const targets = new Set<string>();
    const deadline = Date.now() + 3000;
    while (targets.size < 40 && Date.now() < deadline) {
      const n = io.recvBurst(fd, b.buf, SLOT_SIZE, BATCH_MAX, b.lens);
      expect(n).toBeGreaterThanOrEqual(0);
      if (n === 0) {
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      bursts.push(n);
      for (let i = 0; i < n; i++) {
        const arp = parseArp(b.buf, i * SLOT_SIZE, b.lens[i]); // recvBurst: frame i at the slot start
        if (arp && arp.op === 1 && arp.senderIp === '10.77.0.1') targets.add(arp.targetIp);
      }
    }
    expect(targets.size).toBe(40);
    expect(targets.has('10.77.0.10') && targets.has('10.77.0.49')).toBe(true);
    expect(bursts[0]).toBe(BATCH_MAX);
    expect(bursts.every((n) => n <= BATCH_MAX)).toBe(true);
  });

  it('counts refused frames by reason: runts as EINVAL, a down link as EIO', () => {
    const b = new PacketBatch();
    b.push(arpRequest([10, 77, 0, 3], [10, 77, 0, 1]));
    b.push(Uint8Array.of(1, 2, 3, 4, 5)); // shorter than an Ethernet header
    b.push(arpRequest([10, 77, 0, 4], [10, 77, 0, 1]));
    const txs = new Float64Array(TX_STATS_SLOTS);
    expect(io.sendBurst(fd, b.buf, b.offs, b.lens, 3, txs)).toBe(2);
    expect(io.lastSendErrno()).toBe(constants.errno.EINVAL);
    expect(txs[TXS_INVAL]).toBe(1);
    expect(txs[TXS_BYTES]).toBe(84);

    nsExec(ns, `ip link set ${tap} down`);
    try {
      expect(io.sendBurst(fd, b.buf, b.offs, b.lens, 3, txs)).toBe(0);
      expect(io.lastSendErrno()).toBe(constants.errno.EIO);
      expect(txs[TXS_DOWN]).toBe(2);
      expect(txs[TXS_INVAL]).toBe(2);
    } finally {
      nsExec(ns, `ip link set ${tap} up`);
    }
    // A frame whose offset/length fall outside buf is refused without a syscall.
    expect(io.sendBurst(fd, b.buf, Int32Array.of(b.buf.length - 10), Int32Array.of(42), 1, txs)).toBe(0);
    expect(txs[TXS_INVAL]).toBe(3);
  });

  it('closing the fd removes the device, even inside another namespace; pollStop twice is safe', () => {
    expect(nsLinks(ns)).toContain(tap);
    const h = io.pollStart(fd, () => {});
    io.fdClose(fd); // also stops the poll on it
    fd = -1;
    io.pollStop(h);
    io.pollStop(h);
    expect(nsLinks(ns)).not.toContain(tap);
  });
});

describe.skipIf(!root)('tap netdev (openNetdev tap/internal)', () => {
  const ns = uniqueName('vswns');
  const opened: Netdev[] = [];

  beforeAll(() => {
    sh(`ip netns add ${ns}`);
    nsExec(ns, 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1');
  });

  afterAll(() => {
    for (const d of opened) d.close();
    trySh(`ip netns del ${ns}`);
  });

  function open(...args: Parameters<typeof openNetdev>): Netdev {
    const d = openNetdev(...args);
    opened.push(d);
    return d;
  }

  const isUp = (dev: string) => /<[^>]*\bUP\b[^>]*>/.test(sh(`ip -o link show ${dev}`));

  it('creates tap ports admin-up and internal ports admin-down, with the requested mac', () => {
    const t = open(uniqueName('vswt'), 'tap');
    const i = open(uniqueName('vswbr'), 'internal', { mac: '02:5e:00:00:00:aa' });
    expect(isUp(t.name)).toBe(true);
    expect(isUp(i.name)).toBe(false);
    expect(i.mac()).toBe('02:5e:00:00:00:aa');
    expect(t.mac()).toBe(sh(`cat /sys/class/net/${t.name}/address`).trim());
  });

  it('refuses a name that is already a device, saying so', () => {
    const t = open(uniqueName('vswt'), 'tap');
    for (const name of [t.name, 'lo']) {
      try {
        open(name, 'tap');
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(NetdevOpenError);
        expect((err as NetdevOpenError).code).toBe('NETDEV_OPEN');
        expect((err as Error).message).toBe(`port '${name}': cannot create tap device: a device named ${name} already exists`);
      }
    }
    expect(sh('ip -o link show lo')).toContain('lo');
  });

  it('moves frames both ways with rx/tx stats, wakes start() callbacks, and close removes it', async () => {
    const t = open(uniqueName('vswt'), 'tap');
    plumb(ns, t.name, '10.78.0.1/24');
    const b = new PacketBatch();
    // While the tap was up in this namespace (IPv6 on) before the move, the kernel may have
    // queued a frame or two on it (router solicitation, MLD): read those first.
    while (t.rxBurst(b) > 0) { /* stale frames from before the move */ }
    const rx0 = t.stats.rxPackets;
    const bytes0 = t.stats.rxBytes;
    let got = 0;
    const woke = new Promise<number>((resolve) => t.start(() => {
      if (got > 0) return; // keep the batch as it was for the checks below
      got = t.rxBurst(b);
      if (got > 0) resolve(got);
    }));
    b.count = 0;
    b.push(arpRequest([10, 78, 0, 2], [10, 78, 0, 1]));
    expect(t.txBurst(b.buf, b.offs, b.lens, b.count, new Uint8Array(BATCH_MAX * 10))).toBe(1);
    expect(t.stats.txPackets).toBe(1);
    expect(t.stats.txBytes).toBe(42);
    expect(await woke).toBeGreaterThanOrEqual(1);
    const ops: (number | undefined)[] = [];
    let bytes = 0;
    for (let i = 0; i < b.count; i++) {
      ops.push(parseArp(b.buf, b.offs[i], b.lens[i])?.op);
      bytes += b.lens[i];
    }
    expect(ops).toContain(2); // the namespace answered our ARP request
    expect(t.stats.rxPackets - rx0).toBe(b.count);
    expect(t.stats.rxBytes - bytes0).toBe(bytes);

    nsExec(ns, `ip link set ${t.name} down`);
    expect(t.txBurst(b.buf, b.offs, b.lens, 1, new Uint8Array(BATCH_MAX * 10))).toBe(0);
    expect(t.stats.txDropped).toBe(1);
    expect(t.dropCounters().tx_link_down).toBe(1);

    expect(t.mac()).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/); // last known, the device is elsewhere
    t.close();
    t.close();
    expect(nsLinks(ns)).not.toContain(t.name);
    expect(t.rxBurst(b)).toBe(0);
    expect(t.txBurst(b.buf, b.offs, b.lens, 1, new Uint8Array(BATCH_MAX * 10))).toBe(0);
    expect(t.dropCounters().tx_closed).toBe(1);
  });
});
