// What the tenant commands share: the host connection (--kubeconfig, --context, -n), CLI errors
// with stable codes and advice, and the tools they run (kubectl, helm).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { KubeClient } from '../kube/client.ts';
import { validateTenantName } from '../translate/names.ts';

/** A CLI failure: what happened, what to do, and a stable exit code. */
export class CliError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, exitCode: number, message: string) {
    super(message);
    this.code = code;
    this.exitCode = exitCode;
  }
}

export const errors = {
  invalidName: (problem: string) => new CliError('InvalidName', 2, `${problem}. Tenant names are DNS labels of at most 40 characters.`),
  noCluster: (why: string) => new CliError('NoCluster', 3, `cannot reach the host cluster: ${why}. Check KUBECONFIG or pass --kubeconfig/--context.`),
  unknownTenant: (name: string, ns: string) => new CliError('UnknownTenant', 4, `no tenant "${name}" in namespace "${ns}". Run "vnest list" to see the tenants, or pass -n NAMESPACE.`),
  toolMissing: (tool: string, env: string) => new CliError('ToolMissing', 5, `${tool} is not installed or not on PATH. Install it, or point $${env} at it.`),
  kitUnavailable: (why: string) => new CliError('KitUnavailable', 5, `local mode runs upstream components (kube-apiserver, etcd, kwok, helm, ...) that hack/build-kit.sh builds from the Go module proxy, and they are not there: ${why}. `
    + 'Install Go 1.26.8 or later and run this again (the first build takes over 20 minutes on 2 cores; it is cached in ~/.cache/vnest/kit or $VNEST_KIT_CACHE), or set $VNEST_KIT_DIR to a kit built elsewhere ("bash hack/build-kit.sh --print-dir" in a vnest checkout prints its folder).'),
  portInUse: (port: number) => new CliError('PortInUse', 6, `local port ${port} is already in use. Pick another with --local-port, or omit it to choose a free one.`),
  notReady: (what: string) => new CliError('NotReady', 7, what),
  helmFailed: (op: string, name: string, out: string) => new CliError('HelmFailed', 9, `helm could not ${op} tenant ${name}: ${out}`),
  unsupported: (what: string) => new CliError('Unsupported', 12, what),
  tenantExists: (name: string, ns: string) => new CliError('TenantExists', 10, `tenant "${name}" already exists in namespace "${ns}". Change it with "vnest upgrade ${name}${ns === name ? '' : ` -n ${ns}`}" (the same -f, --set, --domain, --type and --expose flags), or "vnest delete" it first.`),
  unknownType: (name: string, known: string[]) => new CliError('UnknownType', 8, `no tenant type "${name}" on this cluster (${known.length ? `types: ${known.join(', ')}` : 'it defines none'}). `
    + 'A platform team defines a type as ConfigMap vnest-system/vnest-type-NAME with its objects under the key manifests.yaml and/or Helm charts listed under charts.yaml.'),
};

/** A command's result as `-o json` or `-o yaml` prints it. */
export function structured(value: unknown, format: string): string {
  return format === 'yaml' ? stringify(value) : `${JSON.stringify(value, null, 2)}\n`;
}

export interface HostFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/** Adds --kubeconfig, --context and -n to a command. */
export function hostOptions(cmd: Command, namespaceHelp = 'host namespace of the tenant (default: the tenant name)'): Command {
  return cmd
    .addOption(new Option('--kubeconfig <path>', 'host cluster kubeconfig (default: $KUBECONFIG or ~/.kube/config)'))
    .addOption(new Option('--context <name>', 'kubeconfig context of the host cluster'))
    .addOption(new Option('-n, --namespace <ns>', namespaceHelp));
}

export function tenantName(name: string): string {
  const problem = validateTenantName(name);
  if (problem) throw errors.invalidName(problem);
  return name;
}

export function kubeconfigPath(flags: HostFlags): string {
  const path = flags.kubeconfig ?? process.env.KUBECONFIG?.split(':')[0] ?? join(process.env.HOME ?? '', '.kube', 'config');
  if (!existsSync(path)) throw errors.noCluster(`kubeconfig ${path} does not exist`);
  return path;
}

/** A client of the host cluster that has answered once (so "no cluster" is reported early). */
export async function hostClient(flags: HostFlags): Promise<KubeClient> {
  let client: KubeClient;
  try {
    client = await KubeClient.fromKubeconfigFile(kubeconfigPath(flags), { timeoutMs: 10_000 }, flags.context);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw errors.noCluster((err as Error).message);
  }
  try {
    await client.request('GET', '/version');
  } catch (err) {
    client.close();
    throw errors.noCluster((err as Error).message);
  }
  return client;
}

/** The path of a tool: $ENV, else the name on PATH; fails with advice when it is missing. */
export async function tool(name: 'kubectl' | 'helm'): Promise<string> {
  const env = name === 'kubectl' ? 'VNEST_KUBECTL' : 'VNEST_HELM';
  const path = process.env[env] ?? name;
  const ok = await new Promise<boolean>((resolve) => execFile(path, ['version', ...(name === 'kubectl' ? ['--client'] : [])], (err) => resolve(!err)));
  if (!ok) throw errors.toolMissing(name, env);
  return path;
}

export function hostArgs(flags: HostFlags): string[] {
  return [...(flags.kubeconfig ? [`--kubeconfig=${flags.kubeconfig}`] : []), ...(flags.context ? [`--context=${flags.context}`] : [])];
}
