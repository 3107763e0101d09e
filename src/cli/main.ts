// The vnest command: parses arguments and dispatches to one file per command.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { CustomResourceConfigError } from '../syncer/custom/discovery.ts';
import { OptionsError } from '../syncer/options.ts';
import { connectCommand, disconnectCommand } from './connect.ts';
import { CliError } from './host.ts';
import { kubeconfigCommand } from './kubeconfig.ts';
import { createCommand, deleteCommand, pauseCommand, resumeCommand, upgradeCommand } from './lifecycle.ts';
import { listCommand } from './list.ts';
import { downCommand, localDaemonCommand, upCommand } from './local.ts';
import { syncerCommand } from './syncer.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('vnest')
    .description('A whole Kubernetes cluster per tenant, inside one namespace of a shared host cluster')
    .version(pkg.version, '-v, --version', 'print the vnest version')
    .showHelpAfterError('(run "vnest --help" for usage)')
    .exitOverride();
  for (const c of [createCommand(), upgradeCommand(), listCommand(), connectCommand(), disconnectCommand(), kubeconfigCommand(), pauseCommand(), resumeCommand(), deleteCommand()]) {
    program.addCommand(c);
  }
  program.addCommand(syncerCommand());
  program.addCommand(upCommand());
  program.addCommand(downCommand());
  program.addCommand(localDaemonCommand(), { hidden: true });
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
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

process.exitCode = await main(process.argv);
