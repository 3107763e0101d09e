import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandSpec, completionScript, shells } from './completion.ts';
import { buildProgram, run } from './program.ts';

const program = buildProgram();
const script = (shell: (typeof shells)[number]) => completionScript(shell, program, '1.2.3');
const visibleCommands = program.commands.filter((c) => c.name() !== 'local-daemon').map((c) => c.name());
// Each starts a shell or several, slow on a loaded machine.
const shellTimeout = 30_000;
const has = (shell: string) => spawnSync(shell, ['--version']).status === 0;

// No rc files (bash --norc, zsh -f, fish --no-config): the scripts alone. bash needs it even with
// -c: node's pipes are sockets, so bash takes itself for an rsh session and reads ~/.bashrc.
const quote = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;

/** Runs the bash script's completion function on each line of words (the last word is at the cursor), in one bash. */
function bashComplete(lines: string[][]): string[][] {
  const driver = lines.map((words) => `COMP_WORDS=(${words.map(quote).join(' ')}); COMP_CWORD=${words.length - 1}; _vnest; printf '%s\\n' "\${COMPREPLY[@]}" '--end--'`).join('\n');
  const out = execFileSync('bash', ['--norc', '-c', `eval "$SCRIPT"\n${driver}`], { env: { PATH: process.env.PATH, SCRIPT: script('bash') }, encoding: 'utf8' });
  return out.split('--end--\n').slice(0, lines.length).map((block) => block.split('\n').filter(Boolean));
}

describe('the completion tree', () => {
  it('has every visible command with its flags, and no hidden one', () => {
    const spec = commandSpec(program);
    expect(spec.commands.map((c) => c.names[0])).toEqual([...visibleCommands, 'help']);
    expect(visibleCommands).toContain('completion');
    expect(spec.commands.map((c) => c.names[0])).not.toContain('local-daemon');
    const create = spec.commands.find((c) => c.names[0] === 'create')!;
    expect(create.flags.flatMap((f) => f.names)).toEqual(expect.arrayContaining(['--kubeconfig', '-n', '--namespace', '-f', '--values', '--set', '--type', '-h', '--help']));
    expect(create.flags.find((f) => f.names.includes('--kubeconfig'))?.value).toBe('file');
    expect(create.flags.find((f) => f.names.includes('--connect'))?.value).toBe('none');
    for (const cmd of ['create', 'upgrade']) {
      const flags = spec.commands.find((c) => c.names[0] === cmd)!.flags;
      expect(flags.find((f) => f.names.includes('--expose'))?.choices, cmd).toEqual(['ingress', 'loadbalancer', 'nodeport', 'none']);
      expect(flags.flatMap((f) => f.names), cmd).toEqual(expect.arrayContaining(['--expose-host', '--node-port']));
    }
    const list = spec.commands.find((c) => c.names[0] === 'list')!;
    expect(list.flags.find((f) => f.names.includes('--output'))?.choices).toEqual(['table', 'json', 'yaml']);
    const describeSpec = spec.commands.find((c) => c.names[0] === 'describe')!;
    expect(describeSpec.flags.flatMap((f) => f.names)).toEqual(expect.arrayContaining(['--kubeconfig', '--context', '-n', '-o', '--help']));
    expect(describeSpec.flags.find((f) => f.names.includes('--output'))?.choices).toEqual(['text', 'json', 'yaml']);
    expect(spec.commands.find((c) => c.names[0] === 'up')?.flags.find((f) => f.names.includes('--state-dir'))?.value).toBe('dir');
    expect(spec.commands.find((c) => c.names[0] === 'completion')?.args).toEqual(['bash', 'zsh', 'fish']);
    expect(spec.commands.find((c) => c.names[0] === 'help')?.args).toEqual(visibleCommands);
  });
});

describe.each(shells)('the %s script', (shell) => {
  it('names every command and flag, and its version', () => {
    const text = script(shell);
    for (const name of visibleCommands) expect(text).toMatch(new RegExp(`\\b${name}\\b`));
    for (const flag of ['--kubeconfig', '--state-dir', '--real-node', '--virtual-kubeconfig', '--keep-pvc', '--tree']) expect(text).toContain(flag);
    expect(text).not.toContain('local-daemon');
    expect(text).toContain('vnest 1.2.3');
  });
});

describe('bash completion', () => {
  it('is valid bash', () => {
    const res = spawnSync('bash', ['--norc', '-n'], { input: script('bash'), encoding: 'utf8' });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
  }, shellTimeout);

  it('registers _vnest for vnest when sourced', () => {
    const out = execFileSync('bash', ['--norc', '-c', 'eval "$SCRIPT"; complete -p vnest'], { env: { PATH: process.env.PATH, SCRIPT: script('bash') }, encoding: 'utf8' });
    expect(out.trim()).toBe('complete -F _vnest vnest');
  }, shellTimeout);

  it('completes commands, flags, choices and paths', () => {
    const cases: Array<[string[], string[] | ((got: string[]) => void)]> = [
      [['vnest', 'cr'], ['create']],
      [['vnest', ''], [...visibleCommands, 'help']],
      [['vnest', 'create', 'team-a', '--kubeconfig', 'x', '--ty'], ['--type']],
      [['vnest', 'list', '--output', ''], ['table', 'json', 'yaml']],
      [['vnest', 'list', '--output=j'], ['--output=json']],
      // = as a word of its own, as bash splits it with the default COMP_WORDBREAKS
      [['vnest', 'list', '--output', '=', 'j'], ['json']],
      [['vnest', 'completion', ''], ['bash', 'zsh', 'fish']],
      [['vnest', 'help', 'co'], ['connect', 'completion']],
      [['vnest', 'up', '--state-dir', '/'], (got) => expect(got).toContain('/tmp')],
      // after --, connect's words are another command's
      [['vnest', 'connect', 'team-a', '--', 'kubectl', 'cr'], []],
    ];
    const got = bashComplete(cases.map(([words]) => words));
    cases.forEach(([words, want], i) => {
      if (typeof want === 'function') want(got[i]!);
      else expect(got[i], words.join(' ')).toEqual(want);
    });
  }, shellTimeout);
});

describe.skipIf(!has('zsh'))('zsh completion', () => {
  it('is valid zsh', () => {
    const res = spawnSync('zsh', ['-f', '-n'], { input: script('zsh'), encoding: 'utf8' });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
  }, shellTimeout);

  it('offers what fits at the cursor', () => {
    // zsh's completion builtins, stood in for by functions that print what they were given.
    const stubs = [
      'compdef() { print -r -- "compdef $*" }',
      '_describe() { while [[ $1 == -* ]]; do shift 2; done; print -rl -- ${(P)2} }',
      'compadd() { print -rl -- ${(P)2} }',
      'compset() { }',
      '_files() { print -r -- "(files)" }',
      '_directories() { print -r -- "(directories)" }',
      '_message() { print -r -- "(message)" }',
    ].join('\n');
    const complete = (...words: string[]) => execFileSync('zsh', ['-f', '-c', `${stubs}\neval "$SCRIPT"\nwords=("$@"); CURRENT=$#\n_vnest`, 'zsh', ...words], {
      env: { PATH: process.env.PATH, SCRIPT: script('zsh') }, encoding: 'utf8',
    }).split('\n').filter(Boolean);
    expect(complete('vnest', 'cr')).toEqual(expect.arrayContaining(['compdef _vnest vnest', expect.stringMatching(/^create:install a tenant/)]));
    expect(complete('vnest', 'list', '-o', '')).toEqual(['compdef _vnest vnest', 'table', 'json', 'yaml']);
    expect(complete('vnest', 'create', '--kubeconfig', '')).toContain('(files)');
    expect(complete('vnest', 'completion', '')).toEqual(['compdef _vnest vnest', 'bash', 'zsh', 'fish']);
  }, shellTimeout);
});

describe.skipIf(!has('fish'))('fish completion', () => {
  const complete = (line: string) => execFileSync('fish', ['--no-config', '-c', 'eval $SCRIPT; complete -C $LINE'], {
    env: { PATH: process.env.PATH, SCRIPT: script('fish'), LINE: line }, encoding: 'utf8',
  }).split('\n').filter(Boolean);

  it('is valid fish', () => {
    // fish checks syntax only of a file (not of stdin, nor of -c).
    const dir = mkdtempSync(join(tmpdir(), 'vnest-fish-'));
    try {
      writeFileSync(join(dir, 'vnest.fish'), script('fish'));
      const res = spawnSync('fish', ['--no-config', '--no-execute', join(dir, 'vnest.fish')], { encoding: 'utf8' });
      expect(res.stderr).toBe('');
      expect(res.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, shellTimeout);

  it('offers what fits at the cursor, with descriptions', () => {
    expect(complete('vnest cr')).toEqual([expect.stringMatching(/^create\tinstall a tenant/)]);
    expect(complete('vnest list -o ').sort()).toEqual(['json', 'table', 'yaml']);
    expect(complete('vnest create --ty')).toEqual([expect.stringMatching(/^--type\t/)]);
    expect(complete('vnest completion ').sort()).toEqual(['bash', 'fish', 'zsh']);
  }, shellTimeout);
});

describe('vnest completion', () => {
  it('refuses a shell it does not know with the usage exit code', async () => {
    const program = buildProgram();
    let err = '';
    program.commands.find((c) => c.name() === 'completion')!.configureOutput({ writeErr: (s) => { err += s; } });
    expect(await run(['node', 'vnest', 'completion', 'tcsh'], program)).toBe(2);
    expect(err).toContain("'tcsh' is invalid");
    expect(err).toContain('bash, zsh, fish');
  });
});
