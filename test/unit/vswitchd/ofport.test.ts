import { describe, expect, it } from 'vitest';
import { assignOfports } from '../../../src/vswitchd/ofport.js';

describe('assignOfports', () => {
  it('gives the bridge interface LOCAL and the others the lowest free numbers from 1', () => {
    const m = assignOfports('br0', [{ name: 'br0' }, { name: 'vm2' }, { name: 'vm1' }]);
    expect(m.get('br0')).toBe(65534);
    expect(m.get('vm1')).toBe(1);
    expect(m.get('vm2')).toBe(2);
  });

  it('honours ofport_request when free, before kept numbers', () => {
    const m = assignOfports('br0', [
      { name: 'a', current: 5 },
      { name: 'b', request: 5 },
      { name: 'c', request: 1 },
      { name: 'd', request: 1 },
    ]);
    expect(m.get('b')).toBe(5);
    expect(m.get('c')).toBe(1);
    expect(m.get('a')).toBe(2); // lost 5 to the request, lowest free
    expect(m.get('d')).toBe(3); // request taken by c
  });

  it('keeps numbers across reconciliations and fills holes', () => {
    const m = assignOfports('br0', [{ name: 'x', current: 3 }, { name: 'y', current: 1 }, { name: 'z' }]);
    expect(m.get('x')).toBe(3);
    expect(m.get('y')).toBe(1);
    expect(m.get('z')).toBe(2);
  });

  it('ignores invalid requests and current numbers', () => {
    const m = assignOfports('br0', [{ name: 'a', request: 0, current: -1 }, { name: 'b', request: 70000 }]);
    expect(m.get('a')).toBe(1);
    expect(m.get('b')).toBe(2);
  });
});
