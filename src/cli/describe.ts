// `vnest describe NAME`: one tenant's state on the host (its pod's containers, its volume, its
// syncer's readiness and recent errors, its front door, its host copies by kind) and, when it is
// stuck, why and what to do (diagnose.ts).
import { Command, Option } from 'commander';
import type { Cause, ContainerStatus, LogLine, TenantStatus } from './diagnose.ts';
import { podName, syncerContainer } from './diagnose.ts';
import { errors, hostClient, hostOptions, structured, tenantName, type HostFlags } from './host.ts';
import { exportedServer, readTenant, type TenantState } from './tenant-state.ts';

export interface ContainerReport {
  name: string;
  ready: boolean;
  /** running, waiting or terminated, with the reason when there is one. */
  state: string;
  restarts: number;
  image: string;
}

/** What `vnest describe -o json` (or `-o yaml`) prints. */
export interface TenantReport {
  name: string;
  namespace: string;
  status: TenantStatus;
  /** null when the host cannot tell (a tenant run without the chart). */
  ready: boolean | null;
  distro: 'k3s' | 'k8s' | '';
  helmRelease: { revision: number; status: string; chart: string; description: string } | null;
  pod: { name: string; phase: string; node: string; ip: string; containers: ContainerReport[] } | null;
  volumes: Array<{ claim: string; phase: string; storageClass: string; size: string }>;
  syncer: { ready: boolean | null; recentProblems: LogLine[] | null };
  frontDoor: { service: string; type: string; clusterIP: string; port: number | null; address: string; external: string[] } | null;
  kubeconfig: { exported: boolean; secret: string; server: string };
  /** Host objects labelled with the tenant, by plural. */
  hostObjects: Record<string, number> | null;
  causes: Cause[];
  /** What could not be read (no rights), so it is not in this report. */
  unread: string[];
}

function containerState(c: ContainerStatus): string {
  const s = c.state ?? {};
  if (s.running) return 'running';
  if (s.waiting) return `waiting${s.waiting.reason ? ` (${s.waiting.reason})` : ''}`;
  if (s.terminated) return `terminated${s.terminated.reason ? ` (${s.terminated.reason}, exit ${s.terminated.exitCode ?? '?'})` : ''}`;
  return 'unknown';
}

export function tenantReport(t: TenantState): TenantReport {
  const d = t.diagnosis;
  const containers = t.statefulSet?.spec.template.spec.containers ?? [];
  const statuses = [...(t.pod?.status?.initContainerStatuses ?? []), ...(t.pod?.status?.containerStatuses ?? [])];
  const svc = t.service;
  const port = svc?.spec?.ports?.[0];
  const syncerStatus = t.pod?.status?.containerStatuses?.find((c) => c.name === syncerContainer);
  return {
    name: t.name,
    namespace: t.namespace,
    status: d.status,
    ready: d.ready ?? null,
    distro: t.statefulSet ? (containers.some((c) => c.name === 'etcd') ? 'k8s' : 'k3s') : '',
    helmRelease: t.release ? { revision: t.release.revision, status: t.release.status, chart: t.release.chart, description: t.release.description } : null,
    pod: t.pod ? {
      name: t.pod.metadata.name,
      phase: t.pod.metadata.deletionTimestamp ? 'Terminating' : t.pod.status?.phase ?? 'Pending',
      node: t.pod.spec?.nodeName ?? '',
      ip: t.pod.status?.podIP ?? '',
      // Every container of the spec, in its order, with its status when it has one yet.
      containers: (t.pod.spec?.containers ?? containers).map((spec) => {
        const c = statuses.find((s) => s.name === spec.name);
        return { name: spec.name, ready: c?.ready ?? false, state: c ? containerState(c) : 'not created', restarts: c?.restartCount ?? 0, image: c?.image ?? spec.image ?? '' };
      }),
    } : null,
    volumes: t.claims.map((c) => ({ claim: c.metadata.name, phase: c.status?.phase ?? 'Pending', storageClass: c.spec?.storageClassName ?? '', size: c.status?.capacity?.storage ?? c.spec?.resources?.requests?.storage ?? '' })),
    syncer: { ready: t.statefulSet ? syncerStatus?.ready ?? false : null, recentProblems: t.syncerProblems ?? null },
    frontDoor: svc ? {
      service: svc.metadata.name,
      type: svc.spec?.type ?? 'ClusterIP',
      clusterIP: svc.spec?.clusterIP ?? '',
      port: port?.port ?? null,
      address: `https://${svc.metadata.name}.${t.namespace}.svc${port && port.port !== 443 ? `:${port.port}` : ''}`,
      external: [
        ...(svc.status?.loadBalancer?.ingress ?? []).map((i) => `https://${i.hostname ?? i.ip ?? ''}${port && port.port !== 443 ? `:${port.port}` : ''}`),
        ...(svc.spec?.type === 'NodePort' || svc.spec?.type === 'LoadBalancer' ? (svc.spec.ports ?? []).filter((p) => p.nodePort).map((p) => `node port ${p.nodePort}`) : []),
      ],
    } : null,
    kubeconfig: { exported: t.kubeconfigExported, secret: `${t.name}-kubeconfig`, server: t.kubeconfig ? exportedServer(t.kubeconfig) : '' },
    hostObjects: t.synced ?? null,
    causes: d.causes,
    unread: t.unread,
  };
}

function table(rows: string[][], indent: string): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  return rows.map((r) => `${indent}${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd());
}

/** The report as `vnest describe` prints it. */
export function formatReport(r: TenantReport): string {
  const out: string[] = [];
  const field = (label: string, value: string) => out.push(`${`${label}:`.padEnd(14)}${value}`);
  field('Tenant', r.name);
  field('Namespace', r.namespace);
  field('Status', `${r.status}${r.ready === null ? ' (run without the chart: its readiness is not known here)' : r.ready ? ' (ready)' : ' (not ready)'}`);
  if (r.distro) field('Distro', r.distro);
  if (r.helmRelease) field('Helm release', `revision ${r.helmRelease.revision}, ${r.helmRelease.status}${r.helmRelease.chart ? ` (chart ${r.helmRelease.chart})` : ''}`);
  if (r.frontDoor) {
    const fd = r.frontDoor;
    field('Front door', `${fd.address} (Service ${fd.service}, ${fd.type}${fd.clusterIP && fd.clusterIP !== 'None' ? ` ${fd.clusterIP}` : ''}${fd.port !== null ? `, port ${fd.port}` : ''})${fd.external.length ? `; outside: ${fd.external.join(', ')}` : ''}`);
  } else {
    field('Front door', `none (no Service ${r.name})`);
  }
  field('Kubeconfig', r.kubeconfig.exported ? `exported (Secret ${r.kubeconfig.secret}, server ${r.kubeconfig.server})` : `not exported yet (Secret ${r.kubeconfig.secret})`);
  if (r.pod) {
    field('Pod', `${r.pod.name}, ${r.pod.phase}${r.pod.node ? ` on node ${r.pod.node}` : ''}${r.pod.ip ? `, IP ${r.pod.ip}` : ''}`);
    out.push(...table([['CONTAINER', 'READY', 'STATE', 'RESTARTS', 'IMAGE'], ...r.pod.containers.map((c) => [c.name, String(c.ready), c.state, String(c.restarts), c.image])], '  '));
  } else if (r.status !== 'Unknown') {
    field('Pod', `none (${podName(r.name)} does not exist)`);
  }
  for (const v of r.volumes) field('Volume', `claim ${v.claim}, ${v.phase}${v.size ? `, ${v.size}` : ''}${v.storageClass ? `, StorageClass ${v.storageClass}` : ', default StorageClass'}`);
  if (r.syncer.ready !== null) field('Syncer', r.syncer.ready ? 'ready' : 'not ready');
  if (r.syncer.recentProblems) {
    if (r.syncer.recentProblems.length === 0) out.push('  no recent warnings or errors in its log');
    else {
      out.push('  recent warnings and errors in its log:');
      for (const l of r.syncer.recentProblems) out.push(`    ${l.time ? `${l.time} ` : ''}${l.level.toUpperCase()} ${l.message}${l.count > 1 ? ` (x${l.count})` : ''}`);
    }
  }
  if (r.hostObjects) {
    const kinds = Object.entries(r.hostObjects);
    field('Host objects', kinds.length ? `${kinds.map(([k, n]) => `${k} ${n}`).join(', ')} (labelled vnest.dev/tenant=${r.name})` : 'none counted');
  }
  if (r.causes.length) {
    out.push('', r.ready ? 'Warnings:' : 'Why it is not ready:');
    for (const c of r.causes) {
      out.push(`  ${c.reason} (${c.object}): ${c.message}`);
      out.push(`    What to do: ${c.advice}`);
    }
  }
  if (r.unread.length) out.push('', `Not read (no rights to): ${[...new Set(r.unread)].join(', ')}`);
  return `${out.join('\n')}\n`;
}

export function describeCommand(): Command {
  return hostOptions(new Command('describe'))
    .description('show a tenant\'s state: its pod\'s containers, volume, syncer readiness and recent errors, front door, host objects, and why it is not ready with what to do')
    .argument('<name>', 'tenant name', tenantName)
    .addOption(new Option('-o, --output <format>', 'output format (--config-only: yaml unless json is asked for)').choices(['text', 'json', 'yaml']).default('text'))
    .option('--config-only', 'print only the chart values the tenant was installed or upgraded with (-f and --set, as "helm get values" shows them)')
    .action(async (name: string, flags: HostFlags & { output: string; configOnly?: boolean }) => {
      const ns = flags.namespace ?? name;
      const client = await hostClient(flags);
      try {
        if (flags.configOnly) {
          const state = await readTenant(client, name, ns, { releaseRecord: true });
          if (!state.diagnosis.exists) throw errors.unknownTenant(name, ns);
          if (!state.release?.values) throw errors.unsupported(`tenant "${name}" in namespace "${ns}" has no helm release of the vnest chart (local mode, "vnest up", runs it without the chart), so it has no chart values to show`);
          process.stdout.write(structured(state.release.values, flags.output === 'json' ? 'json' : 'yaml'));
          return;
        }
        const state = await readTenant(client, name, ns, { logs: true, counts: true, releaseRecord: true });
        if (!state.diagnosis.exists) throw errors.unknownTenant(name, ns);
        const report = tenantReport(state);
        process.stdout.write(flags.output === 'text' ? formatReport(report) : structured(report, flags.output));
      } finally {
        client.close();
      }
    });
}
