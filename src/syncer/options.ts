// The syncer's options: one table gives each option's flag, environment variable, config-file key,
// default and check, so flags, environment and file cannot drift apart. Precedence: flag, then
// environment, then config file, then default. Every mistake is reported at once, with what to do.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse } from 'yaml';
import { childDomain, defaultRootDomain, domainProblem } from '../translate/domains.ts';
import { validateTenantName } from '../translate/names.ts';
import { podSecurityLevels, policyExceptions, serviceTypes, type IsolationPolicy, type PolicyException } from '../translate/policy.ts';
import { nodeSyncModes, tokenStorages, type NodeSyncMode, type TokenStorage } from './context.ts';
import { parseCustomResources, profiles, type CustomResourceSpec } from './custom/config.ts';

type Kind = 'string' | 'int' | 'bool' | 'list' | 'yaml';

export interface OptionSpec {
  key: string;
  flag: string;
  env: string;
  kind: Kind;
  help: string;
  default?: string | number | boolean | string[];
  /** Returns an error message for a bad value. */
  check?: (v: never) => string | undefined;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const oneOf = (name: string, known: readonly string[], v: string[]) => {
  const bad = v.filter((x) => !known.includes(x));
  return bad.length ? `${name}: unknown value(s) ${bad.join(', ')}; choose from ${known.join(', ')}` : undefined;
};
/** A DNS name a client may dial and a certificate may carry: lower-case labels, no wildcard. */
const hostName = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const hostNameProblem = (name: string, v: string) => (hostName.test(v) ? undefined : `${name}: "${v}" is not a DNS name (lower-case labels joined by dots, no wildcard)`);
/** A label key (optional DNS-subdomain prefix, then a name) and value, as Kubernetes checks them. */
const labelName = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const labelPrefix = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
function nodeSelectorProblem(entries: string[]): string | undefined {
  const bad = entries.filter((e) => {
    const eq = e.indexOf('=');
    const key = e.slice(0, eq);
    const value = e.slice(eq + 1);
    const slash = key.lastIndexOf('/');
    const keyOk = slash < 0 ? labelName.test(key) : labelPrefix.test(key.slice(0, slash)) && labelName.test(key.slice(slash + 1));
    return eq < 0 || !keyOk || !(value === '' || labelName.test(value));
  });
  return bad.length ? `--node-selector: ${bad.map((b) => `"${b}"`).join(', ')} must be key=value with a label key and value (e.g. pool=tenants)` : undefined;
}
/** `key=value` entries as a map. */
const selectorMap = (entries: string[]) => Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
const positive = (name: string) => (v: number) => (Number.isInteger(v) && v > 0 ? undefined : `${name} must be a positive integer, not ${v}`);

export const syncerOptions: OptionSpec[] = [
  { key: 'tenant', flag: '--tenant <name>', env: 'VNEST_TENANT', kind: 'string', help: 'tenant (virtual cluster) name; part of every host name', check: (v: string) => validateTenantName(v) },
  { key: 'hostNamespace', flag: '--host-namespace <ns>', env: 'VNEST_HOST_NAMESPACE', kind: 'string', help: 'host namespace the tenant\'s pods run in (default: the pod\'s own namespace in a cluster)', check: (v: string) => (dnsLabel.test(v) ? undefined : `host namespace '${v}' is not a valid namespace name`) },
  { key: 'virtualKubeconfig', flag: '--virtual-kubeconfig <path>', env: 'VNEST_VIRTUAL_KUBECONFIG', kind: 'string', help: 'kubeconfig of the tenant\'s control plane' },
  { key: 'hostKubeconfig', flag: '--host-kubeconfig <path>', env: 'VNEST_HOST_KUBECONFIG', kind: 'string', help: 'kubeconfig of the host cluster (default: in-cluster configuration)' },
  { key: 'domain', flag: '--domain <name>', env: 'VNEST_DOMAIN', kind: 'string', help: `the tenant's domain, which bounds the host names it may claim (Ingress hosts); children default to <name>.<this domain> (default: <tenant>.${defaultRootDomain})`, check: (v: string) => domainProblem(v) },
  { key: 'type', flag: '--type <name>', env: 'VNEST_TYPE', kind: 'string', help: 'the tenant type this tenant was created as (reported in its kube-public/vnest-info)', check: (v: string) => (dnsLabel.test(v) ? undefined : `--type: "${v}" is not a DNS label`) },
  { key: 'bootstrapManifests', flag: '--bootstrap-manifests <path>', env: 'VNEST_BOOTSTRAP_MANIFESTS', kind: 'string', help: 'YAML file of objects (the tenant type\'s) applied inside the tenant\'s cluster at every start, by server-side apply' },
  { key: 'ownerService', flag: '--owner-service <name>', env: 'VNEST_OWNER_SERVICE', kind: 'string', help: 'host Service that owns every synced host object (default: the tenant name; "" for none)' },
  { key: 'workers', flag: '--workers <n>', env: 'VNEST_WORKERS', kind: 'int', default: 16, help: 'concurrent reconciles per synced kind', check: positive('workers') },
  { key: 'resyncSeconds', flag: '--resync-seconds <s>', env: 'VNEST_RESYNC_SECONDS', kind: 'int', default: 600, help: 'how often every object is reconciled again', check: positive('resync-seconds') },
  { key: 'podSecurity', flag: '--pod-security <level>', env: 'VNEST_POD_SECURITY', kind: 'string', default: 'baseline', help: `Pod Security Standard tenant pods must meet on the host: ${podSecurityLevels.join(', ')}`, check: (v: string) => oneOf('--pod-security', podSecurityLevels, [v]) },
  { key: 'allow', flag: '--allow <exceptions>', env: 'VNEST_ALLOW', kind: 'list', default: [], help: `exceptions to the pod security level (comma-separated: ${policyExceptions.join(', ')}; nodeName also permits node affinity matchFields)`, check: (v: string[]) => oneOf('--allow', policyExceptions, v) },
  { key: 'allowFields', flag: '--allow-fields <paths>', env: 'VNEST_ALLOW_FIELDS', kind: 'list', default: [], help: 'fields outside vnest\'s allow-lists to copy to the host anyway, as Kind.path with [*] for list items (e.g. Pod.spec.volumes[*].nfs, Service.spec.loadBalancerIP)', check: (v: string[]) => {
    const bad = v.filter((f) => !/^(Pod|Service|PersistentVolumeClaim)\.spec(\.|$)/.test(f));
    return bad.length ? `--allow-fields: ${bad.join(', ')} must start with Pod.spec, Service.spec or PersistentVolumeClaim.spec` : undefined;
  } },
  { key: 'ingressClasses', flag: '--ingress-classes <names>', env: 'VNEST_INGRESS_CLASSES', kind: 'list', default: [], help: 'host IngressClasses tenant Ingresses may name (default: none; an Ingress that names no class gets the host\'s default class)' },
  { key: 'priorityClasses', flag: '--priority-classes <names>', env: 'VNEST_PRIORITY_CLASSES', kind: 'list', default: [], help: 'host priority classes tenant pods may name (default: none)' },
  { key: 'runtimeClasses', flag: '--runtime-classes <names>', env: 'VNEST_RUNTIME_CLASSES', kind: 'list', default: [], help: 'host runtime classes tenant pods may name (default: none)' },
  { key: 'schedulers', flag: '--schedulers <names>', env: 'VNEST_SCHEDULERS', kind: 'list', default: [], help: 'host schedulers tenant pods may name besides default-scheduler' },
  { key: 'tolerations', flag: '--tolerations <keys>', env: 'VNEST_TOLERATIONS', kind: 'list', default: [], help: 'taint keys tenant pods may tolerate besides node.kubernetes.io/not-ready and unreachable ("*": any)' },
  { key: 'hostLabels', flag: '--host-labels <keys>', env: 'VNEST_HOST_LABELS', kind: 'list', default: [], help: 'label keys, or prefixes ending in "/", copied to host objects besides unprefixed keys and app.kubernetes.io/' },
  { key: 'hostAnnotations', flag: '--host-annotations <keys>', env: 'VNEST_HOST_ANNOTATIONS', kind: 'list', default: [], help: 'annotation keys, or prefixes ending in "/", copied to host objects besides unprefixed keys (prefixed ones are what host add-ons act on)' },
  { key: 'serviceTypes', flag: '--service-types <types>', env: 'VNEST_SERVICE_TYPES', kind: 'list', default: [...serviceTypes], help: `Service types synced to the host (comma-separated: ${serviceTypes.join(', ')})`, check: (v: string[]) => oneOf('--service-types', serviceTypes, v) },
  { key: 'sharedServices', flag: '--shared-services <bool>', env: 'VNEST_SHARED_SERVICES', kind: 'bool', default: false, help: 'show the host Services their providers share with this tenant (label vnest.dev/shared=true, annotation vnest.dev/share-with) in its vnest-shared namespace; reads Services in every host namespace (a ClusterRole)' },
  { key: 'resourceMetrics', flag: '--resource-metrics <bool>', env: 'VNEST_RESOURCE_METRICS', kind: 'bool', default: false, help: 'serve metrics.k8s.io (kubectl top) in the tenant from the host\'s metrics-server: PodMetrics of the tenant\'s host pods, NodeMetrics of the nodes they run on (reads node metrics: a ClusterRole)' },
  { key: 'nodeSync', flag: '--node-sync <mode>', env: 'VNEST_NODE_SYNC', kind: 'string', default: 'fake', help: 'virtual nodes: "fake" (the host nodes running the tenant\'s pods: name, readiness, generic capacity), "real" (those nodes, mirrored: labels, capacity, conditions, taints, unschedulable) or "all" (every host node the tenant\'s pods may run on, mirrored); "real" and "all" need a ClusterRole reading nodes', check: (v: string) => (nodeSyncModes.includes(v as NodeSyncMode) ? undefined : `--node-sync must be one of ${nodeSyncModes.join(', ')}, not "${v}"`) },
  { key: 'nodeSelector', flag: '--node-selector <labels>', env: 'VNEST_NODE_SELECTOR', kind: 'list', default: [], help: 'host node labels (comma-separated key=value) the tenant\'s pods are placed by: added to every host pod\'s nodeSelector, and with --node-sync=all the nodes the tenant sees', check: (v: string[]) => nodeSelectorProblem(v) },
  { key: 'hostServiceAccount', flag: '--host-service-account <name>', env: 'VNEST_HOST_SERVICE_ACCOUNT', kind: 'string', default: 'default', help: 'host service account host pods run as (its token is never mounted)' },
  { key: 'tenantApiHost', flag: '--tenant-api-host <host>', env: 'VNEST_TENANT_API_HOST', kind: 'string', help: 'KUBERNETES_SERVICE_HOST for in-pod clients (the tenant API\'s address as pods see it)' },
  { key: 'tenantApiPort', flag: '--tenant-api-port <port>', env: 'VNEST_TENANT_API_PORT', kind: 'int', default: 443, help: 'KUBERNETES_SERVICE_PORT for in-pod clients', check: positive('tenant-api-port') },
  { key: 'tokenExpirationSeconds', flag: '--token-expiration-seconds <s>', env: 'VNEST_TOKEN_EXPIRATION_SECONDS', kind: 'int', default: 3600, help: 'lifetime of service-account tokens requested for host pods (at least 600)', check: (v: number) => (Number.isInteger(v) && v >= 600 ? undefined : `--token-expiration-seconds must be at least 600, not ${v}`) },
  { key: 'tokenStorage', flag: '--token-storage <where>', env: 'VNEST_TOKEN_STORAGE', kind: 'string', default: 'secret', help: 'where host pods get their service-account tokens: "secret" (one host Secret per service account and namespace, shared by its pods; tokens bound to the service account), "pod-secret" (a host Secret per pod, tokens bound to the pod: one host write more per pod) or "annotation" (host pod annotations, bound to the pod, but readable by whoever can read host pods)', check: (v: string) => (tokenStorages.includes(v as TokenStorage) ? undefined : `--token-storage must be one of ${tokenStorages.join(', ')}, not "${v}"`) },
  { key: 'profile', flag: '--profile <names>', env: 'VNEST_PROFILE', kind: 'list', default: [], help: `custom resource profiles to enable (comma-separated: ${Object.keys(profiles).join(', ')})` },
  { key: 'customResources', flag: '--custom-resources <yaml>', env: 'VNEST_CUSTOM_RESOURCES', kind: 'yaml', help: 'custom resource kinds to sync: a YAML or JSON list of {apiVersion, kind, direction: toHost|fromHost, selector, references: [{path, kind}], virtualNamespace, sourceNamespace}' },
  { key: 'virtualQps', flag: '--virtual-qps <n>', env: 'VNEST_VIRTUAL_QPS', kind: 'int', default: 300, help: 'requests per second to the tenant API', check: positive('virtual-qps') },
  { key: 'virtualBurst', flag: '--virtual-burst <n>', env: 'VNEST_VIRTUAL_BURST', kind: 'int', default: 600, help: 'request burst to the tenant API', check: positive('virtual-burst') },
  { key: 'hostQps', flag: '--host-qps <n>', env: 'VNEST_HOST_QPS', kind: 'int', default: 300, help: 'requests per second to the host API', check: positive('host-qps') },
  { key: 'hostBurst', flag: '--host-burst <n>', env: 'VNEST_HOST_BURST', kind: 'int', default: 600, help: 'request burst to the host API', check: positive('host-burst') },
  { key: 'listenPort', flag: '--listen-port <port>', env: 'VNEST_LISTEN_PORT', kind: 'int', default: 8443, help: 'TLS port of the tenant API front door (0: no front door)' },
  { key: 'listenAddress', flag: '--listen-address <ip>', env: 'VNEST_LISTEN_ADDRESS', kind: 'string', default: '0.0.0.0', help: 'address the front door listens on' },
  { key: 'kubeconfigServer', flag: '--kubeconfig-server <url>', env: 'VNEST_KUBECONFIG_SERVER', kind: 'string', help: 'server address in the exported kubeconfig (default: https://<tenant>.<host namespace>.svc:443)' },
  { key: 'exposeIngressHost', flag: '--expose-ingress-host <name>', env: 'VNEST_EXPOSE_INGRESS_HOST', kind: 'string', help: 'host name of an Ingress that passes TLS through to the front door (the chart\'s ingress.host): a name of the serving certificate, and https://<name>:443 is the exported kubeconfig\'s server', check: (v: string) => hostNameProblem('--expose-ingress-host', v) },
  { key: 'exposeNodeAddress', flag: '--expose-node-address <address>', env: 'VNEST_EXPOSE_NODE_ADDRESS', kind: 'string', help: 'when the tenant\'s host Service is a NodePort: the node address (IP or DNS name) users reach it at (the chart\'s service.nodeAddress): a name of the serving certificate, and https://<address>:<node port> is the exported kubeconfig\'s server', check: (v: string) => (isIP(v) ? undefined : hostNameProblem('--expose-node-address', v)) },
  { key: 'extraSans', flag: '--extra-sans <names>', env: 'VNEST_EXTRA_SANS', kind: 'list', default: [], help: 'more DNS names or IPs for the front door\'s serving certificate (comma-separated)' },
  { key: 'tenantCaCert', flag: '--tenant-ca-cert <file>', env: 'VNEST_TENANT_CA_CERT', kind: 'string', help: 'the tenant API server\'s CA certificate (PEM; the chart passes the control plane\'s): with --tenant-ca-key, the front door\'s certificates are issued by it, so the ca.crt pods get is the one the tenant\'s kube-root-ca.crt ConfigMaps hold (unset: the front door has a CA of its own, kept in the host Secret <tenant>-certs)' },
  { key: 'tenantCaKey', flag: '--tenant-ca-key <file>', env: 'VNEST_TENANT_CA_KEY', kind: 'string', help: 'the private key of --tenant-ca-cert (PEM)' },
  { key: 'egressSocket', flag: '--egress-socket <path>', env: 'VNEST_EGRESS_SOCKET', kind: 'string', help: 'a Unix socket to serve as the tenant API server\'s egress (its --egress-selector-config-file names it for "cluster" with HTTPConnect; the chart\'s k8s distro and local mode set both): exec, attach and port-forward then go through the tenant\'s API server, so its RBAC and admission webhooks see them, and the control plane can reach only the tenant\'s own pods and Services (unset: the front door serves exec, attach and port-forward from the host pods itself, unseen by the tenant\'s admission)', check: (v: string) => (Buffer.byteLength(v) > 100 ? `--egress-socket ${v} is too long for a Unix socket path (at most 100 bytes): choose a shorter one` : undefined) },
  { key: 'frontDoorIp', flag: '--front-door-ip <ip>', env: 'VNEST_FRONT_DOOR_IP', kind: 'string', help: 'the syncer pod\'s IP, for the endpoints of the tenant\'s default/kubernetes Service (default: $POD_IP)' },
  { key: 'coredns', flag: '--coredns <bool>', env: 'VNEST_COREDNS', kind: 'bool', default: true, help: 'install CoreDNS into the tenant\'s cluster and point synced pods at it (true or false)' },
  { key: 'hostsImage', flag: '--hosts-image <image>', env: 'VNEST_HOSTS_IMAGE', kind: 'string', help: 'an image with sh and sed (the chart passes the syncer\'s own): host pods of tenant pods with a subdomain (a StatefulSet\'s) get an init container from it that writes the tenant\'s name of the pod into /etc/hosts, where the host\'s kubelet writes the host namespace\'s (unset: no init container, /etc/hosts as the kubelet writes it)' },
  { key: 'corednsImage', flag: '--coredns-image <image>', env: 'VNEST_COREDNS_IMAGE', kind: 'string', default: 'registry.k8s.io/coredns/coredns:v1.12.1', help: 'CoreDNS image for the tenant\'s DNS' },
  { key: 'kubeconfigWaitSeconds', flag: '--kubeconfig-wait-seconds <s>', env: 'VNEST_KUBECONFIG_WAIT_SECONDS', kind: 'int', default: 600, help: 'how long to wait at start for the control plane\'s kubeconfig file to appear' },
  { key: 'startRetrySeconds', flag: '--start-retry-seconds <s>', env: 'VNEST_START_RETRY_SECONDS', kind: 'int', default: 600, help: 'how long the start keeps retrying when an API cannot be reached or answers with a server error (0: fail at once)', check: (v: number) => (Number.isInteger(v) && v >= 0 ? undefined : `--start-retry-seconds must be 0 or more, not ${v}`) },
  { key: 'healthPort', flag: '--health-port <port>', env: 'VNEST_HEALTH_PORT', kind: 'int', default: 0, help: 'serve /healthz, /readyz, /metrics (Prometheus) and /stats (request and work-queue counters, JSON) over HTTP on this port (0: off)' },
  { key: 'logLevel', flag: '--log-level <level>', env: 'VNEST_LOG_LEVEL', kind: 'string', default: 'info', help: 'trace, debug, info, warn or error', check: (v: string) => (['trace', 'debug', 'info', 'warn', 'error'].includes(v) ? undefined : `--log-level must be trace, debug, info, warn or error, not "${v}"`) },
];

export interface SyncerOptions {
  tenant: string;
  hostNamespace: string;
  virtualKubeconfig: string;
  hostKubeconfig?: string;
  domain: string;
  type?: string;
  bootstrapManifests?: string;
  ownerService: string;
  workers: number;
  resyncSeconds: number;
  policy: IsolationPolicy;
  nodeSync: NodeSyncMode;
  sharedServices: boolean;
  resourceMetrics: boolean;
  hostServiceAccount: string;
  tenantApiHost?: string;
  tenantApiPort: number;
  tokenExpirationSeconds: number;
  tokenStorage: TokenStorage;
  customResourceSpecs: CustomResourceSpec[];
  virtualQps: number;
  virtualBurst: number;
  hostQps: number;
  hostBurst: number;
  listenPort: number;
  listenAddress: string;
  kubeconfigServer?: string;
  exposeIngressHost?: string;
  exposeNodeAddress?: string;
  extraSans: string[];
  tenantCaCert?: string;
  tenantCaKey?: string;
  frontDoorIp?: string;
  egressSocket?: string;
  coredns: boolean;
  corednsImage: string;
  hostsImage?: string;
  kubeconfigWaitSeconds: number;
  startRetrySeconds: number;
  healthPort: number;
  logLevel: string;
}

export class OptionsError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid syncer configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'OptionsError';
    this.problems = problems;
  }
}

function coerce(spec: OptionSpec, raw: unknown, from: string): { value?: unknown; error?: string } {
  const name = spec.flag.split(' ')[0];
  switch (spec.kind) {
    case 'string':
      if (typeof raw === 'string') return { value: raw };
      if (typeof raw === 'number') return { value: String(raw) };
      return { error: `${name} (${from}) must be a string` };
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      return Number.isInteger(n) ? { value: n } : { error: `${name} (${from}) must be a whole number, not "${String(raw)}"` };
    }
    case 'bool':
      if (typeof raw === 'boolean') return { value: raw };
      if (raw === 'true' || raw === 'false') return { value: raw === 'true' };
      return { error: `${name} (${from}) must be true or false` };
    case 'yaml':
      if (typeof raw !== 'string') return { value: raw };
      try {
        return { value: parse(raw) as unknown };
      } catch (err) {
        return { error: `${name} (${from}) is not valid YAML or JSON: ${(err as Error).message}` };
      }
    case 'list':
      if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) return { value: raw };
      if (typeof raw === 'string') return { value: raw.split(',').map((s) => s.trim()).filter(Boolean) };
      return { error: `${name} (${from}) must be a comma-separated list` };
  }
}

/**
 * Resolves the options from flags (commander's parsed values, keyed like `key`), environment and
 * an optional YAML config file. Throws OptionsError listing every problem.
 */
export function resolveSyncerOptions(flags: Record<string, unknown>, env: NodeJS.ProcessEnv, configFile?: string, inClusterNamespace?: () => string | undefined): SyncerOptions {
  const problems: string[] = [];
  let file: Record<string, unknown> = {};
  if (configFile) {
    try {
      const parsed: unknown = parse(readFileSync(configFile, 'utf8'));
      if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) throw new Error('the file must hold a YAML mapping of option names to values');
      file = (parsed ?? {}) as Record<string, unknown>;
      const known = new Set(syncerOptions.map((o) => o.key));
      for (const k of Object.keys(file)) if (!known.has(k)) problems.push(`config file ${configFile}: unknown option "${k}" (known: ${[...known].join(', ')})`);
    } catch (err) {
      problems.push(`cannot read config file ${configFile}: ${(err as Error).message}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const spec of syncerOptions) {
    const sources: Array<[unknown, string]> = [[flags[spec.key], 'flag'], [env[spec.env], `$${spec.env}`], [file[spec.key], 'config file']];
    const found = sources.find(([v]) => v !== undefined);
    if (!found) {
      if (spec.default !== undefined) out[spec.key] = spec.default;
      continue;
    }
    const { value, error } = coerce(spec, found[0], found[1]);
    if (error) {
      problems.push(error);
      continue;
    }
    const bad = spec.check?.(value as never);
    if (bad) problems.push(bad);
    else out[spec.key] = value;
  }
  if (out.hostNamespace === undefined) {
    const ns = inClusterNamespace?.();
    if (ns) out.hostNamespace = ns;
  }
  if (!out.tenant) problems.push(`the tenant name is required: pass --tenant NAME or set $VNEST_TENANT`);
  if (!out.hostNamespace) problems.push('the host namespace is required outside a cluster: pass --host-namespace NS or set $VNEST_HOST_NAMESPACE');
  if (!out.virtualKubeconfig) problems.push('the tenant control plane\'s kubeconfig is required: pass --virtual-kubeconfig PATH or set $VNEST_VIRTUAL_KUBECONFIG');
  if ((out.tenantCaCert === undefined) !== (out.tenantCaKey === undefined)) problems.push('--tenant-ca-cert and --tenant-ca-key go together: pass both (the chart passes the control plane\'s CA) or neither');
  const custom = parseCustomResources(out.customResources, (out.profile as string[] | undefined) ?? []);
  problems.push(...custom.problems);
  if (problems.length) throw new OptionsError(problems);
  const strings = (key: string) => (out[key] as string[] | undefined) ?? [];
  const { allow: _a, allowFields: _f, podSecurity: _p, priorityClasses: _pc, runtimeClasses: _rc, schedulers: _s, tolerations: _t, hostLabels: _hl, hostAnnotations: _ha, serviceTypes: _st, ingressClasses: _ic, nodeSelector: _ns, ...rest } = out;
  return {
    ...(rest as unknown as SyncerOptions),
    customResourceSpecs: custom.specs,
    ownerService: (out.ownerService as string | undefined) ?? (out.tenant as string),
    domain: (out.domain as string | undefined) ?? childDomain(out.tenant as string, defaultRootDomain),
    policy: {
      podSecurity: out.podSecurity as IsolationPolicy['podSecurity'],
      allow: new Set(strings('allow') as PolicyException[]),
      allowFields: new Set(strings('allowFields')),
      priorityClasses: new Set(strings('priorityClasses')),
      runtimeClasses: new Set(strings('runtimeClasses')),
      schedulers: new Set(strings('schedulers')),
      tolerations: new Set(strings('tolerations')),
      hostLabels: strings('hostLabels'),
      hostAnnotations: strings('hostAnnotations'),
      serviceTypes: new Set(strings('serviceTypes')),
      ingressClasses: new Set(strings('ingressClasses')),
      nodeSelector: selectorMap(strings('nodeSelector')),
    },
  };
}
