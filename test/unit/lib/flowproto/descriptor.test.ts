// The checked-in JSON descriptor (proto/vswitch-flow.json) against the .proto it is generated from.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { descriptorPath, protoPath, schema } from '../../../../src/lib/flowproto/codec.js';
// @ts-expect-error: a plain .mjs script, no declarations
import { descriptorText } from '../../../../scripts/gen-proto-descriptor.mjs';

/** Every type, field (number, type, label, presence, packing, oneof, resolved type) and enum of a root. */
function shape(root: protobuf.Root): string[] {
  root.resolveAll();
  const out: string[] = [];
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Type) {
        out.push(`message ${o.fullName} oneofs=${o.oneofsArray.map((x) => `${x.name}:${x.oneof.join('/')}`).join(';')}`);
        for (const f of o.fieldsArray) {
          out.push(`  ${f.name}=${f.id} ${f.type} repeated=${f.repeated} packed=${f.packed} presence=${f.hasPresence} oneof=${f.partOf?.name} -> ${f.resolvedType?.fullName}`);
        }
      } else if (o instanceof protobuf.Enum) {
        out.push(`enum ${o.fullName} ${JSON.stringify(o.values)}`);
      }
      if (o instanceof protobuf.Namespace) walk(o);
    }
  };
  walk(root);
  return out;
}

describe('flow protocol JSON descriptor', () => {
  it('is exactly what scripts/gen-proto-descriptor.mjs makes of the .proto (regenerate it after changing the .proto)', () => {
    expect(descriptorPath()).toMatch(/proto\/vswitch-flow\.json$/);
    expect(readFileSync(descriptorPath(), 'utf8')).toBe(descriptorText(protoPath()));
  });

  it('describes the same types, fields and enums as parsing the .proto', () => {
    const parsed = shape(protobuf.loadSync(protoPath()));
    expect(parsed.length).toBeGreaterThan(100);
    expect(shape(schema())).toEqual(parsed);
  });

  it('the loaded schema is the descriptor (proto3 presence kept)', () => {
    const fm = schema().lookupType('vswitch.flow.v1.FlowMod');
    expect(fm.fields.cookie.type).toBe('uint64');
    expect(fm.fields.cookie.hasPresence).toBe(false);
    const fromJson = protobuf.Root.fromJSON(JSON.parse(readFileSync(descriptorPath(), 'utf8')) as protobuf.INamespace);
    expect(shape(fromJson)).toEqual(shape(schema()));
  });
});
