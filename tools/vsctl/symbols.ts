/*
 * vsctl's row ids ("@name"): `--id=@name create ...` names the new row, `--id=@name get ...`
 * names an existing one, and "@name" stands for that row's uuid wherever a uuid is expected,
 * before or after the command that defines it, within one invocation. At the end every name
 * used must have been defined, and a created row nobody refers to strongly draws ovs-vsctl's
 * warning (it would be garbage-collected). Used by values.ts and the commands. Control path.
 */
import { randomUUID } from 'node:crypto';
import type { BaseType } from '../../src/ovsdb/schema.js';
import { ToolError } from '../common.js';

export interface RowSymbol {
  name: string;
  /** The row's uuid (for a row still to be created, the uuid it will get here). */
  uuid: string;
  /** Defined by --id on a create or get command. */
  created: boolean;
  strongRef: boolean;
  weakRef: boolean;
}

export class SymbolTable {
  private readonly symbols = new Map<string, RowSymbol>();

  /** The symbol `name`, created (undefined, with a fresh uuid) on first use. */
  private insert(name: string): RowSymbol {
    let s = this.symbols.get(name);
    if (!s) {
      s = { name, uuid: randomUUID(), created: false, strongRef: false, weakRef: false };
      this.symbols.set(name, s);
    }
    return s;
  }

  /** A use of "@name" as a value of type `base`: returns the uuid it stands for. */
  reference(name: string, base: BaseType): string {
    const s = this.insert(name);
    if (base.refTable) {
      if (base.refType === 'strong') s.strongRef = true;
      else s.weakRef = true;
    }
    return s.uuid;
  }

  /** --id=@name on a command that defines a row; `isNew` tells whether the name was unused
   * until now (get refuses a name used before it). */
  define(id: string): { symbol: RowSymbol; isNew: boolean } {
    if (!id.startsWith('@')) throw new ToolError(`row id "${id}" does not begin with "@"`);
    const isNew = !this.symbols.has(id);
    const symbol = this.insert(id);
    if (symbol.created) throw new ToolError(`row id "${id}" may only be specified on one --id option`);
    symbol.created = true;
    return { symbol, isNew };
  }

  /**
   * The end-of-invocation checks: throws for a name used but never defined; returns the
   * warnings for rows created without a strong reference to them.
   */
  check(): string[] {
    const warnings: string[] = [];
    for (const s of this.symbols.values()) {
      if (!s.created) throw new ToolError(`row id "${s.name}" is referenced but never created (e.g. with "-- --id=${s.name} create ...")`);
      if (s.strongRef) continue;
      warnings.push(
        s.weakRef
          ? `row id "${s.name}" was created but only a weak reference to it was inserted, so it will not actually appear in the database`
          : `row id "${s.name}" was created but no reference to it was inserted, so it will not actually appear in the database`,
      );
    }
    return warnings;
  }
}
