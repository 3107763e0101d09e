// `vnest list`: the tenants of a cluster, across namespaces; with --tree, the tenants inside each
// tenant too, as deep as they go (a parent's admin reaches a child through the child's exported
// kubeconfig). A kubeconfig sees what is below its cluster and nothing above it.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { KubeClient, type KubeObject } from '../kube/client.ts';
import { isForbidden } from '../kube/errors.ts';
import { PortAllocator } from '../local/ports.ts';
import { types } from '../syncer/context.ts';
import { marks } from '../translate/metadata.ts';
import { portForward, reachable } from './connect.ts';
import { hostClient, kubeconfigPath, structured, type HostFlags } from './host.ts';
import { serverOf, withServer } from './kubeconfig.ts';
import { exportedKubeconfig, statefulSets } from './tenant-state.ts';

export type StatefulSet = KubeObject & { spec: { replicas?: number; template: { spec: { containers: Array<{ name: string; image: string }> } } }; status?: { readyReplicas?: number; replicas?: number } };

export interface TenantRow {
  name: string;
  namespace: string;
  /** From the tenant's StatefulSet; `Unknown` for a tenant run some other way (local mode, tests). */
  status: 'Running' | 'Paused' | 'Pending' | 'Unknown';
  age: string;
  distro: 'k3s' | 'k8s' | '';
  version: string;
  /** The tenant's domain, as its syncer published it ('' before it first ran). */
  domain: string;
}

export interface TenantNode extends TenantRow {
  /** The tenant whose cluster this one lives in (`namespace/name` there); null at the top. */
  parent: string | null;
  children: TenantNode[];
  /** Why the tenants inside this one could not be listed, when they could not. */
  error?: string;
}

/** How deep --tree goes at most (a guard against a cycle of kubeconfigs). */
const maxDepth = 8;

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
    domain: '',
  };
}

/**
 * The tenants of one cluster: the chart's StatefulSets, and the kubeconfig Secrets syncers export
 * (which also give tenants run without the chart, and every tenant's domain).
 */
export async function tenantsIn(client: KubeClient, namespace?: string): Promise<TenantRow[]> {
  const sets = await client.list<StatefulSet>(statefulSets, namespace, { labelSelector: 'app.kubernetes.io/name=vnest' });
  const rows = new Map(sets.items.map((s) => [`${s.metadata.namespace ?? ''}/${s.metadata.name}`, tenantRow(s)]));
  const secrets = await client.list<KubeObject>(types.secrets, namespace, { labelSelector: `${marks.kubeconfig}=true` }).catch((err: unknown) => {
    // Someone who may read StatefulSets but not Secrets still gets the chart's tenants.
    if (isForbidden(err)) return { items: [] as KubeObject[] };
    throw err;
  });
  for (const s of secrets.items) {
    const name = s.metadata.labels?.[marks.tenant];
    if (!name || s.metadata.name !== `${name}-kubeconfig`) continue;
    const key = `${s.metadata.namespace ?? ''}/${name}`;
    const row = rows.get(key) ?? { name, namespace: s.metadata.namespace ?? '', status: 'Unknown', age: age(s.metadata.creationTimestamp), distro: '', version: '', domain: '' };
    row.domain = s.metadata.annotations?.[marks.domain] ?? '';
    rows.set(key, row);
  }
  return [...rows.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/**
 * Lists the tenants of the cluster `kubeconfig` reaches and, inside each, its children: each child
 * through its exported kubeconfig, at the address it names when that answers, otherwise through a
 * port-forward to the child's pod (as `vnest connect` does). Forwards end before this returns.
 */
export async function tenantTree(client: KubeClient, top: { kubeconfig: string; context?: string; namespace?: string }): Promise<TenantNode[]> {
  const work = mkdtempSync(join(tmpdir(), 'vnest-tree-'));
  const forwards: ChildProcess[] = [];
  const ports = new PortAllocator();
  const walk = async (c: KubeClient, config: string, context: string | undefined, ns: string | undefined, parent: string | null, depth: number): Promise<TenantNode[]> => {
    const nodes: TenantNode[] = [];
    for (const row of await tenantsIn(c, ns)) {
      const node: TenantNode = { ...row, parent, children: [] };
      nodes.push(node);
      if (depth >= maxDepth) {
        node.error = `deeper than ${maxDepth} levels; not followed`;
        continue;
      }
      let child: KubeClient | undefined;
      try {
        let exported = await exportedKubeconfig(c, row.name, row.namespace);
        const { server, caPem } = serverOf(exported);
        if (!server || !(await reachable(server, caPem))) {
          const { child: pf, server: local } = await portForward({ kubeconfig: config, ...(context ? { context } : {}), localPort: String(await ports.next()) }, row.name, row.namespace);
          forwards.push(pf);
          exported = withServer(exported, local);
        }
        const file = join(work, `${depth}-${row.namespace}-${row.name}.kubeconfig`);
        writeFileSync(file, exported, { mode: 0o600 });
        child = await KubeClient.fromKubeconfigFile(file, { timeoutMs: 10_000 });
        node.children = await walk(child, file, undefined, undefined, `${row.namespace}/${row.name}`, depth + 1);
      } catch (err) {
        node.error = (err as Error).message;
      } finally {
        child?.close();
      }
    }
    return nodes;
  };
  try {
    return await walk(client, top.kubeconfig, top.context, top.namespace, null, 0);
  } finally {
    for (const f of forwards) f.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
}

function printTable(rows: Array<TenantRow & { prefix?: string }>): void {
  const table = [['NAME', 'NAMESPACE', 'STATUS', 'DOMAIN', 'AGE', 'DISTRO', 'VERSION'],
    ...rows.map((r) => [`${r.prefix ?? ''}${r.name}`, r.namespace, r.status, r.domain, r.age, r.distro, r.version])];
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => row[i]?.length ?? 0))) ?? [];
  for (const row of table) console.log(row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('   ').trimEnd());
}

/** The tree as table rows, children indented under their parent. */
function flatten(nodes: TenantNode[], indent = ''): Array<TenantNode & { prefix: string }> {
  return nodes.flatMap((n, i) => {
    const last = i === nodes.length - 1;
    const prefix = indent === '' && n.parent === null ? '' : `${indent}${last ? '└─ ' : '├─ '}`;
    const below = n.parent === null ? '' : `${indent}${last ? '   ' : '│  '}`;
    return [{ ...n, prefix }, ...flatten(n.children, below)];
  });
}

export function listCommand(): Command {
  return new Command('list')
    .description('list the tenants on the host cluster (--tree: and the tenants inside them)')
    .option('--kubeconfig <path>', 'host cluster kubeconfig (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context of the host cluster')
    .option('-n, --namespace <ns>', 'only this namespace (default: all)')
    .option('--tree', 'also list the tenants inside each tenant, as deep as they go (each through its exported kubeconfig)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table'))
    .action(async (flags: HostFlags & { output: string; tree?: boolean }) => {
      const client = await hostClient(flags);
      try {
        if (!flags.tree) {
          const rows = await tenantsIn(client, flags.namespace);
          if (flags.output === 'table') printTable(rows);
          else process.stdout.write(structured(rows, flags.output));
          return;
        }
        const nodes = await tenantTree(client, { kubeconfig: kubeconfigPath(flags), ...(flags.context ? { context: flags.context } : {}), ...(flags.namespace ? { namespace: flags.namespace } : {}) });
        if (flags.output !== 'table') {
          process.stdout.write(structured(nodes, flags.output));
          return;
        }
        const rows = flatten(nodes);
        printTable(rows);
        for (const r of rows) if (r.error) console.error(`tenants inside ${r.namespace}/${r.name} unknown: ${r.error}`);
      } finally {
        client.close();
      }
    });
}
