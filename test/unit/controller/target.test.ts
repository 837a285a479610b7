// Command-line addresses: ptcp:/punix: listen targets, [HOST:]PORT for the REST API, loopback
// detection, and datapath ids in OVS's, Ryu's and colon-separated forms.
import { describe, expect, it } from 'vitest';
import { formatDpid, formatListenTarget, isLoopback, parseDpid, parseHostPort, parseListenTarget } from '../../../src/controller/target.js';

describe('listen targets', () => {
  it('parses ptcp and punix like Open vSwitch', () => {
    expect(parseListenTarget('ptcp:6653')).toEqual({ kind: 'tcp', port: 6653, host: '0.0.0.0' });
    expect(parseListenTarget('ptcp:6653:127.0.0.1')).toEqual({ kind: 'tcp', port: 6653, host: '127.0.0.1' });
    expect(parseListenTarget('ptcp:0:[::1]')).toEqual({ kind: 'tcp', port: 0, host: '::1' });
    expect(parseListenTarget('ptcp:')).toEqual({ kind: 'tcp', port: 6653, host: '0.0.0.0' });
    expect(parseListenTarget('punix:/run/c.sock')).toEqual({ kind: 'unix', path: '/run/c.sock' });
    expect(formatListenTarget({ kind: 'tcp', port: 0, host: '::1' }, 4000)).toBe('ptcp:4000:[::1]');
  });

  it('refuses what is not a target, with a reason', () => {
    expect(() => parseListenTarget('tcp:1.2.3.4:6653')).toThrow(/unknown listen target/);
    expect(() => parseListenTarget('ptcp:70000')).toThrow(/not a port number/);
    expect(() => parseListenTarget('ptcp:66:localhost')).toThrow(/not an IP address/);
    expect(() => parseListenTarget('punix:')).toThrow(/needs a socket path/);
  });

  it('parses [HOST:]PORT with loopback by default', () => {
    expect(parseHostPort('8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseHostPort('0.0.0.0:80')).toEqual({ host: '0.0.0.0', port: 80 });
    expect(parseHostPort('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(() => parseHostPort('host:80')).toThrow(/not an IP address/);
    expect(isLoopback('127.0.0.1') && isLoopback('127.1.2.3') && isLoopback('::1')).toBe(true);
    expect(isLoopback('0.0.0.0') || isLoopback('10.0.0.1') || isLoopback('::')).toBe(false);
  });
});

describe('datapath ids', () => {
  it('reads 16 hex digits, 0x, colons and decimal; prints 16 hex digits', () => {
    expect(parseDpid('0000aabbccddeeff')).toBe(0xaabbccddeeffn);
    expect(parseDpid('0xAB')).toBe(0xabn);
    expect(parseDpid('00:00:00:00:00:00:01:02')).toBe(0x102n);
    expect(parseDpid('161')).toBe(161n);
    expect(parseDpid('ffffffffffffffff')).toBe(2n ** 64n - 1n);
    expect(formatDpid(0xa1n)).toBe('00000000000000a1');
    for (const bad of ['', 'xyz', '0x', '0x11112222333344445', '99999999999999999999', '1:2:3:4:5:6:7:8:9']) {
      expect(() => parseDpid(bad), bad).toThrow(/is not a datapath id/);
    }
  });
});
