/*
 * ofctl: OpenFlow-style inspection of a bridge, shaped like ovs-ofctl. For now it asks
 * vswitchd over its control socket (methods ofctl/show and ofctl/dump-flows, which answer
 * with the text to print); a later stage gives ofctl its own flow protocol. Exports main().
 */
import { RpcError, connectUnix } from '../src/lib/jsonrpc.js';
import { VswitchError } from '../src/lib/errors.js';
import { paths } from '../src/lib/paths.js';
import { checkArgCount, errnoText, parseOptions, parseSeconds, runTool, stdio, TIMEOUT_STATUS, ToolError, versionLine, type OptSpec, type ToolIo } from './common.js';

const HELP = `ofctl: OpenFlow switch management utility
usage: ofctl [OPTIONS] COMMAND [ARG...]

For OpenFlow switches:
  show SWITCH                 show OpenFlow information
  dump-flows SWITCH           print all flow entries
  dump-flows SWITCH FLOW      print matching FLOWs

SWITCH is a bridge name; ofctl asks vswitchd (its control socket in VSWITCH_RUNDIR).

Other options:
  -t, --timeout=SECS          give up after SECS seconds
  -h, --help                  display this help message
  -V, --version               display version information
`;

const SPECS: OptSpec[] = [
  { long: 'timeout', short: 't', arg: 'required' },
  { long: 'help', short: 'h', arg: 'none' },
  { long: 'version', short: 'V', arg: 'none' },
];

/** command -> [min args, max args, vswitchd control method]. */
const COMMANDS: Record<string, [number, number, string]> = {
  show: [1, 1, 'ofctl/show'],
  'dump-flows': [1, 2, 'ofctl/dump-flows'],
};

export async function main(argv: string[], io: ToolIo = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runTool('ofctl', io, async () => {
    const { opts, rest } = parseOptions(argv, SPECS, true);
    let timeout = 0;
    for (const o of opts) {
      if (o.name === 'help') {
        io.out(HELP);
        return 0;
      }
      if (o.name === 'version') {
        io.out(versionLine('ofctl'));
        return 0;
      }
      if (o.name === 'timeout') timeout = parseSeconds(o.value);
    }
    const [cmd, ...args] = rest;
    if (cmd === undefined) throw new ToolError('missing command name; use --help for help');
    const spec = COMMANDS[cmd];
    if (!spec) throw new ToolError(`unknown command '${cmd}'; use --help for help`);
    checkArgCount(cmd, args.length, spec[0], spec[1]);
    const path = paths(env).ctlSock('vswitchd');
    const ms = timeout * 1000;
    let conn;
    try {
      conn = await connectUnix(path, ms > 0 ? Math.min(ms, 5000) : 5000);
    } catch (e) {
      throw new ToolError(`${args[0]}: cannot connect to vswitchd at "${path}" (${errnoText(e)}); is vswitchd running?`);
    }
    try {
      const result = await conn.request(spec[2], args, ms);
      const text = typeof result === 'string' ? result : JSON.stringify(result, null, 2);
      if (text) io.out(text.endsWith('\n') ? text : `${text}\n`);
      return 0;
    } catch (e) {
      if (e instanceof RpcError) throw new ToolError(typeof e.error === 'string' ? e.error.replace(/\n$/, '') : e.message);
      if (e instanceof VswitchError && e.code === 'TIMEOUT') throw new ToolError(`${args[0]}: no response from vswitchd within ${timeout} seconds`, TIMEOUT_STATUS);
      throw e;
    } finally {
      conn.close();
    }
  });
}
