// `vnest snapshot create` and `vnest restore`: a tenant's control-plane state (every key of its
// datastore at one revision) saved to a file, and written back into a tenant, through the host
// API only (a port-forward to the datastore, which listens on the tenant pod's loopback).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { waitFor } from '../local/wait.ts';
import { Etcd, EtcdError } from '../snapshot/etcd.ts';
import { decodeSnapshot, encodeSnapshot, SnapshotFormatError, type SnapshotInfo } from '../snapshot/file.ts';
import { parseOciPath, readOciSnapshot, writeOciSnapshot } from '../snapshot/oci.ts';
import { types } from '../syncer/context.ts';
import type { StatefulSetJson } from './diagnose.ts';
import { CliError, errors, hostArgs, hostClient, hostOptions, tenantName, tool, type HostFlags } from './host.ts';
import { statefulSet, waitReady } from './lifecycle.ts';
import { packageVersion } from './program.ts';
import { readTenant, readyTenant, statefulSets } from './tenant-state.ts';

const etcdPort = 2379;

export const snapshotErrors = {
  badSnapshot: (file: string, why: string) => new CliError('BadSnapshot', 11, `${file} is not a snapshot vnest can restore: ${why}. Pass a file "vnest snapshot create" wrote.`),
  fileExists: (file: string) => new CliError('FileExists', 2, `${file} already exists. Pass another --output, or remove it first.`),
};

type TemplateSpec = {
  containers: Array<{ name: string; image: string; args?: string[]; securityContext?: unknown }>;
  securityContext?: unknown; nodeSelector?: unknown; tolerations?: unknown; affinity?: unknown; imagePullSecrets?: unknown;
};
const templateOf = (sts: StatefulSetJson) => sts.spec.template.spec as TemplateSpec;

/** The tenant's distro, from its StatefulSet: an etcd container means k8s. */
const distroOf = (sts: StatefulSetJson): 'k8s' | 'k3s' => templateOf(sts).containers.some((c) => c.name === 'etcd') ? 'k8s' : 'k3s';

const k3sUnsupported = (name: string) => errors.unsupported(`tenant ${name} runs the k3s distro, whose datastore (SQLite behind kine) snapshot and restore do not support yet; they support the k8s distro (etcd)`);

/**
 * A kubectl port-forward from a free loopback port to `port` of host pod `pod`; resolves with the
 * local endpoint once it listens. The caller kills the child.
 */
async function forward(flags: HostFlags, ns: string, pod: string, port: number): Promise<{ child: ChildProcess; endpoint: string }> {
  const kubectl = await tool('kubectl');
  const child = spawn(kubectl, [...hostArgs(flags), '-n', ns, 'port-forward', '--address=127.0.0.1', `pod/${pod}`, `:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  child.stdout?.on('data', (d: Buffer) => (said += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (said += d.toString()));
  try {
    const local = await waitFor(`a port-forward to ${ns}/${pod}`, async () => /Forwarding from 127\.0\.0\.1:(\d+)/.exec(said)?.[1], {
      timeoutMs: 30_000,
      check: () => {
        if (child.exitCode !== null) throw errors.notReady(`cannot port-forward to ${ns}/${pod} (it needs the pods/portforward right in namespace ${ns}): ${said.trim()}`);
      },
    });
    return { child, endpoint: `http://127.0.0.1:${local}` };
  } catch (err) {
    child.kill();
    throw err;
  }
}

/** Runs `use` with an etcd client on the datastore of host pod `pod`, through a port-forward. */
async function withEtcd<T>(flags: HostFlags, ns: string, pod: string, use: (etcd: Etcd) => Promise<T>): Promise<T> {
  const { child, endpoint } = await forward(flags, ns, pod, etcdPort);
  const etcd = new Etcd(endpoint);
  try {
    return await use(etcd);
  } finally {
    etcd.close();
    child.kill();
  }
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

async function createSnapshot(name: string, flags: HostFlags & { output?: string }): Promise<void> {
  const ns = flags.namespace ?? name;
  const file = flags.output ?? `${name}-${stamp()}.vnest-snapshot`;
  const oci = parseOciPath(file);
  // Refused before the tenant is touched: an existing file, or tag, is never written over.
  if (oci) writeOciSnapshot(oci.dir, oci.tag, Buffer.alloc(0), '', () => snapshotErrors.fileExists(file), true);
  else if (existsSync(file)) throw snapshotErrors.fileExists(file);
  const client = await hostClient(flags);
  try {
    // What cannot be snapshotted is said before whether it is ready.
    const found = await readTenant(client, name, ns);
    if (found.statefulSet && distroOf(found.statefulSet) === 'k3s') throw k3sUnsupported(name);
    const state = await readyTenant(client, name, ns);
    if (!state.statefulSet) throw errors.unsupported(`tenant ${name} runs without the chart (local mode, "vnest up"), so there is no datastore pod to read; snapshot a tenant that "vnest create" or the chart installed`);
    const distro = distroOf(state.statefulSet);
    const { revision, kvs } = await withEtcd(flags, ns, `${name}-0`, async (etcd) => {
      try {
        return await etcd.readAll();
      } catch (err) {
        // The API server compacted the revision between two pages: read again at a newer one.
        if (err instanceof EtcdError && /compacted/.test(err.message)) return etcd.readAll();
        throw err;
      }
    });
    const info: SnapshotInfo = { tenant: name, namespace: ns, distro, revision, createdAt: new Date().toISOString(), vnestVersion: packageVersion() };
    const data = encodeSnapshot(info, kvs);
    // It holds the tenant's Secrets: readable by its owner only, and never written over.
    if (oci) writeOciSnapshot(oci.dir, oci.tag, data, info.createdAt, () => snapshotErrors.fileExists(file));
    else writeFileSync(file, data, { mode: 0o600, flag: 'wx' });
    console.log(`tenant ${name}: ${kvs.length} keys at revision ${revision} written to ${file} (${data.length} bytes). It holds the tenant's Secrets: keep it as safe as the tenant's credentials.`);
  } finally {
    client.close();
  }
}

/** The short-lived pod that runs the tenant's etcd on its volume while the tenant is stopped. */
function restorePod(name: string, ns: string, sts: StatefulSetJson, owner: KubeObject | undefined): KubeObject {
  const template = templateOf(sts);
  const etcd = template.containers.find((c) => c.name === 'etcd');
  if (!etcd) throw new Error(`tenant ${name}'s StatefulSet has no etcd container`);
  const keep = <K extends keyof TemplateSpec>(k: K) => (template[k] === undefined ? {} : { [k]: template[k] });
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: `${name}-restore`, namespace: ns,
      labels: { 'app.kubernetes.io/name': 'vnest-restore', 'app.kubernetes.io/instance': name },
      // Uninstalling the tenant takes it along, should restore not get to delete it.
      ...(owner?.metadata.uid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: owner.metadata.name, uid: owner.metadata.uid }] } : {}),
    },
    spec: {
      restartPolicy: 'Never',
      // Gone by itself within the hour even if vnest is stopped mid-restore.
      activeDeadlineSeconds: 3600,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 10,
      ...keep('securityContext'), ...keep('nodeSelector'), ...keep('tolerations'), ...keep('affinity'), ...keep('imagePullSecrets'),
      containers: [{ name: 'etcd', image: etcd.image, imagePullPolicy: 'IfNotPresent', command: ['etcd'], args: etcd.args ?? [], ...(etcd.securityContext ? { securityContext: etcd.securityContext } : {}), volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: `data-${name}-0` } }],
    },
  };
}

async function scaleTo(client: KubeClient, name: string, ns: string, replicas: number): Promise<void> {
  await client.patch(statefulSets, ns, name, { spec: { replicas } }, 'merge');
}

async function waitGone(client: KubeClient, ns: string, pod: string, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.get(types.pods, ns, pod);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    if (Date.now() > deadline) throw errors.notReady(`${what} (pod ${ns}/${pod}) did not stop within ${timeoutMs / 1000} s`);
    await sleep(1000);
  }
}

function readSnapshotFile(file: string): ReturnType<typeof decodeSnapshot> {
  const oci = parseOciPath(file);
  try {
    const data = oci ? readOciSnapshot(oci.dir, oci.tag) : readFileSync(file);
    return decodeSnapshot(data);
  } catch (err) {
    if (err instanceof SnapshotFormatError) throw snapshotErrors.badSnapshot(file, err.message);
    throw snapshotErrors.badSnapshot(file, `it cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

async function restore(name: string, flags: HostFlags & { from: string; timeout: string }): Promise<void> {
  const ns = flags.namespace ?? name;
  const timeout = Number(flags.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new CliError('InvalidTimeout', 2, `--timeout ${flags.timeout} is not a number of seconds. Pass a positive number.`);
  // The file first: a bad one changes nothing.
  const { info, kvs } = readSnapshotFile(flags.from);
  const client = await hostClient(flags);
  try {
    const sts = await statefulSet(client, name, ns);
    const distro = distroOf(sts);
    if (distro === 'k3s') throw k3sUnsupported(name);
    if (info.distro !== distro) throw snapshotErrors.badSnapshot(flags.from, `it is a snapshot of a ${info.distro} tenant, and tenant ${name} runs ${distro}`);
    if (!(sts.spec.volumeClaimTemplates ?? []).some((t) => t.metadata.name === 'data')) {
      throw errors.unsupported(`tenant ${name} keeps its state in an emptyDir (storage.persistence=false), which is lost when its pod stops for the restore. Restore into a tenant created with storage.persistence=true`);
    }
    await tool('kubectl');
    const owner = await client.get<KubeObject>(types.services, ns, name).catch(() => undefined);
    const replicas = sts.spec.replicas ?? 1;
    const pod = `${name}-restore`;
    console.error(`tenant ${name}: stopping its control plane to restore ${kvs.length} keys of tenant ${info.tenant} (revision ${info.revision}, ${info.createdAt})`);
    await scaleTo(client, name, ns, 0);
    let written = false;
    try {
      await waitGone(client, ns, `${name}-0`, `tenant ${name}'s control plane`, timeout * 1000);
      await client.create(types.pods, ns, restorePod(name, ns, sts, owner)).catch((err: unknown) => {
        throw errors.notReady(`cannot start the restore pod ${ns}/${pod} (it needs the right to create pods in namespace ${ns}; a pod of that name left by an earlier restore goes by itself within the hour, or delete it): ${(err as Error).message}`);
      });
      try {
        await waitFor(`the restore pod ${ns}/${pod} to run`, async () => (await client.get<KubeObject & { status?: { phase?: string } }>(types.pods, ns, pod)).status?.phase === 'Running', {
          timeoutMs: timeout * 1000, intervalMs: 1000,
        }).catch((err: unknown) => { throw errors.notReady(`the restore pod ${ns}/${pod} did not run: ${(err as Error).message}. "kubectl -n ${ns} describe pod ${pod}" says why`); });
        // A port-forward to a port nothing listens on yet can end; each try has its own.
        await waitFor(`etcd in the restore pod ${ns}/${pod} to answer`, () => withEtcd(flags, ns, pod, (etcd) => etcd.count()).then(() => true, () => false), { timeoutMs: 120_000, intervalMs: 1000 })
          .catch((err: unknown) => { throw errors.notReady(`${(err as Error).message}. "kubectl -n ${ns} logs ${pod}" says why`); });
        await withEtcd(flags, ns, pod, async (etcd) => {
          written = true;
          await etcd.replaceAll(kvs);
          const count = await etcd.count();
          if (count !== kvs.length) throw new Error(`the datastore holds ${count} keys after the restore, not the snapshot's ${kvs.length}`);
        });
      } finally {
        await client.delete(types.pods, ns, pod).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
        // etcd locks its data directory: the tenant's own etcd waits until this one has gone.
        await waitGone(client, ns, pod, 'the restore pod', 120_000);
      }
    } catch (err) {
      if (written) {
        throw new Error(`${(err as Error).message}. Tenant ${name} is left stopped, as its datastore may hold only part of the snapshot: run this restore again`, { cause: err });
      }
      await scaleTo(client, name, ns, replicas);
      throw err;
    }
    await scaleTo(client, name, ns, replicas);
    if (replicas === 0) {
      console.log(`tenant ${name} restored from ${flags.from} (${kvs.length} keys); it stays paused: "vnest resume ${name}${ns === name ? '' : ` -n ${ns}`}" starts it`);
      return;
    }
    await waitReady(client, name, ns, timeout);
    console.log(`tenant ${name} restored from ${flags.from} (${kvs.length} keys); its syncer reconciles the host objects with the restored state`);
  } finally {
    client.close();
  }
}

export function snapshotCommand(): Command {
  const create = hostOptions(new Command('create'))
    .description('save a running tenant\'s control-plane state (every key of its datastore at one revision) to a file; k8s distro only for now')
    .argument('<name>', 'tenant name', tenantName)
    .option('-o, --output <file>', 'the file to write (default: <name>-<UTC time>.vnest-snapshot in the current folder), or oci://DIR[:TAG] for an OCI artifact in an image layout directory (tag default: latest); an existing file or tag is never written over')
    .action((name: string, flags: HostFlags & { output?: string }) => createSnapshot(name, flags));
  return new Command('snapshot')
    .description('save a tenant\'s control-plane state to a file (see "vnest restore")')
    .addCommand(create);
}

export function restoreCommand(): Command {
  return hostOptions(new Command('restore'))
    .description('replace a tenant\'s control-plane state with a snapshot (of it or of another tenant): stops its control plane, writes the snapshot into its datastore, starts it again and waits until it is ready')
    .argument('<name>', 'tenant name', tenantName)
    .requiredOption('--from <file>', 'the snapshot "vnest snapshot create" wrote: a file, or oci://DIR[:TAG]')
    .option('--timeout <seconds>', 'how long to wait for each step (the control plane to stop, the restore pod to run, the tenant to be ready)', '600')
    .action((name: string, flags: HostFlags & { from: string; timeout: string }) => restore(name, flags));
}
