// `vnest list`: the tenants on the host, across namespaces.
import { Command, Option } from 'commander';
import type { KubeObject, ResourceType } from '../kube/client.ts';
import { hostClient, type HostFlags } from './host.ts';

export const statefulSets: ResourceType = { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet', namespaced: true };

export type StatefulSet = KubeObject & { spec: { replicas?: number; template: { spec: { containers: Array<{ name: string; image: string }> } } }; status?: { readyReplicas?: number; replicas?: number } };

export interface TenantRow {
  name: string;
  namespace: string;
  status: 'Running' | 'Paused' | 'Pending';
  age: string;
  distro: 'k3s' | 'k8s';
  version: string;
}

function age(created: string | undefined): string {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(created ?? '')) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function tenantRow(s: StatefulSet): TenantRow {
  const replicas = s.spec.replicas ?? 1;
  const containers = s.spec.template.spec.containers;
  const cp = containers.find((c) => c.name === 'control-plane');
  return {
    name: s.metadata.name,
    namespace: s.metadata.namespace ?? '',
    status: replicas === 0 ? 'Paused' : (s.status?.readyReplicas ?? 0) >= replicas ? 'Running' : 'Pending',
    age: age(s.metadata.creationTimestamp),
    distro: containers.some((c) => c.name === 'etcd') ? 'k8s' : 'k3s',
    version: cp?.image.split(':').pop() ?? '',
  };
}

export function listCommand(): Command {
  return new Command('list')
    .description('list the tenants on the host cluster')
    .option('--kubeconfig <path>', 'host cluster kubeconfig (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context of the host cluster')
    .option('-n, --namespace <ns>', 'only this namespace (default: all)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (flags: HostFlags & { output: string }) => {
      const client = await hostClient(flags);
      try {
        const list = await client.list<StatefulSet>(statefulSets, flags.namespace, { labelSelector: 'app.kubernetes.io/name=vnest' });
        const rows = list.items.map(tenantRow).sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
        if (flags.output === 'json') {
          console.log(JSON.stringify(rows, null, 2));
          return;
        }
        const table = [['NAME', 'NAMESPACE', 'STATUS', 'AGE', 'DISTRO', 'VERSION'], ...rows.map((r) => [r.name, r.namespace, r.status, r.age, r.distro, r.version])];
        const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => row[i]?.length ?? 0))) ?? [];
        for (const row of table) console.log(row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('   ').trimEnd());
      } finally {
        client.close();
      }
    });
}
