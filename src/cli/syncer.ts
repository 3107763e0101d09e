// `vnest syncer`: the in-pod process. Flags, environment and config file resolve to options; the
// process runs until SIGTERM or SIGINT, then drains work in flight and exits 0.
import { Command, Option } from 'commander';
import pino from 'pino';
import { resolveSyncerOptions, syncerOptions } from '../syncer/options.ts';
import { inClusterNamespace, startSyncer } from '../syncer/run.ts';

export function syncerCommand(): Command {
  const cmd = new Command('syncer')
    .description('run the syncer for one tenant: sync pods and what they reference between the tenant\'s control plane and its host namespace')
    .addOption(new Option('--config <file>', 'YAML file of options (keys as in the camelCase option names)').env('VNEST_CONFIG'));
  for (const spec of syncerOptions) {
    const def = spec.default === undefined ? '' : ` (default: ${Array.isArray(spec.default) ? spec.default.join(',') || 'none' : String(spec.default)})`;
    cmd.addOption(new Option(spec.flag, `${spec.help}${def}; env ${spec.env}`));
  }
  cmd.action(async (flags: Record<string, unknown>) => {
    const opts = resolveSyncerOptions(flags, process.env, flags.config as string | undefined, inClusterNamespace);
    const logger = pino({ level: opts.logLevel });
    const running = await startSyncer(opts, logger);
    await new Promise<void>((resolve) => {
      const onSignal = (signal: string) => {
        logger.info({ signal }, 'stopping: finishing work in flight');
        resolve();
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    });
    await running.stop();
    logger.info('stopped');
  });
  return cmd;
}
