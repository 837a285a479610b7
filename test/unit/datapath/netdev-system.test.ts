// Opening a system port for a device that does not exist: the error a user sees (vsctl show
// prints it as Interface.error) says what is wrong and what to do instead; how the packet
// socket is read. No root needed (the rings themselves: test/e2e/packet-ring.test.ts).
import { describe, expect, it } from 'vitest';
import { NetdevOpenError, NoSuchDeviceError, openNetdev } from '../../../src/datapath/netdev.js';
import { packetRxMode } from '../../../src/datapath/packet-io.js';

describe('system netdev', () => {
  it('refuses a missing device with NO_SUCH_DEVICE and a message that suggests tap or internal', () => {
    let err: unknown;
    try {
      openNetdev('vm9nosuchdev', 'system');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NoSuchDeviceError);
    expect(err).toBeInstanceOf(NetdevOpenError);
    expect((err as NoSuchDeviceError).code).toBe('NO_SUCH_DEVICE');
    expect((err as Error).message).toBe('could not open network device vm9nosuchdev (No such device); to have the switch create it, use type=tap or type=internal');
  });

  it('checks the name before anything else', () => {
    expect(() => openNetdev('a/b', 'system')).toThrow(/invalid device name/);
  });

  it('reads through a receive ring unless VSWITCH_PACKET_RX=mmsg', () => {
    expect(packetRxMode({})).toBe('ring');
    expect(packetRxMode({ VSWITCH_PACKET_RX: 'mmsg' })).toBe('mmsg');
    expect(packetRxMode({ VSWITCH_PACKET_RX: 'ring' })).toBe('ring');
    expect(packetRxMode({ VSWITCH_PACKET_RX: 'bogus' })).toBe('ring');
  });
});
