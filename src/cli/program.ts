// The vnest program: its commands (one file per command) and how its errors become exit codes.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { CustomResourceConfigError } from '../syncer/custom/discovery.ts';
import { OptionsError } from '../syncer/options.ts';
import { certsCommand } from './certs.ts';
import { connectCommand, disconnectCommand } from './connect.ts';
import { completionCommand } from './completion.ts';
import { describeCommand } from './describe.ts';
import { CliError } from './host.ts';
import { kubeconfigCommand } from './kubeconfig.ts';
import { createCommand, deleteCommand, pauseCommand, resumeCommand, upgradeCommand } from './lifecycle.ts';
import { listCommand } from './list.ts';
import { restoreCommand, snapshotCommand } from './snapshot.ts';
import { downCommand, localDaemonCommand, upCommand } from './local.ts';
import { syncerCommand } from './syncer.ts';

/** package.json beside src/ in a checkout, beside dist/ in the installed package: two levels up either way. */
export const packageVersion = (): string => (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function buildProgram(): Command {
  const program = new Command('vnest')
    .description('A whole Kubernetes cluster per tenant, inside one namespace of a shared host cluster')
    .version(packageVersion(), '-v, --version', 'print the vnest version')
    .showHelpAfterError('(run "vnest --help" for usage)')
    .exitOverride();
  for (const c of [createCommand(), upgradeCommand(), listCommand(), describeCommand(), connectCommand(), disconnectCommand(), kubeconfigCommand(), pauseCommand(), resumeCommand(), snapshotCommand(), restoreCommand(), certsCommand(), deleteCommand()]) {
    program.addCommand(c);
  }
  program.addCommand(syncerCommand());
  program.addCommand(upCommand());
  program.addCommand(downCommand());
  program.addCommand(completionCommand());
  program.addCommand(localDaemonCommand(), { hidden: true });
  // addCommand does not pass these on: every command throws instead of exiting, so run() decides
  // the exit code, and points at its own help after a usage error.
  for (const c of program.commands) {
    c.exitOverride().showHelpAfterError(`(run "vnest ${c.name()} --help" for usage)`);
    for (const sub of c.commands) sub.exitOverride().showHelpAfterError(`(run "vnest ${c.name()} ${sub.name()} --help" for usage)`);
  }
  return program;
}

/** Runs the program on `argv` (process.argv's shape) and returns the exit code. */
export async function run(argv: string[], program = buildProgram()): Promise<number> {
  try {
    await program.parseAsync(argv);
    // A command that ran another (connect -- cmd) leaves that command's exit code.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    // Help and --version exit 0; every other commander error is a usage error: exit 2, like an
    // invalid name (commander's own default would be 1, the code of an unexpected failure).
    if (err instanceof CommanderError) return err.exitCode === 1 ? 2 : err.exitCode;
    if (err instanceof CliError) {
      console.error(`vnest: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof OptionsError || err instanceof CustomResourceConfigError) {
      console.error(`vnest: ${err.message}`);
      return 2;
    }
    console.error(`vnest: ${(err as Error).message}`);
    return 1;
  }
}
