// `vnest create`, `pause`, `resume` and `delete`: a tenant's life on the host, through helm and the
// host API.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { parse } from 'yaml';
import type { KubeClient, KubeObject, ResourceType } from '../kube/client.ts';
import { isAlreadyExists, isNotFound } from '../kube/errors.ts';
import { types } from '../syncer/context.ts';
import { readTenantInfo } from '../syncer/tenant-info.ts';
import { marks } from '../translate/metadata.ts';
import { childDomain, defaultRootDomain, domainProblem } from '../translate/domains.ts';
import { defaultKubeconfigServer } from '../proxy/kubeconfig-export.ts';
import { exposeArgs, exposeKinds, pickNodeAddress, type ExposeFlags, type NodeLike } from './expose.ts';
import { CliError, errors, hostArgs, hostClient, hostOptions, tenantName, tool, type HostFlags } from './host.ts';
import type { StatefulSetJson } from './diagnose.ts';
import { exportedKubeconfig, notReadyError, readTenant, statefulSets, syncedKinds, type TenantState } from './tenant-state.ts';
import { namespacePodSecurity, podSecurityPlan } from './pod-security.ts';
import { renderTenantType, tenantTypes, type TypeConfigMap } from './tenant-type.ts';

const chartDir = () => process.env.VNEST_CHART ?? join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'charts', 'vnest');

/** Runs a tool; `out` is stdout and stderr for messages, `stdout` alone for parsing. */
function run(cmd: string, args: string[]): Promise<{ code: number; out: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}`.trim(), stdout }));
  });
}

const namespaces: ResourceType = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false };

/**
 * Labels the host namespace for Pod Security Admission at the level the installed release's
 * values give (helm cannot label its own release namespace), never loosening a stricter label.
 */
async function labelPodSecurity(client: KubeClient, tools: { helm: string; kubectl: string }, flags: HostFlags, name: string, ns: string): Promise<void> {
  const helmHost = hostArgs(flags).map((a) => a.replace('--context=', '--kube-context='));
  const got = await run(tools.helm, ['get', 'values', name, '--namespace', ns, '--all', '--output', 'json', ...helmHost]);
  if (got.code !== 0) throw errors.notReady(`could not read tenant ${name}'s values to label namespace ${ns} for Pod Security Admission: ${got.out}`);
  const level = namespacePodSecurity(JSON.parse(got.stdout) as unknown);
  const failed = (why: string, labels: string[]) => errors.notReady(`tenant ${name} is installed, but namespace ${ns} could not be labelled for Pod Security Admission: ${why}. `
    + `Ask whoever owns the namespace to run "kubectl label namespace ${ns} --overwrite ${labels.join(' ')}", then run this again with --no-pod-security-labels`);
  const nsObj = await client.get<{ metadata: { name: string; labels?: Record<string, string> } }>(namespaces, undefined, ns)
    .catch((err: unknown) => { throw failed((err as Error).message, podSecurityPlan(level).labels); });
  const plan = podSecurityPlan(level, nsObj.metadata.labels);
  for (const k of plan.kept) console.error(`namespace ${ns} already has Pod Security ${k.mode}=${k.level}, stricter than ${level}; left as it is (relabel it yourself to loosen it)`);
  if (plan.labels.length === 0) return;
  const res = await run(tools.kubectl, ['label', 'namespace', ns, '--overwrite', ...plan.labels, ...hostArgs(flags)]);
  if (res.code !== 0) throw failed(res.out, plan.labels);
  console.error(`namespace ${ns}: Pod Security Admission ${plan.labels.filter((l) => !l.includes('-version=')).map((l) => l.slice('pod-security.kubernetes.io/'.length)).join(', ')}`);
}

/**
 * The tenant's StatefulSet. Without one: UnknownTenant when nothing of the tenant is there,
 * NotReady with the cause when its helm release is (a failed install, say).
 */
export async function statefulSet(client: KubeClient, name: string, ns: string): Promise<StatefulSetJson> {
  try {
    return await client.get(statefulSets, ns, name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const state = await readTenant(client, name, ns);
  if (!state.diagnosis.exists) throw errors.unknownTenant(name, ns);
  throw notReadyError(state);
}

/** How many polls in a row a cause that waiting cannot fix is seen before create/upgrade gives up on it. */
const settledPolls = 3;

/**
 * Waits until the tenant is ready, printing its status and the cause that holds it back as they
 * change. Gives up (NotReady, exit 7) at the deadline, or sooner when the cause is one waiting
 * cannot fix (a missing StorageClass, a refused pod, a failed release) and it stays.
 */
export async function waitReady(client: KubeClient, name: string, ns: string, timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = '';
  let settled = 0;
  for (;;) {
    const state: TenantState = await readTenant(client, name, ns);
    const d = state.diagnosis;
    const cause = d.causes[0];
    const line = `tenant ${name}: ${d.ready ? 'Running' : d.status}${!d.ready && cause ? ` (${cause.message})` : ''}`;
    if (line !== last) console.error(line);
    last = line;
    if (d.ready) return;
    settled = cause?.needsAction ? settled + 1 : 0;
    if (settled >= settledPolls) throw notReadyError(state, `tenant ${name} is installed but cannot become ready until something is changed`);
    if (Date.now() > deadline) throw notReadyError(state, `tenant ${name} is not ready after ${timeoutSeconds} s`);
    await sleep(2000);
  }
}

/**
 * Renders the type's objects and charts (see tenant-type.ts) to a private temporary file for helm
 * --set-file; a type that is not there, or not right, stops the create before anything is installed.
 */
async function tenantTypeFile(client: KubeClient, type: string, helm: string): Promise<string> {
  let cm: TypeConfigMap;
  try {
    cm = await client.get<TypeConfigMap>(types.configmaps, tenantTypes.namespace, `${tenantTypes.prefix}${type}`);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    const all = await client.list(types.configmaps, tenantTypes.namespace).catch(() => ({ items: [] as KubeObject[] }));
    throw errors.unknownType(type, all.items.map((c) => c.metadata.name).filter((n) => n.startsWith(tenantTypes.prefix)).map((n) => n.slice(tenantTypes.prefix.length)));
  }
  const { manifests, objects } = await renderTenantType(cm, type, (args) => run(helm, args));
  console.error(`tenant type ${type}: ${objects} object(s) to apply inside the tenant`);
  const file = join(mkdtempSync(join(tmpdir(), 'vnest-type-')), 'manifests.yaml');
  writeFileSync(file, manifests, { mode: 0o600 });
  return file;
}

type InstallFlags = HostFlags & ExposeFlags & { values?: string[]; set?: string[]; domain?: string; type?: string; timeout: string; connect?: boolean; podSecurityLabels: boolean };

/** Whether the user's own -f files or --set values name the NodePort's node address. */
function namesNodeAddress(flags: InstallFlags): boolean {
  if ((flags.set ?? []).some((v) => v.startsWith('service.nodeAddress='))) return true;
  return (flags.values ?? []).some((file) => {
    try {
      const doc = parse(readFileSync(file, 'utf8')) as { service?: { nodeAddress?: unknown } } | null;
      return !!doc?.service?.nodeAddress;
    } catch {
      return false; // helm reports an unreadable values file itself
    }
  });
}

/** A node address for `--expose nodeport` without --expose-host: a Ready node's ExternalIP, else InternalIP. */
async function nodeAddressFor(client: KubeClient, name: string): Promise<string> {
  const advice = 'pass --expose-host ADDRESS, the node address (IP or DNS name) users reach the node port at';
  const nodes = await client.list<NodeLike & KubeObject>(types.nodes, undefined).catch((err: unknown) => {
    throw new CliError('NoNodeAddress', 2, `cannot list the host's nodes to find the address a NodePort is reached at (${(err as Error).message}): ${advice}`);
  });
  const picked = pickNodeAddress(nodes.items);
  if (!picked) throw new CliError('NoNodeAddress', 2, `no Ready host node has an ExternalIP or InternalIP: ${advice}`);
  console.error(`tenant ${name}'s node port: at node ${picked.node}'s ${picked.type} ${picked.address} (--expose-host chooses another address)`);
  return picked.address;
}

/** Where the exported kubeconfig says the tenant's API is, once it is ready. */
async function reportExposure(client: KubeClient, name: string, ns: string, kind: NonNullable<ExposeFlags['expose']>): Promise<void> {
  let server: string | undefined;
  try {
    server = (parse(await exportedKubeconfig(client, name, ns)) as { clusters?: Array<{ cluster?: { server?: string } }> }).clusters?.[0]?.cluster?.server;
  } catch (err) {
    // The tenant is installed and ready; only the report is missing.
    console.error(`could not read tenant ${name}'s exported kubeconfig to say where its API is (${(err as Error).message}); "vnest kubeconfig ${name}${ns === name ? '' : ` -n ${ns}`}" shows it`);
    return;
  }
  if (!server) return;
  if (kind !== 'none' && server === defaultKubeconfigServer(name, ns)) {
    console.error(`tenant ${name}'s API is not reachable from outside yet${kind === 'loadbalancer' ? ' (the host has not assigned a load-balancer address)' : ''}; its exported kubeconfig names ${server} until it is, and follows by itself`);
    return;
  }
  console.log(`tenant ${name}'s API: ${server} (the exported kubeconfig's server; "vnest kubeconfig ${name}${ns === name ? '' : ` -n ${ns}`}")`);
}

/** The flags create and upgrade share: values, domain, type, how long to wait. */
function installOptions(cmd: Command, verb: string): Command {
  return hostOptions(cmd)
    .argument('<name>', 'tenant name (also the helm release name)', tenantName)
    .option('-f, --values <file...>', 'helm values files')
    .option('--set <key=value...>', 'helm values to set')
    .option('--domain <name>', verb === 'create'
      ? 'the tenant\'s domain (default: <name>.<the host\'s domain>, the host\'s from its kube-public/vnest-info ConfigMap, else vnest.local)'
      : 'a new domain for the tenant (default: keep it)')
    .option('--type <name>', `${verb} the tenant as this type: the objects (key manifests.yaml) and Helm charts (key charts.yaml, rendered here with helm template) of the host's ConfigMap vnest-system/vnest-type-NAME are applied inside it once it runs`)
    .addOption(new Option('--expose <kind>', `${verb === 'create' ? 'expose' : 'expose (or, with none, stop exposing)'} the tenant's API outside the host cluster: ingress (an Ingress with TLS passthrough; needs --expose-host NAME), loadbalancer or nodeport (the tenant's Service type); its serving certificate and exported kubeconfig follow the address`).choices([...exposeKinds]))
    .option('--expose-host <host>', 'with --expose: the Ingress host name (outside the tenant\'s domain), the load-balancer IP to ask for, or the node address (IP or DNS name; default: a Ready node\'s ExternalIP, else InternalIP)')
    .option('--node-port <port>', 'with --expose nodeport or loadbalancer: a fixed node port (default: the host picks one)')
    .option('--timeout <seconds>', 'how long to wait for the tenant to be ready', '600')
    .option('--connect', 'connect to the tenant once it is ready (switches your kubeconfig context)')
    .option('--no-pod-security-labels', 'do not label the host namespace for Pod Security Admission (by default it enforces, warns and audits at isolation.podSecurityStandard; "baseline" for a k3s tenant at "restricted", as the k3s server runs as root)');
}

/**
 * `helm install` (create) or `helm upgrade --reuse-values` (upgrade) of the chart, then waits for
 * the tenant to be ready. Create refuses a tenant that exists, upgrade one that does not.
 */
async function install(mode: 'create' | 'upgrade', name: string, flags: InstallFlags, cmd: Command): Promise<void> {
  const ns = flags.namespace ?? name;
  const nsFlag = flags.namespace ? ` -n ${ns}` : '';
  const domainProblemText = flags.domain === undefined ? undefined : domainProblem(flags.domain);
  if (domainProblemText) throw new CliError('InvalidDomain', 2, `${domainProblemText}. Pass --domain as lower-case DNS labels joined by dots, e.g. team-a.example.org.`);
  exposeArgs(flags); // refuses flags that do not fit together before anything is done
  const helm = await tool('helm');
  // Checked before installing, so a missing kubectl does not leave a half-done install.
  const kubectl = flags.podSecurityLabels ? await tool('kubectl') : undefined;
  const chart = chartDir();
  if (!existsSync(chart)) throw errors.notReady(`the vnest chart is not at ${chart}; set $VNEST_CHART to its folder`);
  const helmHost = hostArgs(flags).map((a) => a.replace('--context=', '--kube-context='));
  const client = await hostClient(flags);
  try {
    const exists = (await run(helm, ['status', name, '--namespace', ns, ...helmHost])).code === 0;
    if (mode === 'create' && exists) throw errors.tenantExists(name, ns);
    if (mode === 'upgrade' && !exists) throw errors.unknownTenant(name, ns);
    let domainSets: string[];
    if (mode === 'create') {
      // The tenant's place in the tree: the host's domain (a tenant's, or what the platform team
      // set for the root) is the parent of the new tenant's default domain.
      const parentDomain = (await readTenantInfo(client)).domain ?? defaultRootDomain;
      domainSets = flags.domain !== undefined ? [`domain=${flags.domain}`] : [`parentDomain=${parentDomain}`];
      console.error(`installing tenant ${name} into namespace ${ns} (domain ${flags.domain ?? childDomain(name, parentDomain)}) ...`);
    } else {
      domainSets = flags.domain !== undefined ? [`domain=${flags.domain}`] : [];
      console.error(`upgrading tenant ${name} in namespace ${ns} ...`);
    }
    const nodeAddress = flags.expose === 'nodeport' && flags.exposeHost === undefined && !namesNodeAddress(flags) ? await nodeAddressFor(client, name) : undefined;
    const exposeSets = exposeArgs(flags, nodeAddress);
    const typeFile = flags.type === undefined ? undefined : await tenantTypeFile(client, flags.type, helm);
    const typeArgs = typeFile === undefined ? [] : ['--set', `type.name=${flags.type ?? ''}`, '--set-file', `type.manifests=${typeFile}`];
    let madeNamespace = false;
    if (mode === 'create') {
      // A namespace made here is the tenant's: `vnest delete` removes it (unless --keep-namespace).
      await client.create(namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, annotations: { [marks.createdFor]: name } } }).then(() => (madeNamespace = true), (err: unknown) => {
        if (!isAlreadyExists(err)) throw err;
      });
    }
    const args = [...(mode === 'create' ? ['install', name, chart] : ['upgrade', name, chart, '--reuse-values']), '--namespace', ns, ...helmHost,
      ...domainSets.flatMap((v) => ['--set', v]), ...typeArgs, ...exposeSets, ...(flags.values ?? []).flatMap((f) => ['-f', f]), ...(flags.set ?? []).flatMap((v) => ['--set', v])];
    const res = await run(helm, args);
    if (typeFile) rmSync(dirname(typeFile), { recursive: true, force: true });
    if (res.code !== 0) {
      // Nothing is left of a create that failed: the namespace made for it goes too.
      if (madeNamespace) await client.delete(namespaces, undefined, ns).catch(() => undefined);
      throw errors.helmFailed(mode === 'create' ? 'install' : 'upgrade', name, res.out);
    }
    if (kubectl) await labelPodSecurity(client, { helm, kubectl }, flags, name, ns);
    await waitReady(client, name, ns, Number(flags.timeout));
    console.log(`tenant ${name} is ready; "vnest connect ${name}${nsFlag}" to use it`);
    if (flags.expose) await reportExposure(client, name, ns, flags.expose);
  } finally {
    client.close();
  }
  if (flags.connect) {
    const connect = cmd.parent?.commands.find((c) => c.name() === 'connect');
    await connect?.parseAsync([name, ...(flags.namespace ? ['-n', ns] : [])], { from: 'user' });
  }
}

export function createCommand(): Command {
  return installOptions(new Command('create'), 'create')
    .description('install a tenant with helm and wait until it is ready (an existing tenant is refused: see upgrade)')
    .action((name: string, flags: InstallFlags, cmd: Command) => install('create', name, flags, cmd));
}

export function upgradeCommand(): Command {
  return installOptions(new Command('upgrade'), 'upgrade')
    .description('change an existing tenant (helm upgrade, keeping the values it has unless given new ones) and wait until it is ready')
    .action((name: string, flags: InstallFlags, cmd: Command) => install('upgrade', name, flags, cmd));
}

/** Scales the tenant's StatefulSet; pausing also removes its workloads' host pods. */
async function scale(flags: HostFlags, name: string, replicas: number): Promise<void> {
  const ns = flags.namespace ?? name;
  const client = await hostClient(flags);
  try {
    await statefulSet(client, name, ns);
    await client.patch(statefulSets, ns, name, { spec: { replicas } }, 'merge');
    if (replicas === 0) {
      // The syncer must be gone first, or it would bring the workloads' host pods back.
      const deadline = Date.now() + 120_000;
      while (((await statefulSet(client, name, ns)).status?.replicas ?? 0) > 0) {
        if (Date.now() > deadline) throw errors.notReady(`tenant ${name}'s pod did not stop within 120 s; its host pods were left in place`);
        await sleep(1000);
      }
      const pods = await client.list(types.pods, ns, { labelSelector: `${marks.tenant}=${name}` });
      for (const p of pods.items) await client.delete(types.pods, ns, p.metadata.name).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
      console.log(`tenant ${name} paused: control plane stopped, ${pods.items.length} host pod(s) deleted; "vnest resume ${name}" brings it back`);
    } else {
      console.log(`tenant ${name} resumed; its workloads come back as its syncer starts`);
    }
  } finally {
    client.close();
  }
}

export function pauseCommand(): Command {
  return hostOptions(new Command('pause'))
    .description('scale a tenant to zero and delete its host pods (its state stays on the volume)')
    .argument('<name>', 'tenant name', tenantName)
    .action((name: string, flags: HostFlags) => scale(flags, name, 0));
}

export function resumeCommand(): Command {
  return hostOptions(new Command('resume'))
    .description('bring a paused tenant back')
    .argument('<name>', 'tenant name', tenantName)
    .action((name: string, flags: HostFlags) => scale(flags, name, 1));
}

export function deleteCommand(): Command {
  return hostOptions(new Command('delete'))
    .description('uninstall a tenant and remove every host object it left')
    .argument('<name>', 'tenant name', tenantName)
    .option('--keep-pvc', 'keep the control plane\'s volume (the tenant\'s state)')
    .option('--keep-namespace', 'keep the host namespace even when vnest create made it')
    .action(async (name: string, flags: HostFlags & { keepPvc?: boolean; keepNamespace?: boolean }) => {
      const ns = flags.namespace ?? name;
      const client = await hostClient(flags);
      try {
        // A failed install (its helm release, no StatefulSet) is a tenant to delete too.
        const state = await readTenant(client, name, ns);
        if (!state.statefulSet && !state.release) throw errors.unknownTenant(name, ns);
        const helm = await tool('helm');
        const res = await run(helm, ['uninstall', name, '--namespace', ns, ...hostArgs(flags).map((a) => a.replace('--context=', '--kube-context='))]);
        if (res.code !== 0 && !/not found/i.test(res.out)) throw errors.notReady(`helm could not uninstall tenant ${name}: ${res.out}`);
        let removed = 0;
        for (const rt of syncedKinds) {
          const list = await client.list(rt, ns, { labelSelector: `${marks.tenant}=${name}` });
          for (const o of list.items) {
            await client.delete(rt, ns, o.metadata.name).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
            removed++;
          }
        }
        if (!flags.keepPvc) {
          await client.delete(types.pvcs, ns, `data-${name}-0`).then(() => removed++, (e: unknown) => { if (!isNotFound(e)) throw e; });
        }
        // The namespace goes too when vnest create made it for this tenant (and nothing keeps it).
        const nsObj = await client.get<KubeObject>(namespaces, undefined, ns).catch(() => undefined);
        const ours = nsObj?.metadata.annotations?.[marks.createdFor] === name;
        if (ours && !flags.keepNamespace && !flags.keepPvc) await client.delete(namespaces, undefined, ns).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
        const nsNote = !ours ? '' : flags.keepNamespace || flags.keepPvc ? `; namespace ${ns} kept` : `; namespace ${ns} deleted`;
        console.log(`tenant ${name} deleted (${removed} leftover host object(s) removed${flags.keepPvc ? '; volume kept' : ''}${nsNote})`);
      } finally {
        client.close();
      }
    });
}
