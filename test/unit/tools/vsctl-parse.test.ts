import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../../tools/common.js';
import { parseVsctlArgs, vsctlHelp, COMMANDS } from '../../../tools/vsctl/parse.js';

const env = { VSWITCH_RUNDIR: '/tmp/rd' };
const parse = (...argv: string[]) => parseVsctlArgs(argv, env);
const fails = (argv: string[], msg: string) => expect(() => parseVsctlArgs(argv, env)).toThrow(msg);

describe('vsctl global options', () => {
  it('defaults: db from VSWITCH_RUNDIR, wait, no timeout', () => {
    const a = parse('show');
    expect(a.db).toBe('unix:/tmp/rd/db.sock');
    expect(a.noWait).toBe(false);
    expect(a.timeout).toBe(0);
    expect(a.commands.map((c) => c.name)).toEqual(['show']);
  });

  it('reads --db, --no-wait, -t/--timeout, --dry-run in both forms', () => {
    const a = parse('--db=unix:/x.sock', '--no-wait', '-t', '7', '--dry-run', 'list-br');
    expect(a).toMatchObject({ db: 'unix:/x.sock', noWait: true, timeout: 7, dryRun: true });
    expect(parse('--timeout=3', '--db', 'unix:/y', 'show')).toMatchObject({ timeout: 3, db: 'unix:/y' });
    expect(parse('--no-w', 'show').noWait).toBe(true);
  });

  it('reads the output options of list and find', () => {
    expect(parse('show').style).toEqual({ format: 'list', cells: 'string', headings: true, pretty: false, maxColumnWidth: 0 });
    expect(parse('-f', 'table', '-d', 'json', '--no-headings', '--pretty', '--max-column-width=9', 'show').style).toEqual({ format: 'table', cells: 'json', headings: false, pretty: true, maxColumnWidth: 9 });
    expect(parse('--format=csv', '--data=bare', 'show').style).toMatchObject({ format: 'csv', cells: 'bare' });
    expect(parse('-f', 'table', '--bare', 'show').style).toMatchObject({ format: 'list', cells: 'bare', headings: false });
    expect(parse('--bare', '-f', 'json', 'show').style).toMatchObject({ format: 'json', cells: 'bare', headings: false });
    expect(parse('--oneline', 'show').oneline).toBe(true);
    fails(['-f', 'foo', 'show'], 'unknown output format "foo"');
    fails(['--data=foo', 'show'], 'unknown data format "foo"');
  });

  it('--help and --version win over everything else', () => {
    expect(parse('--help').help).toBe(true);
    expect(parse('-V', 'bogus').version).toBe(true);
  });

  it('complains like getopt', () => {
    fails(['--foo', 'show'], "unrecognized option '--foo'");
    fails(['-x', 'show'], "invalid option -- 'x'");
    fails(['--timeout=abc', 'show'], 'value abc on -t or --timeout is invalid');
    fails(['--db'], "option '--db' requires an argument");
    fails(['--no-wait=1', 'show'], "option '--no-wait' doesn't allow an argument");
  });
});

describe('vsctl commands and -- chains', () => {
  it('splits commands on "--" into one invocation', () => {
    const a = parse('add-port', 'br0', 'vm1', '--', 'set', 'Interface', 'vm1', 'type=tap');
    expect(a.commands.map((c) => [c.name, c.args])).toEqual([
      ['add-port', ['br0', 'vm1']],
      ['set', ['Interface', 'vm1', 'type=tap']],
    ]);
    expect(parse('--', 'add-br', 'br9', '--', 'del-br', 'br9').commands.map((c) => c.name)).toEqual(['add-br', 'del-br']);
    expect(parse('add-br', 'br0', '--').commands).toHaveLength(1);
  });

  it('gives options before the first command to that command, and per-command ones after --', () => {
    const a = parse('--may-exist', 'add-br', 'br0', '--', '--if-exists', 'del-br', 'br1', '--', 'list-br');
    expect([...a.commands[0].options.keys()]).toEqual(['--may-exist']);
    expect([...a.commands[1].options.keys()]).toEqual(['--if-exists']);
    expect(a.commands[2].options.size).toBe(0);
    expect(a.commands[0].text).toBe('--may-exist add-br br0');
    expect(parse('--columns=name,type', 'list', 'Interface').commands[0].options.get('--columns')).toBe('name,type');
    const c = parse('--id=@c', 'create', 'Controller', 'target=x', '--', '--all', 'destroy', 'QoS', '--', '--inactivity-probe=5', 'set-controller', 'br0', 'tcp:1.2.3.4').commands;
    expect(c.map((x) => [...x.options])).toEqual([[['--id', '@c']], [['--all', undefined]], [['--inactivity-probe', '5']]]);
  });

  it('rejects options a command does not take, with ovs-vsctl wording', () => {
    fails(['--may-exist', 'show'], "'show' command has no '--may-exist' option");
    fails(['--may-exist', 'add-br', 'x', '--', '--may-exist', '--may-exist', 'add-br', 'y'], "'--may-exist' option specified multiple times");
    fails(['--', '--columns', 'list', 'Bridge'], "missing argument to '--columns' option on 'list' command");
    fails(['--', '--id=@a', '--id=@b', 'create', 'Bridge', 'name=x'], "'--id=@b' option specified multiple times");
    fails(['--', '--id=@a', 'find', 'Bridge'], "'find' command has no '--id' option");
    fails(['--', '--if-exists=1', 'del-br', 'x'], "'--if-exists' option on 'del-br' does not accept an argument");
    fails(['--', '--if-exists'], 'missing command name (use --help for help)');
    fails([], 'missing command name (use --help for help)');
  });

  it('checks argument counts', () => {
    fails(['add-br'], "'add-br' command requires at least 1 arguments");
    fails(['add-port', 'br0'], "'add-port' command requires at least 2 arguments");
    fails(['set', 'Interface', 'vm1'], "'set' command requires at least 3 arguments");
    fails(['get', 'Interface'], "'get' command requires at least 2 arguments");
    fails(['add', 'Port', 'p1', 'trunks'], "'add' command requires at least 4 arguments");
    fails(['set-fail-mode', 'br0'], "'set-fail-mode' command requires at least 2 arguments");
    fails(['get-manager', 'x'], "'get-manager' command takes at most 0 arguments");
    fails(['show', 'extra'], "'show' command takes at most 0 arguments");
    fails(['add-br', 'a', 'b', 'c', 'd'], "'add-br' command takes at most 3 arguments");
    fails(['del-br', 'a', '--if-exists'], "'del-br' command takes at most 1 arguments (note that options must precede command names and follow a \"--\" argument)");
    fails(['foo'], "unknown command 'foo'; use --help for help");
  });

  it('--help lists every command and option it supports', () => {
    const h = vsctlHelp(env);
    for (const c of COMMANDS) for (const u of c.usage) expect(h).toContain(`  ${u}`);
    for (const c of COMMANDS) for (const o of c.options) expect(h).toContain(o.replace(/=$/, ''));
    const options = ['--db=DATABASE', '--no-wait', '--timeout=SECS', '--dry-run', '--oneline', '--format=FORMAT', '--data=FORMAT', '--no-headings', '--pretty', '--bare', '--max-column-width', '--help', '--version'];
    for (const o of options) expect(h).toContain(o);
    expect(h).toContain('  set-controller BRIDGE TARGET...  set the controllers for BRIDGE');
    expect(h).toContain('  Controller:\n    by UUID\n    via "controller" of Bridge with matching "name"\n');
    expect(h).toContain('(default: unix:/tmp/rd/db.sock)');
  });
});

describe('parseOptions', () => {
  const specs = [
    { long: 'statistics', short: 's', arg: 'none' as const },
    { long: 'names', arg: 'none' as const },
    { long: 'no-names', arg: 'none' as const },
    { long: 'timeout', short: 't', arg: 'required' as const },
  ];
  it('stops at the first non-option unless permuting', () => {
    expect(parseOptions(['-s', 'show', '--names'], specs).rest).toEqual(['show', '--names']);
    const p = parseOptions(['show', '-s', '--names', '-t5'], specs, true);
    expect(p.rest).toEqual(['show']);
    expect(p.opts.map((o) => [o.name, o.value])).toEqual([['statistics', undefined], ['names', undefined], ['timeout', '5']]);
  });
  it('takes unique prefixes and reports ambiguous ones', () => {
    expect(parseOptions(['--stat'], specs).opts[0].name).toBe('statistics');
    expect(() => parseOptions(['--n'], specs)).toThrow("option '--n' is ambiguous; possibilities: '--names' '--no-names'");
    expect(() => parseOptions(['-t'], specs)).toThrow("option requires an argument -- 't'");
  });
});
