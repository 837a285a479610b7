/*
 * appctl: sends one command to a daemon's control socket (JSON-RPC, like OVS's unixctl) and
 * prints the answer, as ovs-appctl does: `appctl [-t TARGET] COMMAND [ARG...]`. TARGET is a
 * daemon name (vswitchd, the default; datapath; vsdb-server) found in VSWITCH_RUNDIR, or a
 * socket path. Exit 0 with the result on stdout; 2 when the daemon answered with an error
 * (its text on stderr); 1 when it could not be reached. Exports main() and resolveTarget().
 */
import { RpcError, connectUnix } from '../src/lib/jsonrpc.js';
import { paths, type DaemonName } from '../src/lib/paths.js';
import { VswitchError } from '../src/lib/errors.js';
import { errnoText, parseOptions, parseSeconds, runTool, stdio, TIMEOUT_STATUS, ToolError, versionLine, type OptSpec, type ToolIo } from './common.js';

const DAEMONS: Record<string, DaemonName> = {
  vswitchd: 'vswitchd',
  'ovs-vswitchd': 'vswitchd',
  datapath: 'datapath',
  'vswitch-datapath': 'datapath',
  'vsdb-server': 'vsdb-server',
  'ovsdb-server': 'vsdb-server',
};

/** The control socket of TARGET: a known daemon name, another name in the run directory
 * (NAME.ctl), or a path (anything with a "/"). */
export function resolveTarget(target: string, env: NodeJS.ProcessEnv = process.env): string {
  if (target.includes('/')) return target;
  const p = paths(env);
  const d = DAEMONS[target];
  return d ? p.ctlSock(d) : `${p.rundir}/${target}.ctl`;
}

const HELP = `appctl, for querying and controlling vswitch daemons
usage: appctl [TARGET] COMMAND [ARG...]
Targets:
  -t, --target=TARGET  daemon to contact: vswitchd (default), datapath, vsdb-server,
                       or the path of a control socket
Common commands:
  list-commands      List commands supported by the target
  version            Print version of the target
  vlog/list          List current logging levels
  vlog/set LEVEL     Set the log level
  exit               Make the target exit
Other options:
  -T, --timeout=SECS wait at most SECS seconds for a response
  -h, --help         Print this helpful information
  -V, --version      Display appctl version information
`;

const SPECS: OptSpec[] = [
  { long: 'target', short: 't', arg: 'required' },
  { long: 'timeout', short: 'T', arg: 'required' },
  { long: 'help', short: 'h', arg: 'none' },
  { long: 'version', short: 'V', arg: 'none' },
];

/** The text of an error reply: a string as is, {error, details} as "error: details". */
function errorText(e: RpcError): string {
  return typeof e.error === 'string' ? e.error : e.message;
}

export async function main(argv: string[], io: ToolIo = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runTool('appctl', io, async () => {
    const { opts, rest } = parseOptions(argv, SPECS);
    let target = 'vswitchd';
    let timeout = 0;
    for (const o of opts) {
      if (o.name === 'help') {
        io.out(HELP);
        return 0;
      }
      if (o.name === 'version') {
        io.out(versionLine('appctl'));
        return 0;
      }
      if (o.name === 'target') target = o.value!;
      else if (o.name === 'timeout') timeout = parseSeconds(o.value, '-T or --timeout');
    }
    if (!rest.length) throw new ToolError('at least one non-option argument is required (use --help for help)');
    const [command, ...args] = rest;
    const path = resolveTarget(target, env);
    const ms = timeout * 1000;
    let conn;
    try {
      conn = await connectUnix(path, ms > 0 ? Math.min(ms, 5000) : 5000);
    } catch (e) {
      throw new ToolError(`cannot connect to "${path}" (${errnoText(e)})`);
    }
    try {
      const result = await conn.request(command, args, ms);
      if (typeof result === 'string') io.out(result && !result.endsWith('\n') ? `${result}\n` : result);
      else if (result !== null && result !== undefined) io.out(`${JSON.stringify(result, null, 2)}\n`);
      return 0;
    } catch (e) {
      if (e instanceof RpcError) {
        const text = errorText(e);
        io.err(text.endsWith('\n') ? text : `${text}\n`);
        throw new ToolError(`${target}: server returned an error`, 2);
      }
      if (e instanceof VswitchError && e.code === 'TIMEOUT') throw new ToolError(`${target}: no response within ${timeout} seconds`, TIMEOUT_STATUS);
      if (e instanceof VswitchError && e.code === 'CONNECTION_CLOSED') throw new ToolError(`${target}: connection closed before the reply (${path})`);
      throw e;
    } finally {
      conn.close();
    }
  });
}
