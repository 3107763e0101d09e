// `vnest kubeconfig NAME`: prints the tenant's exported kubeconfig, once the tenant is ready.
import { Command } from 'commander';
import { parse, stringify } from 'yaml';
import { hostClient, hostOptions, tenantName, type HostFlags } from './host.ts';
import { readyTenant } from './tenant-state.ts';

/** The kubeconfig with its server replaced. */
export function withServer(kubeconfig: string, server: string): string {
  const doc = parse(kubeconfig) as { clusters: Array<{ cluster: { server: string } }> };
  for (const c of doc.clusters) c.cluster.server = server;
  return stringify(doc);
}

/** The first cluster's server and CA (PEM) of a kubeconfig. */
export function serverOf(kubeconfig: string): { server: string; caPem?: string } {
  const doc = parse(kubeconfig) as { clusters?: Array<{ cluster?: { server?: string; 'certificate-authority-data'?: string } }> } | null;
  const cluster = doc?.clusters?.[0]?.cluster;
  const ca = cluster?.['certificate-authority-data'];
  return { server: cluster?.server ?? '', ...(ca ? { caPem: Buffer.from(ca, 'base64').toString('utf8') } : {}) };
}

export function kubeconfigCommand(): Command {
  return hostOptions(new Command('kubeconfig'))
    .description('print the tenant\'s kubeconfig (cluster-admin of the tenant, never host credentials); a tenant that is not ready is refused with the cause (exit 7)')
    .argument('<name>', 'tenant name', tenantName)
    .option('--server <url>', 'server address to write instead of the exported one')
    .action(async (name: string, flags: HostFlags & { server?: string }) => {
      const client = await hostClient(flags);
      try {
        const { kubeconfig } = await readyTenant(client, name, flags.namespace ?? name);
        process.stdout.write(flags.server ? withServer(kubeconfig, flags.server) : kubeconfig);
      } finally {
        client.close();
      }
    });
}
