/*
 * vsctl's controller, fail-mode and manager commands, as ovs-vsctl does them: set-controller
 * replaces a bridge's Controller rows with new ones (the old ones, no longer referenced, are
 * garbage-collected), get-controller prints the targets sorted, del-controller drops them;
 * fail_mode is "standalone" or "secure"; the managers live in Open_vSwitch.manager_options.
 * Called through commands.ts. Control path only.
 */
import type { Datum } from '../../src/ovsdb/datum.js';
import { ToolError } from '../common.js';
import type { CommandContext, Handler } from './context.js';
import { datumOf, str, type MRow } from './model.js';
import { findBridge, ovsRow, topology } from './topology.js';

const EMPTY_SET: Datum = { keys: [], values: null };

/** ovs-vsctl warns about targets whose connection type it does not know. */
const TARGET_TYPES = /^(tcp|ssl|unix|ptcp|pssl|punix):/;

/** New rows of `table` (Controller or Manager), one per target; returns their uuids. */
function insertTargets(ctx: CommandContext, table: string, targets: string[]): string[] {
  const probe = ctx.cmd.options.get('--inactivity-probe');
  return targets.map((target) => {
    if (!TARGET_TYPES.test(target)) ctx.warn('vsctl', `target type "${target}" is possibly erroneous`);
    const row = ctx.model.insert(table, { target: datumOf(target) });
    if (probe !== undefined) ctx.model.set(row, 'inactivity_probe', datumOf(Number.parseInt(probe, 10) || 0));
    return row.uuid;
  });
}

/** The targets of the rows `row.column` refers to, sorted (and without duplicates). */
function sortedTargets(ctx: CommandContext, row: MRow, column: string): string[] {
  return [...new Set(ctx.model.refs(row, column).map((r) => str(r.cols.get('target'))))].sort();
}

function bridge(ctx: CommandContext): MRow {
  return findBridge(topology(ctx.model), ctx.cmd.args[0]);
}

export const CONTROLLER_HANDLERS: Record<string, Handler> = {
  'get-controller'(ctx) {
    ctx.out.push(...sortedTargets(ctx, bridge(ctx), 'controller'));
  },

  'del-controller'(ctx) {
    ctx.model.set(bridge(ctx), 'controller', EMPTY_SET);
  },

  'set-controller'(ctx) {
    const br = bridge(ctx);
    ctx.model.set(br, 'controller', datumOf(...insertTargets(ctx, 'Controller', ctx.cmd.args.slice(1))));
  },

  'get-fail-mode'(ctx) {
    const mode = str(ctx.model.get(bridge(ctx), 'fail_mode'));
    if (mode) ctx.out.push(mode);
  },

  'del-fail-mode'(ctx) {
    ctx.model.set(bridge(ctx), 'fail_mode', EMPTY_SET);
  },

  'set-fail-mode'(ctx) {
    const br = bridge(ctx);
    const mode = ctx.cmd.args[1];
    if (mode !== 'standalone' && mode !== 'secure') throw new ToolError('fail-mode must be "standalone" or "secure"');
    ctx.model.set(br, 'fail_mode', datumOf(mode));
  },

  'get-manager'(ctx) {
    const ovs = ctx.model.rows('Open_vSwitch')[0];
    if (ovs) ctx.out.push(...sortedTargets(ctx, ovs, 'manager_options'));
  },

  'del-manager'(ctx) {
    const ovs = ctx.model.rows('Open_vSwitch')[0];
    if (ovs) ctx.model.set(ovs, 'manager_options', EMPTY_SET);
  },

  'set-manager'(ctx) {
    const ovs = ovsRow(ctx.model);
    ctx.model.set(ovs, 'manager_options', datumOf(...insertTargets(ctx, 'Manager', ctx.cmd.args)));
  },
};

