/*
 * vsctl's commands as the command line knows them: name, argument counts, the options each
 * takes, whether it may write, and its --help line, in ovs-vsctl's grouping. parse.ts checks
 * command lines against this table and vsctlHelp() prints it. Pure data; control path only.
 */
import { ROW_IDS } from './records.js';

export interface CommandSyntax {
  name: string;
  min: number;
  max: number;
  /** Options the command accepts, "--may-exist"; a trailing "=" means it takes a value. */
  options: string[];
  /** True if the command may change the database. */
  rw: boolean;
  /** For --help: usage lines and, beside each, what it does ("" for none). */
  usage: string[];
  help: string[];
  section: string;
}

const INF = Number.POSITIVE_INFINITY;

/** Usage lines, each with its help ("" for none). */
type Row = [name: string, min: number, max: number, options: string, rw: boolean, usage: [usage: string, help: string][]];

const SECTIONS: [section: string, rows: Row[]][] = [
  ['vswitch commands', [
    ['init', 0, 0, '', true, [['init', 'initialize database, if not yet initialized']]],
    ['show', 0, 0, '', false, [['show', 'print overview of database contents']]],
  ]],
  ['Bridge commands', [
    ['add-br', 1, 3, '--may-exist', true, [['add-br BRIDGE', 'create a new bridge named BRIDGE']]],
    ['del-br', 1, 1, '--if-exists', true, [['del-br BRIDGE', 'delete BRIDGE and all of its ports']]],
    ['list-br', 0, 0, '--real,--fake', false, [['list-br', 'print the names of all the bridges']]],
    ['br-exists', 1, 1, '', false, [['br-exists BRIDGE', 'exit 2 if BRIDGE does not exist']]],
    ['br-set-external-id', 2, 3, '', true, [['br-set-external-id BRIDGE KEY VALUE', 'set KEY on BRIDGE to VALUE'], ['br-set-external-id BRIDGE KEY', 'unset KEY on BRIDGE']]],
    ['br-get-external-id', 1, 2, '', false, [['br-get-external-id BRIDGE KEY', 'print value of KEY on BRIDGE'], ['br-get-external-id BRIDGE', 'list key-value pairs on BRIDGE']]],
  ]],
  ['Port commands (a bond is considered to be a single port)', [
    ['list-ports', 1, 1, '', false, [['list-ports BRIDGE', 'print the names of all the ports on BRIDGE']]],
    ['add-port', 2, INF, '--may-exist', true, [['add-port BRIDGE PORT [COLUMN[:KEY]=VALUE]...', 'add network device PORT to BRIDGE']]],
    ['add-bond', 4, INF, '--may-exist', true, [['add-bond BRIDGE PORT IFACE... [COLUMN[:KEY]=VALUE]...', 'add bonded port PORT in BRIDGE from IFACES']]],
    ['del-port', 1, 2, '--if-exists,--with-iface', true, [['del-port [BRIDGE] PORT', 'delete PORT (which may be bonded) from BRIDGE']]],
    ['port-to-br', 1, 1, '', false, [['port-to-br PORT', 'print name of bridge that contains PORT']]],
  ]],
  ['Interface commands (a bond consists of multiple interfaces)', [
    ['list-ifaces', 1, 1, '', false, [['list-ifaces BRIDGE', 'print the names of all interfaces on BRIDGE']]],
    ['iface-to-br', 1, 1, '', false, [['iface-to-br IFACE', 'print name of bridge that contains IFACE']]],
  ]],
  ['Controller commands', [
    ['get-controller', 1, 1, '', false, [['get-controller BRIDGE', 'print the controllers for BRIDGE']]],
    ['del-controller', 1, 1, '', true, [['del-controller BRIDGE', 'delete the controllers for BRIDGE']]],
    ['set-controller', 1, INF, '--inactivity-probe=', true, [['[--inactivity-probe=MSECS]', ''], ['set-controller BRIDGE TARGET...', 'set the controllers for BRIDGE']]],
    ['get-fail-mode', 1, 1, '', false, [['get-fail-mode BRIDGE', 'print the fail-mode for BRIDGE']]],
    ['del-fail-mode', 1, 1, '', true, [['del-fail-mode BRIDGE', 'delete the fail-mode for BRIDGE']]],
    ['set-fail-mode', 2, 2, '', true, [['set-fail-mode BRIDGE MODE', 'set the fail-mode for BRIDGE to MODE']]],
  ]],
  ['Manager commands', [
    ['get-manager', 0, 0, '', false, [['get-manager', 'print the managers']]],
    ['del-manager', 0, 0, '', true, [['del-manager', 'delete the managers']]],
    ['set-manager', 1, INF, '--inactivity-probe=', true, [['[--inactivity-probe=MSECS]', ''], ['set-manager TARGET...', 'set the list of managers to TARGET...']]],
  ]],
  ['Database commands', [
    ['list', 1, INF, '--if-exists,--columns=', false, [['list TBL [REC]', 'list RECord (or all records) in TBL']]],
    ['find', 1, INF, '--columns=', false, [['find TBL CONDITION...', 'list records satisfying CONDITION in TBL']]],
    ['get', 2, INF, '--if-exists,--id=', false, [['get TBL REC COL[:KEY]', 'print values of COLumns in RECord in TBL']]],
    ['set', 3, INF, '--if-exists', true, [['set TBL REC COL[:KEY]=VALUE', 'set COLumn values in RECord in TBL']]],
    ['add', 4, INF, '--if-exists', true, [['add TBL REC COL [KEY=]VALUE', 'add (KEY=)VALUE to COLumn in RECord in TBL']]],
    ['remove', 4, INF, '--if-exists', true, [['remove TBL REC COL [KEY=]VALUE', 'remove (KEY=)VALUE from COLumn']]],
    ['clear', 3, INF, '--if-exists', true, [['clear TBL REC COL', 'clear values from COLumn in RECord in TBL']]],
    ['create', 2, INF, '--id=', true, [['create TBL COL[:KEY]=VALUE', 'create and initialize new record']]],
    ['destroy', 1, INF, '--if-exists,--all', true, [['destroy TBL REC', 'delete RECord from TBL']]],
    ['wait-until', 2, INF, '', false, [['wait-until TBL REC [COL[:KEY]=VALUE]', 'wait until condition is true']]],
    ['comment', 0, INF, '', false, [['comment [ARG]...', 'do nothing (a note in the transaction log)']]],
  ]],
];

export const COMMANDS: CommandSyntax[] = SECTIONS.flatMap(([section, rows]) =>
  rows.map(([name, min, max, options, rw, pairs]) => {
    return {
      section,
      name,
      min,
      max,
      options: options ? options.split(',') : [],
      rw,
      usage: pairs.map((p) => p[0]),
      help: pairs.map((p) => p[1]),
    };
  }),
);

export const COMMANDS_BY_NAME = new Map(COMMANDS.map((c) => [c.name, c]));

/** Tables of the vswitch schema, with how database commands may name their records. */
const TABLES = ['Bridge', 'Controller', 'Interface', 'Manager', 'Mirror', 'Open_vSwitch', 'Port', 'QoS', 'Queue'];
const SINGLETONS = new Set(['Open_vSwitch']);

function rowIdsHelp(): string[] {
  const lines = ['Database commands may reference a row in each table in the following ways:'];
  for (const t of TABLES) {
    lines.push(`  ${t}:`, '    by UUID');
    if (SINGLETONS.has(t)) lines.push('    as "."');
    for (const id of ROW_IDS[t] ?? []) {
      lines.push(id.via ? `    via "${id.via}" of ${id.table} with matching "${id.name}"` : `    by "${id.name}"`);
    }
  }
  return lines;
}

/** vsctl --help, in ovs-vsctl's layout. */
export function vsctlHelp(defaultDb: string): string {
  const lines = ['vsctl: vswitchd management utility', 'usage: vsctl [OPTIONS] COMMAND [ARG...]'];
  let section = '';
  for (const c of COMMANDS) {
    if (c.section !== section) {
      section = c.section;
      lines.push('', `${section}:`);
    }
    c.usage.forEach((u, i) => {
      const usage = `  ${u}`;
      const help = c.help[i];
      lines.push(!help ? usage : usage.length < 30 ? `${usage.padEnd(30)}${help}` : `${usage}  ${help}`);
    });
  }
  lines.push(
    '',
    'Command options (before the command name, or before the first command):',
    '  --may-exist                 add-br, add-port, add-bond: do nothing if it already exists',
    '  --if-exists                 del-br, del-port, list, get, set, add, remove, clear,',
    '                              destroy: do nothing if the record does not exist',
    '  --with-iface                del-port: PORT may also name an interface',
    '  --real, --fake              list-br: only real (or only fake) bridges',
    '  --columns=COL,...           list, find: show only these columns ("_uuid" is one)',
    '  --id=@NAME                  create: name the new row @NAME (or --id=UUID: use that uuid);',
    '                              get: name the row found; @NAME then stands for its uuid',
    '                              in the other commands of the invocation',
    '  --all                       destroy: delete every record of the table',
    '  --inactivity-probe=MSECS    set-controller, set-manager: probe interval',
    '',
    'Separate commands with "--" to run them as one transaction; later commands see',
    'what earlier ones created: vsctl add-port br0 vm1 -- set Interface vm1 type=tap',
    '',
    'find and wait-until conditions are COL[:KEY]OP VALUE, where OP is one of',
    '  = != < > <= >=              compare the whole value (sizes first, then elements)',
    '  {=} {!=} {<} {>} {<=} {>=}  compare as sets ({<}: a proper subset of VALUE)',
    '  {in} {not-in}               every element (none) of the column is in VALUE',
    '',
    ...rowIdsHelp(),
    '',
    'Options:',
    '  --db=DATABASE               connect to DATABASE',
    `                              (default: ${defaultDb})`,
    '  --no-wait                   do not wait for vswitchd to reconfigure',
    '  -t, --timeout=SECS          wait at most SECS seconds for vswitchd',
    '  --dry-run                   do not commit changes to database',
    '  --oneline                   print exactly one line of output per command',
    '',
    'Output formatting options (list and find):',
    '  -f, --format=FORMAT         set output formatting to FORMAT',
    '                              ("list", "table", "html", "csv", or "json")',
    '  -d, --data=FORMAT           set table cell output formatting to',
    '                              FORMAT ("string", "bare", or "json")',
    '  --no-headings               omit table heading row',
    '  --pretty                    pretty-print JSON in output',
    '  --bare                      equivalent to "--format=list --data=bare --no-headings"',
    '  --max-column-width=N        cut table cells to N bytes',
    '',
    'Other options:',
    '  -h, --help                  display this help message',
    '  -V, --version               display version information',
    '',
  );
  return lines.join('\n');
}
