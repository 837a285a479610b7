/*
 * vsctl's bridge, port and interface commands on the working model, with ovs-vsctl's semantics
 * and wording: add-br creates Bridge + Port + Interface (internal); add-port/add-bond create a
 * Port and its Interfaces, then apply COLUMN[:KEY]=VALUE settings; del-br/del-port only drop
 * references (the server collects the rows). runCommand() dispatches every command, also those
 * of controller-commands.ts and db-commands.ts. Called by tools/vsctl.ts. Control path only.
 */
import { ToolError, ToolExit } from '../common.js';
import { has, type CommandContext, type Handler } from './context.js';
import { CONTROLLER_HANDLERS } from './controller-commands.js';
import { DB_HANDLERS } from './db-commands.js';
import { datumOf, mapWith, setWith, setWithout, type DbModel } from './model.js';
import { setColumn } from './records.js';
import { showDb } from './show.js';
import { checkConflicts, findBridge, nameOf, ovsRow, topology, type PortInfo } from './topology.js';

/** add-port and add-bond (ovs-vsctl's add_port). */
function addPort(ctx: CommandContext, brName: string, portName: string, ifaceNames: string[], settings: string[]): void {
  const m = ctx.model;
  if (!portName) throw new ToolError('port name must not be empty string');
  if (ifaceNames.some((n) => !n)) throw new ToolError('interface name must not be empty string');
  const t = topology(m);
  if (has(ctx, '--may-exist')) {
    const p = t.ports.get(portName);
    if (p) {
      if (nameOf(p.bridge) !== brName) throw new ToolError(`"${ctx.cmd.text}" but ${portName} is actually attached to bridge ${nameOf(p.bridge)}`);
      const want = [...ifaceNames].sort();
      const have = m.refs(p.port, 'interfaces').map(nameOf).sort();
      if (want.join('\0') !== have.join('\0')) {
        throw new ToolError(`"${ctx.cmd.text}" but ${portName} actually has interface(s) ${have.join(', ')}`);
      }
      return;
    }
  }
  checkConflicts(t, portName, `cannot create a port named ${portName}`);
  for (const n of ifaceNames) checkConflicts(t, n, `cannot create an interface named ${n}`);
  const br = findBridge(t, brName);
  const ifaces = ifaceNames.map((n) => m.insert('Interface', { name: datumOf(n) }));
  const port = m.insert('Port', { name: datumOf(portName), interfaces: datumOf(...ifaces.map((i) => i.uuid)) });
  for (const a of settings) setColumn(m, port, a, ctx.symbols);
  m.set(br, 'ports', setWith(m.get(br, 'ports'), port.uuid));
}

function bridgeExternalIds(m: DbModel, name: string) {
  const br = findBridge(topology(m), name);
  return { br, ids: m.get(br, 'external_ids') };
}

// ---- Commands -------------------------------------------------------------------------------

const BRIDGE_HANDLERS: Record<string, Handler> = {
  init(ctx) {
    ovsRow(ctx.model);
  },

  show(ctx) {
    const text = showDb(ctx.model);
    if (text) ctx.out.push(text);
  },

  'add-br'(ctx) {
    const { model: m, cmd } = ctx;
    if (cmd.args.length !== 1 && cmd.args.length !== 3) throw new ToolError("'add-br' command takes exactly 1 or 3 arguments");
    const name = cmd.args[0];
    if (cmd.args.length === 3) throw new ToolError(`cannot create bridge ${name}: fake bridges (add-br BRIDGE PARENT VLAN) are not supported`);
    const t = topology(m);
    if (has(ctx, '--may-exist') && t.bridges.has(name)) return;
    checkConflicts(t, name, `cannot create a bridge named ${name}`);
    const iface = m.insert('Interface', { name: datumOf(name), type: datumOf('internal') });
    const port = m.insert('Port', { name: datumOf(name), interfaces: datumOf(iface.uuid) });
    const br = m.insert('Bridge', { name: datumOf(name), ports: datumOf(port.uuid) });
    const ovs = ovsRow(m);
    m.set(ovs, 'bridges', setWith(m.get(ovs, 'bridges'), br.uuid));
  },

  'del-br'(ctx) {
    const { model: m, cmd } = ctx;
    const t = topology(m);
    const br = t.bridges.get(cmd.args[0]);
    if (!br) {
      if (has(ctx, '--if-exists')) return;
      throw new ToolError(`no bridge named ${cmd.args[0]}`);
    }
    m.set(t.ovs!, 'bridges', setWithout(m.get(t.ovs!, 'bridges'), br.uuid));
  },

  'list-br'(ctx) {
    // There are no fake bridges (add-br BRIDGE PARENT VLAN): --fake alone lists nothing.
    if (has(ctx, '--fake') && !has(ctx, '--real')) return;
    for (const n of [...topology(ctx.model).bridges.keys()].sort()) ctx.out.push(n);
  },

  'br-set-external-id'(ctx) {
    const [name, key, value] = ctx.cmd.args;
    const { br, ids } = bridgeExternalIds(ctx.model, name);
    if (value !== undefined) ctx.model.set(br, 'external_ids', mapWith(ids, key, value));
    else {
      const i = ids.keys.indexOf(key);
      if (i >= 0) ctx.model.set(br, 'external_ids', { keys: ids.keys.filter((_, j) => j !== i), values: ids.values!.filter((_, j) => j !== i) });
    }
  },

  'br-get-external-id'(ctx) {
    const [name, key] = ctx.cmd.args;
    const { ids } = bridgeExternalIds(ctx.model, name);
    ids.keys.forEach((k, i) => {
      if (key === undefined) ctx.out.push(`${k}=${ids.values![i]}`);
      else if (k === key) ctx.out.push(String(ids.values![i]));
    });
  },

  'br-exists'(ctx) {
    if (!topology(ctx.model).bridges.has(ctx.cmd.args[0])) throw new ToolExit(2);
  },

  'list-ports'(ctx) {
    const { model: m } = ctx;
    const br = findBridge(topology(m), ctx.cmd.args[0]);
    const names = m.refs(br, 'ports').map(nameOf).filter((n) => n !== nameOf(br));
    for (const n of names.sort()) ctx.out.push(n);
  },

  'list-ifaces'(ctx) {
    const { model: m } = ctx;
    const br = findBridge(topology(m), ctx.cmd.args[0]);
    const names = m.refs(br, 'ports').flatMap((p) => m.refs(p, 'interfaces')).map(nameOf).filter((n) => n !== nameOf(br));
    for (const n of names.sort()) ctx.out.push(n);
  },

  'port-to-br'(ctx) {
    const p = topology(ctx.model).ports.get(ctx.cmd.args[0]);
    if (!p) throw new ToolError(`no port named ${ctx.cmd.args[0]}`);
    ctx.out.push(nameOf(p.bridge));
  },

  'iface-to-br'(ctx) {
    const i = topology(ctx.model).ifaces.get(ctx.cmd.args[0]);
    if (!i) throw new ToolError(`no interface named ${ctx.cmd.args[0]}`);
    ctx.out.push(nameOf(i.bridge));
  },

  'add-port'(ctx) {
    const [brName, portName, ...settings] = ctx.cmd.args;
    addPort(ctx, brName, portName, [portName], settings);
  },

  'add-bond'(ctx) {
    const [brName, portName, ...rest] = ctx.cmd.args;
    let n = rest.findIndex((a) => a.includes('='));
    if (n < 0) n = rest.length;
    if (n < 2) throw new ToolError(`add-bond requires at least 2 interfaces, but only ${n} were specified`);
    addPort(ctx, brName, portName, rest.slice(0, n), rest.slice(n));
  },

  'del-port'(ctx) {
    const { model: m, cmd } = ctx;
    const mustExist = !has(ctx, '--if-exists');
    const target = cmd.args[cmd.args.length - 1];
    const t = topology(m);
    let info: PortInfo | undefined;
    if (t.bridges.has(target)) {
      if (mustExist) {
        throw new ToolError(`cannot delete port ${target} because it is the local port for bridge ${target} (deleting this port requires deleting the entire bridge)`);
      }
      return;
    } else if (!has(ctx, '--with-iface')) {
      info = t.ports.get(target);
      if (!info && mustExist) throw new ToolError(`no port named ${target}`);
    } else {
      info = t.ports.get(target) ?? t.ifaces.get(target);
      if (!info && mustExist) throw new ToolError(`no port or interface named ${target}`);
    }
    if (!info) return;
    if (cmd.args.length === 2) {
      const br = findBridge(t, cmd.args[0]);
      if (br !== info.bridge) throw new ToolError(`bridge ${cmd.args[0]} does not have a port ${target}`);
    }
    m.set(info.bridge, 'ports', setWithout(m.get(info.bridge, 'ports'), info.port.uuid));
  },
};

const HANDLERS: Record<string, Handler> = { ...BRIDGE_HANDLERS, ...CONTROLLER_HANDLERS, ...DB_HANDLERS };

/** Runs one command against the model; its output lines go to ctx.out. */
export function runCommand(ctx: CommandContext): void {
  const h = HANDLERS[ctx.cmd.name];
  if (!h) throw new ToolError(`unknown command '${ctx.cmd.name}'; use --help for help`);
  h(ctx);
  ctx.model.gc();
}
