/*
 * vsctl's command line, parsed the way ovs-vsctl parses it: global options first (options of a
 * command given there, such as --may-exist, go to the first command), then commands separated
 * by "--", each with its own leading options ("-- --if-exists del-br br1"). Checks each
 * command's name, options and argument count against the table in syntax.ts, and reads the
 * output options of list and find (--format, --data, --bare, ...). Pure: no I/O. Called by
 * tools/vsctl.ts.
 */
import { paths } from '../../src/lib/paths.js';
import { parseOptions, parseSeconds, ToolError, type OptSpec } from '../common.js';
import { COMMANDS, COMMANDS_BY_NAME, vsctlHelp as helpText, type CommandSyntax } from './syntax.js';
import { DEFAULT_STYLE, parseCellFormat, parseTableFormat, type TableStyle } from './table.js';

export { COMMANDS, type CommandSyntax } from './syntax.js';

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
  /** --oneline: each command's output on one line ("\n" for newlines). */
  oneline: boolean;
  /** How list and find print their tables (--format, --data, --no-headings, ...). */
  style: TableStyle;
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
  { long: 'oneline', arg: 'none' },
  { long: 'format', short: 'f', arg: 'required' },
  { long: 'data', short: 'd', arg: 'required' },
  { long: 'no-headings', arg: 'none' },
  { long: 'pretty', arg: 'none' },
  { long: 'bare', arg: 'none' },
  { long: 'max-column-width', arg: 'required' },
  { long: 'help', short: 'h', arg: 'none' },
  { long: 'version', short: 'V', arg: 'none' },
  ...COMMAND_OPTIONS.map((o): OptSpec => ({ long: o.replace(/^--|=$/g, ''), arg: o.endsWith('=') ? 'required' : 'none' })),
];

export function defaultDb(env: NodeJS.ProcessEnv = process.env): string {
  return `unix:${paths(env).dbSock}`;
}

/** Parses vsctl's whole command line; throws ToolError with ovs-vsctl's wording. */
export function parseVsctlArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): VsctlArgs {
  const out: VsctlArgs = {
    db: defaultDb(env),
    timeout: 0,
    noWait: false,
    dryRun: false,
    oneline: false,
    style: { ...DEFAULT_STYLE },
    help: false,
    version: false,
    commands: [],
  };
  const st = out.style;
  const { opts, rest } = parseOptions(argv, GLOBAL_SPECS);
  const firstCmdOptions = new Map<string, string | undefined>();
  for (const o of opts) {
    switch (o.name) {
      case 'db': out.db = o.value!; break;
      case 'no-wait': out.noWait = true; break;
      case 'timeout': out.timeout = parseSeconds(o.value); break;
      case 'dry-run': out.dryRun = true; break;
      case 'oneline': out.oneline = true; break;
      case 'format': st.format = parseTableFormat(o.value!); break;
      case 'data': st.cells = parseCellFormat(o.value!); break;
      case 'no-headings': st.headings = false; break;
      case 'pretty': st.pretty = true; break;
      case 'bare': Object.assign(st, { format: 'list', cells: 'bare', headings: false }); break;
      case 'max-column-width': st.maxColumnWidth = Number.parseInt(o.value!, 10) || 0; break;
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
    if (options.has(key)) throw new ToolError(`'${a}' option specified multiple times`);
    options.set(key, eq < 0 ? undefined : a.slice(eq + 1));
  }
  if (i === argv.length) throw new ToolError('missing command name (use --help for help)');
  const name = argv[i];
  const syntax = COMMANDS_BY_NAME.get(name);
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
  return helpText(defaultDb(env));
}
