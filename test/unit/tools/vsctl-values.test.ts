import { describe, expect, it } from 'vitest';
import { baseType, type ColumnType } from '../../../src/ovsdb/schema.js';
import { formatBare, formatDatum, formatReal, formatString, parseAtom, parseDatum, typeToEnglish } from '../../../tools/vsctl/values.js';
import { SymbolTable } from '../../../tools/vsctl/symbols.js';

const str = baseType('string');
const tag: ColumnType = { key: baseType('integer', { minInteger: 0, maxInteger: 4095 }), value: null, min: 0, max: 1 };
const trunks: ColumnType = { key: baseType('integer', { minInteger: 0, maxInteger: 4095 }), value: null, min: 0, max: 4096 };
const smap: ColumnType = { key: str, value: str, min: 0, max: Infinity };
const scalarStr: ColumnType = { key: str, value: null, min: 1, max: 1 };
const mode: ColumnType = { key: baseType('string', { enum: ['access', 'trunk'] }), value: null, min: 0, max: 1 };
const bool: ColumnType = { key: baseType('boolean'), value: null, min: 1, max: 1 };

describe('printing values as ovs-vsctl does', () => {
  it('quotes strings only when they would not read back bare', () => {
    expect(['br0', 'a.b-c_d', 'B2', 'vm1'].map(formatString)).toEqual(['br0', 'a.b-c_d', 'B2', 'vm1']);
    expect(formatString('0a')).toBe('"0a"');
    expect(formatString('a:b')).toBe('"a:b"');
    expect(formatString('p 1')).toBe('"p 1"');
    expect(formatString('true')).toBe('"true"');
    expect(formatString('')).toBe('""');
    expect(formatString('x"y')).toBe('"x\\"y"');
    expect(formatString('a\\b')).toBe('"a\\\\b"');
    expect(formatString('é')).toBe('"é"');
    expect(formatString('5fa53e5a-40c7-487a-b9b6-abfb9008c163')).toBe('"5fa53e5a-40c7-487a-b9b6-abfb9008c163"');
  });

  it('prints sets in brackets, optional scalars bare or [], maps in braces', () => {
    expect(formatDatum({ keys: [10], values: null }, tag)).toBe('10');
    expect(formatDatum({ keys: [], values: null }, tag)).toBe('[]');
    expect(formatDatum({ keys: [4], values: null }, trunks)).toBe('[4]');
    expect(formatDatum({ keys: [1, 2, 3], values: null }, trunks)).toBe('[1, 2, 3]');
    expect(formatDatum({ keys: ['a', 'peer'], values: ['1', 'x'] }, smap)).toBe('{a="1", peer=x}');
    expect(formatDatum({ keys: [], values: [] }, smap)).toBe('{}');
    expect(formatDatum({ keys: [''], values: null }, scalarStr)).toBe('""');
  });

  it('prints the bare form: no quotes, no brackets, spaces between elements', () => {
    expect(formatBare({ keys: ['p 1'], values: null }, scalarStr)).toBe('p 1');
    expect(formatBare({ keys: [1, 2, 3], values: null }, trunks)).toBe('1 2 3');
    expect(formatBare({ keys: [], values: null }, tag)).toBe('');
    expect(formatBare({ keys: ['a', 'peer'], values: ['1', 'x y'] }, smap)).toBe('a=1 peer=x y');
  });

  it('prints reals like %.15g', () => {
    expect(formatReal(1.5)).toBe('1.5');
    expect(formatReal(100)).toBe('100');
    expect(formatReal(1e-5)).toBe('1e-05');
    expect(formatReal(1e21)).toBe('1e+21');
    expect(formatReal(0.1 + 0.2)).toBe('0.3');
  });
});

describe('reading values as ovs-vsctl does', () => {
  it('reads sets with ranges, brackets or commas', () => {
    expect(parseDatum('1-3,7', trunks).keys).toEqual([1, 2, 3, 7]);
    expect(parseDatum('[4,5]', trunks).keys).toEqual([4, 5]);
    expect(parseDatum('[ 5 , 4 ]', trunks).keys).toEqual([4, 5]);
    expect(parseDatum('[]', trunks).keys).toEqual([]);
    expect(parseDatum('010', tag).keys).toEqual([10]);
    expect(parseDatum('+5', tag).keys).toEqual([5]);
  });

  it('reads maps and quoted strings', () => {
    const d = parseDatum('k=v,k2="a b"', smap);
    expect([d.keys, d.values]).toEqual([['k', 'k2'], ['v', 'a b']]);
    expect(parseDatum('{a=1, b=2}', smap).values).toEqual(['1', '2']);
    expect(parseDatum('{}', smap).keys).toEqual([]);
    expect(parseDatum('""', scalarStr).keys).toEqual(['']);
    expect(parseDatum('"q\\"t"', scalarStr).keys).toEqual(['q"t']);
    expect(parseAtom('x y', str)).toBe('x y');
    expect(parseAtom('a,b', str)).toBe('a,b');
  });

  it('names types as ovsdb does in messages', () => {
    expect([tag, trunks, smap, scalarStr, mode, bool].map(typeToEnglish)).toEqual([
      'set of up to 1 integers',
      'set of up to 4096 integers',
      'map of (string, string) pairs',
      'string',
      'set of up to 1 strings',
      'boolean',
    ]);
    expect(typeToEnglish({ ...trunks, min: 1, max: Infinity })).toBe('set of 1 or more integers');
    expect(typeToEnglish({ ...trunks, min: 2, max: 5 })).toBe('set of 2 to 5 integers');
    expect(typeToEnglish({ ...smap, min: 0, max: Infinity })).toBe('map of (string, string) pairs');
  });

  it('reads booleans as true/yes/on/1 and false/no/off/0', () => {
    expect(['true', 'yes', 'on', '1', 'false', 'no', 'off', '0'].map((s) => parseAtom(s, baseType('boolean')))).toEqual([true, true, true, true, false, false, false, false]);
  });

  it('resolves "@name" uuids through the row ids of the invocation', () => {
    const symbols = new SymbolTable();
    const ref: ColumnType = { key: baseType('uuid', { refTable: 'Controller' }), value: null, min: 0, max: Infinity };
    const d = parseDatum('[@a, @b]', ref, symbols);
    expect(d.keys).toHaveLength(2);
    expect(parseAtom('@a', ref.key, symbols)).toBe(parseAtom('@a', ref.key, symbols));
    expect(() => parseAtom('@a', ref.key)).toThrow('"@a" is not a valid UUID');
    expect(() => symbols.check()).toThrow('row id "@a" is referenced but never created (e.g. with "-- --id=@a create ...")');
    symbols.define('@a');
    symbols.define('@b');
    expect(symbols.check()).toEqual([]);
  });

  it('reports bad values in ovsdb wording', () => {
    const bad = (f: () => unknown, msg: string) => expect(f).toThrow(msg);
    bad(() => parseDatum('abc', tag), '"abc" is not a valid integer or range');
    bad(() => parseDatum('0x10', tag), '"0x10" is not a valid integer or range');
    bad(() => parseDatum('5000', tag), 'constraint violation: 5000 is not in the valid range 0 to 4095 (inclusive)');
    bad(() => parseDatum('-1', tag), 'constraint violation: -1 is not in the valid range 0 to 4095 (inclusive)');
    bad(() => parseDatum('1,2', tag), '1,2: 2 value(s) specified but the maximum number is 1');
    bad(() => parseDatum('[1,1]', trunks), '[1,1]: set contains duplicate value');
    bad(() => parseDatum('{a=1,a=2}', smap), '{a=1,a=2}: map contains duplicate key');
    bad(() => parseDatum('xyz', mode), 'constraint violation: xyz is not one of the allowed values ([access, trunk])');
    bad(() => parseDatum('maybe', bool), '"maybe" is not a valid boolean (use "true" or "false")');
    bad(() => parseDatum('"a', scalarStr), '"a: quoted string extends past end of argument');
    bad(() => parseDatum('', trunks), 'use "[]" to specify the empty set');
    bad(() => parseDatum('', smap), 'use "{}" to specify the empty map');
    bad(() => parseAtom('', str), 'An empty string is not valid as input; use "" to represent the empty string');
    bad(() => parseDatum('[1,2', trunks), '[1,2: missing "]" at end of data');
    bad(() => parseDatum('[1] x', trunks), '[1] x: trailing garbage after "]"');
    bad(() => parseDatum('k', smap), 'k: syntax error at "');
    bad(() => parseDatum('a=1, k , x', smap), 'k , x: syntax error at "," expecting "="');
    bad(() => parseDatum('{}x', smap), '{}x: trailing garbage after "}"');
    bad(() => parseDatum('1,,2', trunks), '1,,2: unexpected "," parsing set of up to 4096 integers');
    bad(() => parseDatum('{a=1}', { ...smap, min: 2 }), '{a=1}: 1 pair(s) specified but the minimum number is 2');
  });
});
