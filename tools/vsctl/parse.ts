/*
 * vsctl's command line, parsed the way ovs-vsctl parses it: global options first (options of a
 * command given there, such as --may-exist, go to the first command), then commands separated
 * by "--", each with its own leading options ("-- --if-exists del-br br1"). Checks each
 * command's name, options and argument count against the syntax table below, which --help is
 * also built from. Pure: no I/O. Called by tools/vsctl.ts.
 */
import { paths } from '../../src/lib/paths.js';
import { parseOptions, parseSeconds, ToolError, type OptSpec } from '../common.js';

export interface CommandSyntax {
  name: string;
  min: number;
  max: number;
  /** Options the command accepts, "--may-exist"; a trailing "=" means it takes a value. */
  options: string[];
  /** True if the command may change the database. */
  rw: boolean;
  /** For --help: usage and what it does. */
  usage: string;
  help: string;
  section: string;
}

const INF = Number.POSITIVE_INFINITY;

export const COMMANDS: CommandSyntax[] = [
  { section: 'vswitch commands', name: 'init', min: 0, max: 0, options: [], rw: true, usage: 'init', help: 'initialize database, if not yet initialized' },
  { section: 'vswitch commands', name: 'show', min: 0, max: 0, options: [], rw: false, usage: 'show', help: 'print overview of database contents' },
  { section: 'Bridge commands', name: 'add-br', min: 1, max: 3, options: ['--may-exist'], rw: true, usage: 'add-br BRIDGE', help: 'create a new bridge named BRIDGE' },
  { section: 'Bridge commands', name: 'del-br', min: 1, max: 1, options: ['--if-exists'], rw: true, usage: 'del-br BRIDGE', help: 'delete BRIDGE and all of its ports' },
  { section: 'Bridge commands', name: 'list-br', min: 0, max: 0, options: [], rw: false, usage: 'list-br', help: 'print the names of all the bridges' },
  { section: 'Bridge commands', name: 'br-exists', min: 1, max: 1, options: [], rw: false, usage: 'br-exists BRIDGE', help: 'exit 2 if BRIDGE does not exist' },
  { section: 'Port commands', name: 'list-ports', min: 1, max: 1, options: [], rw: false, usage: 'list-ports BRIDGE', help: 'print the names of all the ports on BRIDGE' },
  { section: 'Port commands', name: 'add-port', min: 2, max: INF, options: ['--may-exist'], rw: true, usage: 'add-port BRIDGE PORT [COLUMN[:KEY]=VALUE]...', help: 'add network device PORT to BRIDGE, setting Port columns' },
  { section: 'Port commands', name: 'del-port', min: 1, max: 2, options: ['--if-exists', '--with-iface'], rw: true, usage: 'del-port [BRIDGE] PORT', help: 'delete PORT from BRIDGE' },
  { section: 'Port commands', name: 'port-to-br', min: 1, max: 1, options: [], rw: false, usage: 'port-to-br PORT', help: 'print name of bridge that contains PORT' },
  { section: 'Interface commands', name: 'list-ifaces', min: 1, max: 1, options: [], rw: false, usage: 'list-ifaces BRIDGE', help: 'print the names of all interfaces on BRIDGE' },
  { section: 'Interface commands', name: 'iface-to-br', min: 1, max: 1, options: [], rw: false, usage: 'iface-to-br IFACE', help: 'print name of bridge that contains IFACE' },
  { section: 'Database commands', name: 'list', min: 1, max: INF, options: ['--if-exists', '--columns='], rw: false, usage: 'list TBL [REC]', help: 'list RECord (or all records) in TBL' },
  { section: 'Database commands', name: 'get', min: 3, max: INF, options: ['--if-exists'], rw: false, usage: 'get TBL REC COL[:KEY]', help: 'print values of COLumns in RECord in TBL' },
  { section: 'Database commands', name: 'set', min: 3, max: INF, options: ['--if-exists'], rw: true, usage: 'set TBL REC COL[:KEY]=VALUE', help: 'set COLumn values in RECord in TBL' },
  { section: 'Database commands', name: 'clear', min: 3, max: INF, options: ['--if-exists'], rw: true, usage: 'clear TBL REC COL', help: 'clear values from COLumn in RECord in TBL' },
];

const BY_NAME = new Map(COMMANDS.map((c) => [c.name, c]));

export interface ParsedCommand {
  syntax: CommandSyntax;
  name: string;
  args: string[];
  /** Command options by name ("--if-exists") with their value, if any. */
  options: Map<string, string | undefined>;
  /** The command as typed, for messages ("--may-exist add-port br1 vm1"). */
  text: string;
}

export interface VsctlArgs {
  db: string;
  /** Seconds; 0 = no limit. */
  timeout: number;
  noWait: boolean;
  dryRun: boolean;
  help: boolean;
  version: boolean;
  commands: ParsedCommand[];
}

/** Command options, for the global option parser (they may precede the first command). */
const COMMAND_OPTIONS = [...new Set(COMMANDS.flatMap((c) => c.options))];

const GLOBAL_SPECS: OptSpec[] = [
  { long: 'db', arg: 'required' },
  { long: 'no-wait', arg: 'none' },
  { long: 'timeout', short: 't', arg: 'required' },
  { long: 'dry-run', arg: 'none' },
  { long: 'help', short: 'h', arg: 'none' },
  { long: 'version', short: 'V', arg: 'none' },
  ...COMMAND_OPTIONS.map((o): OptSpec => ({ long: o.replace(/^--|=$/g, ''), arg: o.endsWith('=') ? 'required' : 'none' })),
];

export function defaultDb(env: NodeJS.ProcessEnv = process.env): string {
  return `unix:${paths(env).dbSock}`;
}

/** Parses vsctl's whole command line; throws ToolError with ovs-vsctl's wording. */
export function parseVsctlArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): VsctlArgs {
  const out: VsctlArgs = { db: defaultDb(env), timeout: 0, noWait: false, dryRun: false, help: false, version: false, commands: [] };
  const { opts, rest } = parseOptions(argv, GLOBAL_SPECS);
  const firstCmdOptions = new Map<string, string | undefined>();
  for (const o of opts) {
    switch (o.name) {
      case 'db': out.db = o.value!; break;
      case 'no-wait': out.noWait = true; break;
      case 'timeout': out.timeout = parseSeconds(o.value); break;
      case 'dry-run': out.dryRun = true; break;
      case 'help': out.help = true; break;
      case 'version': out.version = true; break;
      default: {
        const key = `--${o.name}`;
        if (firstCmdOptions.has(key)) throw new ToolError(`'${key}' option specified multiple times`);
        firstCmdOptions.set(key, o.value);
      }
    }
  }
  if (out.help || out.version) return out;
  out.commands = splitCommands(rest, firstCmdOptions);
  return out;
}

function splitCommands(argv: readonly string[], firstOptions: Map<string, string | undefined>): ParsedCommand[] {
  const cmds: ParsedCommand[] = [];
  let local = firstOptions;
  let start = 0;
  for (let i = 0; i <= argv.length; i++) {
    if (i === argv.length || argv[i] === '--') {
      if (i > start) {
        cmds.push(parseCommand(argv.slice(start, i), local));
        local = new Map();
      } else if (local.size) throw new ToolError('missing command name (use --help for help)');
      start = i + 1;
    }
  }
  if (!cmds.length) throw new ToolError('missing command name (use --help for help)');
  return cmds;
}

function parseCommand(argv: string[], options: Map<string, string | undefined>): ParsedCommand {
  let i = 0;
  for (; i < argv.length && argv[i].startsWith('-'); i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const key = eq < 0 ? a : a.slice(0, eq);
    if (options.has(key)) throw new ToolError(`'${key}' option specified multiple times`);
    options.set(key, eq < 0 ? undefined : a.slice(eq + 1));
  }
  if (i === argv.length) throw new ToolError('missing command name (use --help for help)');
  const name = argv[i];
  const syntax = BY_NAME.get(name);
  if (!syntax) throw new ToolError(`unknown command '${name}'; use --help for help`);
  for (const [key, value] of options) {
    const takesArg = syntax.options.includes(`${key}=`);
    if (!takesArg && !syntax.options.includes(key)) throw new ToolError(`'${name}' command has no '${key}' option`);
    if (takesArg && value === undefined) throw new ToolError(`missing argument to '${key}' option on '${name}' command`);
    if (!takesArg && value !== undefined) throw new ToolError(`'${key}' option on '${name}' does not accept an argument`);
  }
  const args = argv.slice(i + 1);
  if (args.length < syntax.min) throw new ToolError(`'${name}' command requires at least ${syntax.min} arguments`);
  if (args.length > syntax.max) {
    const note = args.some((a) => a.startsWith('-')) ? ' (note that options must precede command names and follow a "--" argument)' : '';
    throw new ToolError(`'${name}' command takes at most ${syntax.max} arguments${note}`);
  }
  const text = [...[...options].map(([k, v]) => (v === undefined ? k : `${k}=${v}`)), name, ...args].join(' ');
  return { syntax, name, args, options, text };
}

/** vsctl --help, in ovs-vsctl's layout. */
export function vsctlHelp(env: NodeJS.ProcessEnv = process.env): string {
  const lines = ['vsctl: vswitchd management utility', 'usage: vsctl [OPTIONS] COMMAND [ARG...]'];
  let section = '';
  for (const c of COMMANDS) {
    if (c.section !== section) {
      section = c.section;
      lines.push('', `${section}:`);
    }
    const usage = `  ${c.usage}`;
    lines.push(usage.length < 30 ? `${usage.padEnd(30)}${c.help}` : `${usage}\n${' '.repeat(30)}${c.help}`);
  }
  lines.push(
    '',
    'Command options (before the command name, or before the first command):',
    '  --may-exist                 add-br, add-port: do nothing if it already exists',
    '  --if-exists                 del-br, del-port, get, set, list, clear: do nothing',
    '                              if the record does not exist',
    '  --with-iface                del-port: PORT may also name an interface',
    '  --columns=COL,...           list: show only these columns',
    '',
    'Separate commands with "--" to run them as one transaction; later commands see',
    'what earlier ones created: vsctl add-port br0 vm1 -- set Interface vm1 type=tap',
    '',
    'Database commands may reference a row in each table in the following ways:',
    '  Open_vSwitch: by UUID, as "."',
    '  Bridge, Port, Interface: by UUID, by "name"',
    '',
    'Options:',
    '  --db=DATABASE               connect to DATABASE',
    `                              (default: ${defaultDb(env)})`,
    '  --no-wait                   do not wait for vswitchd to reconfigure',
    '  -t, --timeout=SECS          wait at most SECS seconds for vswitchd',
    '  --dry-run                   do not commit changes to database',
    '',
    'Other options:',
    '  -h, --help                  display this help message',
    '  -V, --version               display version information',
    '',
  );
  return lines.join('\n');
}
