// README's command reference must match what the program accepts: every command and each of its
// flags is documented, and every flag README shows on a command exists there.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from './program.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The visible commands and their subcommands (`snapshot create`), with their long flags (help and version aside). */
function commands(): Array<{ name: string; flags: string[] }> {
  const visible = (c: Command) => c.commands.filter((sub) => !(sub as Command & { _hidden?: boolean })._hidden);
  const walk = (c: Command, prefix: string): Array<{ name: string; flags: string[] }> => visible(c).flatMap((sub) => [{
    name: `${prefix}${sub.name()}`,
    flags: sub.options.filter((o) => !o.hidden && o.long && o.long !== '--help').map((o) => o.long as string),
  }, ...walk(sub, `${prefix}${sub.name()} `)]);
  return walk(buildProgram(), '');
}

/** The flags README shows on `vnest <name> ...` lines (in commands it gives as examples), not on its subcommands'. */
function flagsShownOn(name: string, subcommands: string[] = []): string[] {
  const out = new Set<string>();
  for (const m of readme.matchAll(new RegExp(`vnest ${name}\\b([^\\n\`#|]*)`, 'g'))) {
    if (subcommands.some((sub) => new RegExp(`^ ${sub}\\b`).test(m[1] ?? ''))) continue;
    for (const f of (m[1] ?? '').matchAll(/(?<![\w-])--[a-z][a-z-]*/g)) out.add(f[0]);
  }
  return [...out];
}

describe('README and --help', () => {
  const all = commands();

  it('documents every command', () => {
    const missing = all.filter((c) => !readme.includes(`vnest ${c.name}`)).map((c) => c.name);
    expect(missing, 'commands --help lists that README never shows as "vnest <command>"').toEqual([]);
  });

  it('documents every flag of every command', () => {
    const missing = all.flatMap((c) => c.flags.filter((f) => !new RegExp(`(?<![\\w-])${f}(?![\\w-])`).test(readme)).map((f) => `vnest ${c.name} ${f}`));
    expect(missing, 'flags --help lists that README does not mention').toEqual([]);
  });

  it('shows no flag a command does not have', () => {
    expect(flagsShownOn('delete')).toContain('--keep-namespace');
    const common = ['--help', '--version'];
    const subcommandsOf = (name: string) => all.filter((c) => c.name.startsWith(`${name} `)).map((c) => c.name.slice(name.length + 1));
    const wrong = all.flatMap((c) => flagsShownOn(c.name, subcommandsOf(c.name)).filter((f) => !c.flags.includes(f) && !common.includes(f)).map((f) => `vnest ${c.name} ${f}`));
    expect(wrong, 'flags README shows on a command that its --help does not list').toEqual([]);
  });
});
