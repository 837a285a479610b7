import { describe, expect, it } from 'vitest';
import { parseColumnType, type ColumnType } from '../../../src/ovsdb/schema.js';
import {
  atoms,
  datumEquals,
  datumFromJson,
  datumToJson,
  defaultDatum,
  map,
  mapOf,
  namedUuid,
  scalar,
  set,
  uuid,
  uuidStr,
} from '../../../src/ovsdb/datum.js';
import { OvsdbError } from '../../../src/ovsdb/error.js';

function type(json: unknown): ColumnType {
  const problems: string[] = [];
  const t = parseColumnType(json, 'test', problems);
  expect(problems).toEqual([]);
  return t!;
}

const U1 = '6f2b6b1e-2a4c-4d38-9d35-3e0f6b1a0a01';
const U2 = '0a2b6b1e-2a4c-4d38-9d35-3e0f6b1a0a02';

function errTag(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(OvsdbError);
    return (e as OvsdbError).tag;
  }
  return 'no error';
}

describe('datum parsing', () => {
  it('parses scalars and checks atomic types', () => {
    expect(datumFromJson(5, type('integer')).keys).toEqual([5]);
    expect(datumFromJson(1.5, type('real')).keys).toEqual([1.5]);
    expect(datumFromJson(2, type('real')).keys).toEqual([2]);
    expect(datumFromJson(true, type('boolean')).keys).toEqual([true]);
    expect(datumFromJson('x', type('string')).keys).toEqual(['x']);
    expect(datumFromJson(['uuid', U1.toUpperCase()], type('uuid')).keys).toEqual([U1]);
    expect(errTag(() => datumFromJson(1.5, type('integer')))).toBe('syntax error');
    expect(errTag(() => datumFromJson('5', type('integer')))).toBe('syntax error');
    expect(errTag(() => datumFromJson(U1, type('uuid')))).toBe('syntax error');
    expect(errTag(() => datumFromJson(['uuid', 'not-a-uuid'], type('uuid')))).toBe('syntax error');
    expect(errTag(() => datumFromJson(['set', []], type('integer')))).toBe('constraint violation');
  });

  it('enforces enums, ranges and lengths', () => {
    const vlan = type({ key: { type: 'integer', minInteger: 0, maxInteger: 4095 }, min: 0, max: 1 });
    expect(datumFromJson(4095, vlan).keys).toEqual([4095]);
    expect(errTag(() => datumFromJson(4096, vlan))).toBe('constraint violation');
    const mode = type({ key: { type: 'string', enum: ['set', ['secure', 'standalone']] }, min: 0, max: 1 });
    expect(datumFromJson('secure', mode).keys).toEqual(['secure']);
    expect(errTag(() => datumFromJson('bogus', mode))).toBe('constraint violation');
    const short = type({ key: { type: 'string', maxLength: 3 } });
    expect(errTag(() => datumFromJson('abcd', short))).toBe('constraint violation');
    const r = type({ key: { type: 'real', minReal: 0, maxReal: 1 } });
    expect(errTag(() => datumFromJson(1.5, r))).toBe('constraint violation');
  });

  it('canonicalises sets and maps and rejects duplicates', () => {
    const s = type({ key: 'integer', min: 0, max: 'unlimited' });
    const d = datumFromJson(['set', [3, 1, 2]], s);
    expect(d.keys).toEqual([1, 2, 3]);
    expect(datumToJson(d, s)).toEqual(['set', [1, 2, 3]]);
    expect(datumToJson(datumFromJson(['set', [7]], s), s)).toBe(7);
    expect(datumToJson(datumFromJson(['set', []], s), s)).toEqual(['set', []]);
    expect(errTag(() => datumFromJson(['set', [1, 1]], s))).toBe('syntax error');
    const m = type({ key: 'string', value: 'string', min: 0, max: 'unlimited' });
    const md = datumFromJson(['map', [['b', '2'], ['a', '1']]], m);
    expect(datumToJson(md, m)).toEqual(['map', [['a', '1'], ['b', '2']]]);
    expect(datumToJson(datumFromJson(['set', []], m), m)).toEqual(['map', []]);
    expect(errTag(() => datumFromJson(['map', [['a', '1'], ['a', '2']]], m))).toBe('syntax error');
    expect(errTag(() => datumFromJson(['map', [['a', 1]]], m))).toBe('syntax error');
    expect(errTag(() => datumFromJson({ a: '1' }, m))).toBe('syntax error');
  });

  it('enforces set sizes', () => {
    const t = type({ key: 'integer', min: 1, max: 2 });
    expect(errTag(() => datumFromJson(['set', []], t))).toBe('constraint violation');
    expect(errTag(() => datumFromJson(['set', [1, 2, 3]], t))).toBe('constraint violation');
  });

  it('resolves named-uuids only when allowed', () => {
    const t = type({ key: { type: 'uuid', refTable: 'Port' }, min: 0, max: 'unlimited' });
    const d = datumFromJson(['set', [['named-uuid', 'p'], ['uuid', U1]]], t, (n) => (n === 'p' ? U2 : U1));
    expect(d.keys).toEqual([U2, U1].sort());
    expect(errTag(() => datumFromJson(['named-uuid', 'p'], t))).toBe('syntax error');
    expect(datumToJson({ keys: [U1], values: null }, t)).toEqual(['uuid', U1]);
  });

  it('defaults and equality', () => {
    expect(defaultDatum(type('integer'))).toEqual({ keys: [0], values: null });
    expect(defaultDatum(type('string'))).toEqual({ keys: [''], values: null });
    expect(defaultDatum(type({ key: 'string', min: 0, max: 1 }))).toEqual({ keys: [], values: null });
    const m = type({ key: 'string', value: 'integer', min: 0, max: 'unlimited' });
    const a = datumFromJson(['map', [['x', 1]]], m);
    expect(datumEquals(a, datumFromJson(['map', [['x', 1]]], m))).toBe(true);
    expect(datumEquals(a, datumFromJson(['map', [['x', 2]]], m))).toBe(false);
  });
});

describe('datum helpers for callers', () => {
  it('atoms, mapOf, scalar, uuidStr', () => {
    expect(atoms(['set', [1, 2]])).toEqual([1, 2]);
    expect(atoms(5)).toEqual([5]);
    expect(atoms(['uuid', U1])).toEqual([['uuid', U1]]);
    expect(atoms(['map', [['a', 1]]])).toEqual(['a']);
    expect(mapOf(['map', [['a', '1'], [['uuid', U1], 'x'], [7, 'y']]])).toEqual(new Map([['a', '1'], [U1, 'x'], ['7', 'y']]));
    expect(mapOf(['set', []]).size).toBe(0);
    expect(scalar(['set', []])).toBeUndefined();
    expect(scalar(['set', ['x']])).toBe('x');
    expect(scalar('y')).toBe('y');
    expect(uuidStr(['uuid', U1])).toBe(U1);
    expect(uuidStr(scalar(['set', [['uuid', U2]]]))).toBe(U2);
  });

  it('builders produce RFC 7047 notation that parses back', () => {
    expect(set([1, 2])).toEqual(['set', [1, 2]]);
    expect(map({ a: 'b' })).toEqual(['map', [['a', 'b']]]);
    expect(map(new Map([[1, 'x']]))).toEqual(['map', [[1, 'x']]]);
    expect(uuid(U1)).toEqual(['uuid', U1]);
    expect(namedUuid('n')).toEqual(['named-uuid', 'n']);
    const m = type({ key: 'string', value: 'string', min: 0, max: 'unlimited' });
    expect(datumFromJson(map({ k: 'v' }), m).values).toEqual(['v']);
  });
});
