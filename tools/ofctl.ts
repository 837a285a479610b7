/*
 * ofctl: OpenFlow-style management of a bridge, in ovs-ofctl's syntax and output shapes, over
 * the flow protocol (src/lib/flowproto) on VSWITCH_RUNDIR/BRIDGE.mgmt, or on any unix: or tcp:
 * target. The commands live in tools/ofctl/ (flows.ts, switch.ts, monitor.ts); this module
 * parses the command line, connects, applies --timeout and exports main(). Control path.
 */
import { ToolError, ToolExit, checkArgCount, parseOptions, parseSeconds, runTool, stdio, TIMEOUT_STATUS, versionLine, type OptSpec, type ToolIo } from './common.js';
import { addFlows, diffFlows, dumpAggregate, dumpFlows, flowModCommand, replaceFlows } from './ofctl/flows.js';
import { monitor } from './ofctl/monitor.js';
import { OfSession, type OfctlContext } from './ofctl/session.js';
import { dumpDesc, dumpPorts, dumpPortsDesc, dumpTables, modPort, packetOut, probe, show } from './ofctl/switch.js';

const HELP = `ofctl: OpenFlow switch management utility
usage: ofctl [OPTIONS] COMMAND [ARG...]

For OpenFlow switches:
  show SWITCH                 show OpenFlow information
  dump-desc SWITCH            print switch description
  dump-tables SWITCH          print table stats
  mod-port SWITCH IFACE ACT   modify port behavior
      ACT: up, down, flood, no-flood, receive, no-receive,
           forward, no-forward, packet-in, no-packet-in
  dump-ports SWITCH [PORT]    print port statistics
  dump-ports-desc SWITCH [PORT]  print port descriptions
  dump-flows SWITCH           print all flow entries
  dump-flows SWITCH FLOW      print matching FLOWs
  dump-aggregate SWITCH       print aggregate flow statistics
  dump-aggregate SWITCH FLOW  print aggregate stats for FLOWs
  add-flow SWITCH FLOW        add flow described by FLOW
  add-flows SWITCH FILE       add flows from FILE ("-": standard input)
  mod-flows SWITCH FLOW       modify actions of matching FLOWs
  del-flows SWITCH [FLOW]     delete matching FLOWs
  replace-flows SWITCH FILE   replace flows with those in FILE
  diff-flows SOURCE1 SOURCE2  compare flows from two sources
  packet-out SWITCH "in_port=PORT packet=HEX actions=ACTIONS"
  packet-out SWITCH IN_PORT ACTIONS PACKET...
                              execute ACTIONS on PACKET
  monitor SWITCH [MISSLEN] [invalid_ttl] [watch:[...]]
                              print packets received from SWITCH
  probe SWITCH                probe whether SWITCH is up

SWITCH is a bridge name (its socket VSWITCH_RUNDIR/BRIDGE.mgmt), unix:FILE or
tcp:HOST[:PORT] (default port 6653). A diff-flows SOURCE that names an existing
file (or "-") is a file of flows, one per line; otherwise a switch.

Options:
  --strict                    use strict match for flow commands
  --names                     show port names in output
  --no-names                  show port numbers in output (default unless
                              standard output is a terminal)
  --no-stats                  do not print flow statistics (dump-flows)
  --readd                     replace-flows: re-add every flow, not only changes
  -O, --protocols=VERSION     output as ovs-ofctl does with this OpenFlow version
                              (OpenFlow10 by default; OpenFlow11..OpenFlow15)
  -t, --timeout=SECS          give up after SECS seconds
  -h, --help                  display this help message
  -V, --version               display version information
`;

const SPECS: OptSpec[] = [
  { long: 'strict', arg: 'none' },
  { long: 'names', arg: 'none' },
  { long: 'no-names', arg: 'none' },
  { long: 'no-stats', arg: 'none' },
  { long: 'readd', arg: 'none' },
  { long: 'protocols', short: 'O', arg: 'required' },
  { long: 'timeout', short: 't', arg: 'required' },
  { long: 'help', short: 'h', arg: 'none' },
  { long: 'version', short: 'V', arg: 'none' },
];

/** command -> [min args, max args]. */
const COMMANDS: Record<string, [number, number]> = {
  show: [1, 1], 'dump-desc': [1, 1], 'dump-tables': [1, 1], 'mod-port': [3, 3], 'dump-ports': [1, 2], 'dump-ports-desc': [1, 2],
  'dump-flows': [1, 2], 'dump-aggregate': [1, 2], 'add-flow': [2, 2], 'add-flows': [2, 2], 'mod-flows': [2, 2], 'del-flows': [1, 2],
  'replace-flows': [2, 2], 'diff-flows': [2, 2], 'packet-out': [2, Infinity], monitor: [1, 4], probe: [1, 1],
};

/** The version ovs-ofctl would speak given -O LIST (its highest): 10 ... 15. */
export function parseProtocols(list: string): number {
  let best = 0;
  for (const v of list.split(',')) {
    const m = /^OpenFlow1([0-5])$/i.exec(v.trim());
    if (!m) throw new ToolError(`Unknown OpenFlow version: "${v.trim()}"`);
    best = Math.max(best, 10 + Number(m[1]));
  }
  return best;
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.once('error', reject);
  });
}

async function runCommand(ctx: OfctlContext, cmd: string, args: string[]): Promise<number> {
  if (cmd === 'diff-flows') return diffFlows(ctx, args[0], args[1]);
  const s = await ctx.open(args[0]);
  try {
    switch (cmd) {
      case 'show': await show(ctx, s); break;
      case 'dump-desc': await dumpDesc(ctx, s); break;
      case 'dump-tables': await dumpTables(ctx, s); break;
      case 'mod-port': await modPort(ctx, s, args[1], args[2]); break;
      case 'dump-ports': await dumpPorts(ctx, s, args[1]); break;
      case 'dump-ports-desc': await dumpPortsDesc(ctx, s, args[1]); break;
      case 'dump-flows': await dumpFlows(ctx, s, args[1]); break;
      case 'dump-aggregate': await dumpAggregate(ctx, s, args[1]); break;
      case 'add-flow': await flowModCommand(ctx, s, 'add', args[1]); break;
      case 'add-flows': await addFlows(ctx, s, args[1]); break;
      case 'mod-flows': await flowModCommand(ctx, s, ctx.strict ? 'modify_strict' : 'modify', args[1]); break;
      case 'del-flows': await flowModCommand(ctx, s, ctx.strict ? 'delete_strict' : 'delete', args[1]); break;
      case 'replace-flows': await replaceFlows(ctx, s, args[1]); break;
      case 'packet-out': await packetOut(ctx, s, args.slice(1)); break;
      case 'monitor': return await monitor(ctx, s, args.slice(1));
      case 'probe': await probe(s); break;
      default: throw new ToolError(`unknown command '${cmd}'; use --help for help`);
    }
    return 0;
  } finally {
    s.close();
  }
}

export async function main(argv: string[], io: ToolIo = stdio, env: NodeJS.ProcessEnv = process.env, stdin: () => Promise<string> = readStdin): Promise<number> {
  const code = await runTool('ofctl', io, () => run(argv, io, env, stdin));
  // The caller may exit at once: let a pipe take everything written first (100k flows).
  if (io === stdio) await new Promise<void>((r) => process.stdout.write('', () => r()));
  return code;
}

async function run(argv: string[], io: ToolIo, env: NodeJS.ProcessEnv, stdin: () => Promise<string>): Promise<number> {
  const { opts, rest } = parseOptions(argv, SPECS, true);
  let timeout = 0;
  let names: boolean | null = null;
  const opened: OfSession[] = [];
  const ctx: OfctlContext = {
    io, env, style: 10, strict: false, names: false, noStats: false, readd: false, timeoutMs: 0, readStdin: stdin,
    open: async (sw) => {
      const s = await OfSession.open(sw, env, ctx.timeoutMs);
      opened.push(s);
      return s;
    },
  };
  for (const o of opts) {
    switch (o.name) {
      case 'help': io.out(HELP); return 0;
      case 'version': io.out(versionLine('ofctl')); return 0;
      case 'timeout': timeout = parseSeconds(o.value); break;
      case 'strict': ctx.strict = true; break;
      case 'names': names = true; break;
      case 'no-names': names = false; break;
      case 'no-stats': ctx.noStats = true; break;
      case 'readd': ctx.readd = true; break;
      case 'protocols': ctx.style = parseProtocols(o.value ?? ''); break;
      default: break;
    }
  }
  // As ovs-ofctl: port names by default only when a person reads the output.
  ctx.names = names ?? (io === stdio && process.stdout.isTTY === true);
  ctx.timeoutMs = timeout * 1000;
  const [cmd, ...args] = rest;
  if (cmd === undefined) throw new ToolError('missing command name; use --help for help');
  const spec = COMMANDS[cmd];
  if (!spec) throw new ToolError(`unknown command '${cmd}'; use --help for help`);
  checkArgCount(cmd, args.length, spec[0], spec[1]);
  const work = runCommand(ctx, cmd, args);
  if (timeout <= 0) return work;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(cmd === 'monitor' ? new ToolExit(TIMEOUT_STATUS) : new ToolError(`${args[0]}: no response within ${timeout} seconds`, TIMEOUT_STATUS)), timeout * 1000);
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
    for (const s of opened) s.close();
  }
}
