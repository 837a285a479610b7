import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseSchema, SchemaError, findColumn } from '../../../src/ovsdb/schema.js';
import { defaultSchemaPath } from '../../../src/ovsdb/main.js';

const vswitch = () => JSON.parse(readFileSync(defaultSchemaPath(), 'utf8'));

describe('parseSchema', () => {
  it('parses the vswitch schema with OVS table shapes', () => {
    const s = parseSchema(vswitch());
    expect(s.name).toBe('Open_vSwitch');
    const ovs = s.tables.get('Open_vSwitch')!;
    expect(ovs.isRoot).toBe(true);
    expect(ovs.maxRows).toBe(1);
    for (const t of ['Bridge', 'Port', 'Interface', 'Controller']) expect(s.tables.get(t)!.isRoot).toBe(false);
    for (const t of ['Bridge', 'Port', 'Interface']) expect(s.tables.get(t)!.indexes).toEqual([['name']]);
    const ports = s.tables.get('Bridge')!.columns.get('ports')!.type;
    expect(ports.key).toMatchObject({ type: 'uuid', refTable: 'Port', refType: 'strong' });
    expect(ports.max).toBe(Infinity);
    const ifaces = s.tables.get('Port')!.columns.get('interfaces')!.type;
    expect(ifaces.min).toBe(1);
    const tag = s.tables.get('Port')!.columns.get('tag')!.type;
    expect([tag.key.minInteger, tag.key.maxInteger, tag.min, tag.max]).toEqual([0, 4095, 0, 1]);
    expect(s.tables.get('Bridge')!.columns.get('fail_mode')!.type.key.enum).toEqual(['secure', 'standalone']);
    expect(s.tables.get('Bridge')!.columns.get('name')!.mutable).toBe(false);
    expect(s.tables.get('Interface')!.columns.get('statistics')!.ephemeral).toBe(true);
    expect(s.tables.get('Interface')!.columns.get('options')!.type.value?.type).toBe('string');
    expect(s.tables.get('Mirror')!.columns.get('select_src_port')!.type.key.refType).toBe('weak');
    for (const c of ['target', 'is_connected', 'role', 'status', 'inactivity_probe', 'max_backoff']) {
      expect(s.tables.get('Controller')!.columns.has(c)).toBe(true);
    }
    expect(findColumn(s.tables.get('Bridge')!, '_uuid')?.type.key.type).toBe('uuid');
  });

  it('reports every problem at once', () => {
    try {
      parseSchema({
        name: 'X',
        version: '1',
        tables: {
          A: { columns: { a: { type: 'float' }, b: { type: { key: { type: 'uuid', refTable: 'Nope' } } }, c: { type: { key: 'integer', min: 2 } } } },
          B: { columns: {}, indexes: [['zz']] },
        },
      });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SchemaError);
      const p = (e as SchemaError).problems.join('\n');
      expect(p).toMatch(/version/);
      expect(p).toMatch(/unknown atomic type "float"/);
      expect(p).toMatch(/refTable "Nope"/);
      expect(p).toMatch(/min must be 0 or 1/);
      expect(p).toMatch(/index/);
    }
  });

  it('treats every table as root when none is marked', () => {
    const s = parseSchema({ name: 'D', version: '1.0.0', tables: { A: { columns: {} }, B: { columns: {} } } });
    expect([...s.tables.values()].every((t) => t.isRoot)).toBe(true);
  });

  it('rejects bad enums', () => {
    expect(() => parseSchema({ name: 'D', version: '1.0.0', tables: { A: { columns: { e: { type: { key: { type: 'integer', enum: ['set', ['a']] } } } } } } })).toThrow(/enum/);
  });
});
