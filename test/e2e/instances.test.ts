// Two instances with different directories run side by side on one machine and do not see
// each other's configuration; stopping one leaves the other running.
import { afterAll, describe, expect, it } from 'vitest';
import { requireRoot } from './helpers.js';
import { Instance } from './instance.js';

const root = requireRoot();

describe.skipIf(!root)('two instances side by side', () => {
  const made: Instance[] = [];
  afterAll(() => { for (const i of made) i.destroy(); });

  it('run independently', () => {
    const a = new Instance();
    const b = new Instance();
    made.push(a, b);
    a.ok('vswitch', 'start');
    b.ok('vswitch', 'start');
    a.ok('vsctl', 'add-br', `a${a.id}`);
    b.ok('vsctl', 'add-br', `b${b.id}`);
    expect(a.ok('vsctl', 'list-br').trim()).toBe(`a${a.id}`);
    expect(b.ok('vsctl', 'list-br').trim()).toBe(`b${b.id}`);
    expect(a.pid('datapath')).not.toBe(b.pid('datapath'));
    a.ok('vswitch', 'stop');
    expect(a.tool('vswitch', 'status').stdout).toMatch(/vswitchd is not running/);
    expect(b.ok('vswitch', 'status')).toMatch(/vswitchd is running/);
    expect(b.ok('dpctl', 'show')).toContain(`b${b.id}`);
  });
});
