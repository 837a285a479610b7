/*
 * The shapes vsctl prints list and find results in (--format, --data, --no-headings, --bare,
 * --pretty, --columns, --max-column-width, --oneline), compared with what ovs-vsctl prints
 * for the same records.
 */
import { describe, expect, it } from 'vitest';
import { ovsJson } from '../../../tools/vsctl/table.js';
import { model, OVS_UUID, vsctlRun } from './helpers.js';

const U = (n: number): string => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;

/** br0 (local port), p1 (tag 10), p2 (trunks 10,20; a "p 2" name needs quotes in string form). */
function ports() {
  return model({
    Open_vSwitch: [{ _uuid: ['uuid', OVS_UUID], bridges: ['uuid', U(1)] }],
    Bridge: [{ _uuid: ['uuid', U(1)], name: 'br0', ports: ['set', [['uuid', U(2)], ['uuid', U(3)], ['uuid', U(4)]]] }],
    Port: [
      { _uuid: ['uuid', U(2)], name: 'br0', interfaces: ['uuid', U(5)] },
      { _uuid: ['uuid', U(3)], name: 'p1', interfaces: ['uuid', U(6)], tag: 10, external_ids: ['map', [['k', 'v'], ['n', '1']]] },
      { _uuid: ['uuid', U(4)], name: 'p 2', interfaces: ['uuid', U(7)], trunks: ['set', [10, 20]] },
    ],
    Interface: [
      { _uuid: ['uuid', U(5)], name: 'br0', type: 'internal' },
      { _uuid: ['uuid', U(6)], name: 'p1' },
      { _uuid: ['uuid', U(7)], name: 'p 2' },
    ],
  });
}

const out = (...argv: string[]): string => vsctlRun(ports(), ...argv).stdout;
const COLS = '--columns=name,tag,trunks';

describe('list and find output formats', () => {
  it('list (default): "column : value", a blank line between records', () => {
    expect(out(COLS, 'list', 'Port')).toBe(
      ['name                : br0', 'tag                 : []', 'trunks              : []', '', 'name                : p1', 'tag                 : 10', 'trunks              : []', '', 'name                : "p 2"', 'tag                 : []', 'trunks              : [10, 20]', ''].join('\n'),
    );
  });

  it('table: headings, dashes, columns as wide as their widest cell, no trailing blanks', () => {
    expect(out('-f', 'table', COLS, 'list', 'Port')).toBe(
      ['name  tag trunks', '----- --- --------', 'br0   []  []', 'p1    10  []', '"p 2" []  [10, 20]', ''].join('\n'),
    );
    expect(out('--format=table', '--no-headings', '--columns=name,tag', 'list', 'Port')).toBe(['br0   []', 'p1    10', '"p 2" []', ''].join('\n'));
    expect(out('-f', 'table', '--max-column-width=3', '--columns=_uuid,name', 'list', 'Port', 'p1')).toBe(['_uuid name', '----- ----', '00000 p1', ''].join('\n'));
    expect(out('-f', 'table', '--no-headings', '--max-column-width=3', '--columns=_uuid,name', 'list', 'Port', 'p1')).toBe('000 p1\n');
    expect(out('-f', 'table', '--columns=target', 'list', 'Controller')).toBe('target\n------\n');
  });

  it('table with -d bare and -d json', () => {
    expect(out('-f', 'table', '-d', 'bare', '--columns=name,trunks,tag,interfaces', 'list', 'Port')).toBe(
      ['name trunks tag interfaces', '---- ------ --- ------------------------------------', `br0             ${U(5)}`, `p1          10  ${U(6)}`, `p 2  10 20      ${U(7)}`, ''].join('\n'),
    );
    expect(out('-f', 'table', '-d', 'json', COLS, 'list', 'Port')).toBe(
      ['name  tag        trunks', '----- ---------- ---------------', '"br0" ["set",[]] ["set",[]]', '"p1"  10         ["set",[]]', '"p 2" ["set",[]] ["set",[10,20]]', ''].join('\n'),
    );
  });

  it('csv: quotes cells holding a comma, a quote or a newline', () => {
    expect(out('-f', 'csv', '--columns=name,tag,trunks,external_ids', 'list', 'Port')).toBe(
      ['name,tag,trunks,external_ids', 'br0,[],[],{}', 'p1,10,[],"{k=v, n=""1""}"', '"""p 2""",[],"[10, 20]",{}', ''].join('\n'),
    );
    expect(out('-f', 'csv', '--no-headings', '--columns=name', 'list', 'Port', 'p1')).toBe('p1\n');
    expect(out('-f', 'csv', '--columns=target', 'list', 'Controller')).toBe('target\n');
  });

  it('json: {"data":..., "headings":...} with RFC 7047 cells, whatever -d says', () => {
    const expected = `{"data":[["br0",["set",[]],["set",[]],["uuid","${U(5)}"]],["p1",10,["set",[]],["uuid","${U(6)}"]],["p 2",["set",[]],["set",[10,20]],["uuid","${U(7)}"]]],"headings":["name","tag","trunks","interfaces"]}\n`;
    expect(out('-f', 'json', '--columns=name,tag,trunks,interfaces', 'list', 'Port')).toBe(expected);
    expect(out('-f', 'json', '-d', 'bare', '--no-headings', '--columns=name,tag,trunks,interfaces', 'list', 'Port')).toBe(expected);
    expect(out('-f', 'json', '--columns=name,external_ids', 'list', 'Port', 'p1')).toBe('{"data":[["p1",["map",[["k","v"],["n","1"]]]]],"headings":["name","external_ids"]}\n');
    expect(out('-f', 'json', '--columns=target', 'list', 'Controller')).toBe('{"data":[],"headings":["target"]}\n');
  });

  it('json --pretty indents as OVS does (closing brackets stay on the last line)', () => {
    expect(out('-f', 'json', '--pretty', COLS, 'list', 'Port', 'p 2', 'p1')).toBe(
      `{
  "data": [
    [
      "p 2",
      [
        "set",
        []],
      [
        "set",
        [
          10,
          20]]],
    [
      "p1",
      10,
      [
        "set",
        []]]],
  "headings": [
    "name",
    "tag",
    "trunks"]}
`,
    );
    expect(ovsJson({ b: [], a: { y: 1 } }, true)).toBe('{\n  "a": {\n    "y": 1},\n  "b": []}');
    expect(ovsJson([1.5, 2, 1e-7, 'x"y'], false)).toBe('[1.5,2,1e-07,"x\\"y"]');
  });

  it('--bare: values only, strings unquoted, sets space-separated, one line per column', () => {
    expect(out('--bare', '--columns=name,trunks,tag', 'list', 'Port')).toBe('br0\n\n\n\np1\n\n10\n\np 2\n10 20\n\n');
    expect(out('--bare', '--columns=external_ids', 'list', 'Port', 'p1')).toBe('k=v n=1\n');
    expect(out('--no-headings', '--columns=name,tag', 'list', 'Port', 'p1')).toBe('p1\n10\n');
  });

  it('html: a table with uuids as links', () => {
    expect(out('-f', 'html', '--columns=_uuid,name,interfaces', 'list', 'Port', 'p1')).toBe(
      [
        '<table border=1>',
        '  <tr>',
        '    <th>_uuid</th>',
        '    <th>name</th>',
        '    <th>interfaces</th>',
        '  </tr>',
        '  <tr>',
        `    <td><a name="${U(3)}">00000000</a></td>`,
        '    <td>p1</td>',
        `    <td>[<a href="#${U(6)}">00000000</a>]</td>`,
        '  </tr>',
        '</table>',
        '',
      ].join('\n'),
    );
  });

  it('every table after the first is preceded by a blank line, even after an empty one', () => {
    expect(out('--columns=name', 'list', 'Bridge', '--', 'list-br', '--', '--columns=name', 'list', 'Port', 'p1')).toBe('name                : br0\nbr0\n\nname                : p1\n');
    expect(out('--columns=target', 'list', 'Controller', '--', '--columns=name', 'list', 'Port', 'p1')).toBe('\nname                : p1\n');
    expect(out('-f', 'table', '--columns=name', 'list', 'Bridge', '--', '--columns=name', 'list', 'Port', 'p1')).toBe('name\n----\nbr0\n\nname\n----\np1\n');
    expect(out('-f', 'json', '--columns=name', 'list', 'Bridge', '--', '--columns=name', 'list', 'Port', 'p1')).toBe('{"data":[["br0"]],"headings":["name"]}\n{"data":[["p1"]],"headings":["name"]}\n');
  });

  it('--columns: abbreviations, _uuid in any case, commas or spaces; and its errors', () => {
    expect(out('--columns=_UUID,nam', 'list', 'Bridge', 'br0')).toBe(`_uuid               : ${U(1)}\nname                : br0\n`);
    expect(out('--columns=name tag', 'list', 'Port', 'p1')).toBe('name                : p1\ntag                 : 10\n');
    expect(() => out('--columns=', 'list', 'Bridge')).toThrow('must specify at least one column name');
    expect(() => out('--columns=,', 'list', 'Bridge')).toThrow('must specify at least one column name');
    expect(() => out('--columns=foo', 'list', 'Bridge')).toThrow('Bridge does not contain a column whose name matches "foo"');
  });

  it('find uses the same formats', () => {
    expect(out('-f', 'csv', '--columns=name', 'find', 'Port', 'tag=10')).toBe('name\np1\n');
    expect(out('-f', 'table', '--columns=name,trunks', 'find', 'Port', 'trunks{>=}20')).toBe('name  trunks\n----- --------\n"p 2" [10, 20]\n');
  });

  it('--oneline: one line per command, newlines and backslashes escaped; tables as usual', () => {
    const m = ports();
    expect(vsctlRun(m, '--oneline', 'get', 'Bridge', 'br0', 'name', '--', 'list-ports', 'br0', '--', 'comment', 'x', '--', '--columns=name', 'list', 'Bridge').stdout).toBe(
      'br0\np 2\\np1\n\nname                : br0\n',
    );
    vsctlRun(m, 'set', 'Port', 'p1', 'external_ids:k="a\\\\b"');
    expect(vsctlRun(m, '--oneline', 'get', 'Port', 'p1', 'external_ids:k', 'name').stdout).toBe('"a\\\\\\\\b"\\np1\n');
  });
});
