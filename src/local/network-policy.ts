// The real node's NetworkPolicy enforcer: kube-router's network policy controller alone (no routing,
// no service proxy), run inside the node's network namespace. The CNI bridge enforces no policy;
// kube-router turns policies into iptables filter rules and ipsets, and br_netfilter passes the
// bridged pod-to-pod traffic through them. (kube-network-policies would be the smaller choice, but
// it hands packets to user space with nftables' `queue`, which this kernel lacks.)
import type { PolicyRule } from '../syncer/resources/index.ts';

/** The Kubernetes user the enforcer authenticates as (the CN of its client certificate). */
export const networkPolicyEnforcerUser = 'vnest:network-policy-enforcer';

/**
 * What the enforcer reads, for a ClusterRole bound to `networkPolicyEnforcerUser`. kube-router
 * gets its own Node (for the node IP) and starts informers on all of these, exiting if one cannot
 * sync, even those only its other controllers use (services, endpoints, endpoint slices). It
 * never writes.
 */
export const networkPolicyEnforcerRules: PolicyRule[] = [
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['namespaces', 'pods', 'services', 'endpoints'], verbs: ['list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list', 'watch'] },
];

/** The ClusterRole and ClusterRoleBinding that give `networkPolicyEnforcerUser` its rules. */
export function networkPolicyEnforcerRbac(): [Record<string, unknown>, Record<string, unknown>] {
  const name = networkPolicyEnforcerUser;
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: networkPolicyEnforcerRules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name }],
    },
  ];
}

export interface NetworkPolicyEnforcerOptions {
  /** The kube-router binary. */
  binary: string;
  /** A kubeconfig for `networkPolicyEnforcerUser`, whose server the node's namespace reaches. */
  kubeconfig: string;
  /** The node's name: its Node object gives the node IP, and only pods bound to it are guarded. */
  nodeName: string;
  /** The cluster's Service range (kube-router insists on a valid one; 10.96.0.0/12 by default). */
  serviceCidr: string;
  /** Period of full resyncs besides the event-driven ones (default 5m, as kube-router's). */
  resyncPeriod?: string;
  /** kube-router's log verbosity (default 0). */
  verbosity?: number;
}

/**
 * The command that runs the enforcer. Start it inside the node's network namespace (it execs
 * `iptables`, `iptables-save`, `iptables-restore` and `ipset`, which must be on PATH and act on
 * the namespace they run in); it runs as root, in the foreground, logging to stderr, and ends on
 * SIGTERM. Everything it makes (filter-table chains named KUBE-ROUTER-, KUBE-NWPLCY- and
 * KUBE-POD-FW- something, ipsets named KUBE-SRC- and KUBE-DST- something) is in that namespace and
 * goes with it.
 */
export function networkPolicyEnforcerSpec(opts: NetworkPolicyEnforcerOptions): { command: string; args: string[] } {
  return {
    command: opts.binary,
    args: [
      `--kubeconfig=${opts.kubeconfig}`,
      `--hostname-override=${opts.nodeName}`,
      '--run-firewall=true',
      '--run-router=false',
      '--run-service-proxy=false',
      '--run-loadbalancer=false',
      '--enable-ipv4=true',
      '--enable-ipv6=false',
      `--service-cluster-ip-range=${opts.serviceCidr}`,
      // No listeners: its health endpoint says OK from the start, before any sync (see below).
      '--health-port=0',
      '--metrics-port=0',
      `--iptables-sync-period=${opts.resyncPeriod ?? '5m0s'}`,
      `--v=${opts.verbosity ?? 0}`,
    ],
  };
}

/**
 * Whether the enforcer has finished its first full sync in the namespace `exec` runs commands in:
 * the last rule of its FORWARD chain goes in at the end of each sync, once its informers have
 * synced and every local pod has its chain.
 */
export async function networkPolicyEnforcerSynced(exec: (command: string, args: string[]) => Promise<string>): Promise<boolean> {
  const rules = await exec('iptables-nft', ['-t', 'filter', '-S', 'KUBE-ROUTER-FORWARD']).catch(() => '');
  return rules.includes('--mark 0x20000/0x20000 -j ACCEPT');
}
