// `vnest create/upgrade --expose KIND`: how the tenant's API is reached from outside the host
// cluster, as the chart values that say it (service.*, ingress.*), and the node address a NodePort
// tenant is reached at when the operator names none.
import { isIP } from 'node:net';
import { CliError } from './host.ts';

export const exposeKinds = ['ingress', 'loadbalancer', 'nodeport', 'none'] as const;
export type ExposeKind = (typeof exposeKinds)[number];

export interface ExposeFlags {
  expose?: ExposeKind;
  /** The Ingress host, the load-balancer IP to ask for, or the node address. */
  exposeHost?: string;
  nodePort?: string;
}

const dnsName = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const usage = (message: string) => new CliError('InvalidExpose', 2, `${message}. See "vnest create --help".`);

/**
 * The helm arguments (`--set key=value`, `--set-json key=json`) for an exposure. The chosen kind's
 * values come from the flags; the other kinds' are reset, so an upgrade (which keeps the tenant's
 * values) switches cleanly from one exposure to another. `nodeAddress` is the address to use when
 * a NodePort has no --expose-host. (A list is reset with --set-json: `--set key={}` would be a
 * list of one empty string, and a null kept by `helm upgrade --reuse-values` fails the schema.)
 */
export function exposeArgs(flags: ExposeFlags, nodeAddress?: string): string[] {
  return exposeValues(flags, nodeAddress).flatMap((v) => (v.endsWith('=[]') ? ['--set-json', v] : ['--set', v]));
}

/** The exposure as `key=value` strings (`key=[]`: an empty list); see exposeArgs. */
export function exposeValues(flags: ExposeFlags, nodeAddress?: string): string[] {
  const { expose, exposeHost: host } = flags;
  if (!expose) {
    if (host !== undefined || flags.nodePort !== undefined) throw usage('--expose-host and --node-port go with --expose ingress|loadbalancer|nodeport');
    return [];
  }
  let nodePort: number | undefined;
  if (flags.nodePort !== undefined) {
    nodePort = Number(flags.nodePort);
    if (!/^\d+$/.test(flags.nodePort) || nodePort < 1 || nodePort > 65535) throw usage(`--node-port must be a port number, not "${flags.nodePort}"`);
    if (expose !== 'nodeport' && expose !== 'loadbalancer') throw usage('--node-port goes with --expose nodeport or loadbalancer');
  }
  const noLoadBalancer = ['service.loadBalancerIP=', 'service.loadBalancerSourceRanges=[]'];
  switch (expose) {
    case 'none':
      if (host !== undefined) throw usage('--expose none takes no --expose-host');
      return ['service.type=ClusterIP', 'service.nodePort=0', 'service.nodeAddress=', ...noLoadBalancer, 'ingress.enabled=false'];
    case 'ingress':
      if (!host) throw usage('--expose ingress needs --expose-host NAME: the host name users reach the tenant\'s API at (outside the tenant\'s domain)');
      if (!dnsName.test(host)) throw usage(`--expose-host "${host}" is not a DNS name (lower-case labels joined by dots, no wildcard)`);
      return ['service.type=ClusterIP', 'service.nodePort=0', 'service.nodeAddress=', ...noLoadBalancer, 'ingress.enabled=true', `ingress.host=${host}`];
    case 'loadbalancer':
      if (host !== undefined && !isIP(host)) throw usage(`--expose-host for a load balancer is the IP address to ask for, not "${host}"`);
      return ['service.type=LoadBalancer', 'service.nodeAddress=', 'ingress.enabled=false',
        ...(host ? [`service.loadBalancerIP=${host}`] : []), ...(nodePort ? [`service.nodePort=${nodePort}`] : [])];
    case 'nodeport': {
      const address = host ?? nodeAddress;
      if (address !== undefined && !isIP(address) && !dnsName.test(address)) throw usage(`--expose-host "${address}" is neither an IP address nor a DNS name`);
      return ['service.type=NodePort', ...noLoadBalancer, 'ingress.enabled=false',
        ...(address ? [`service.nodeAddress=${address}`] : []), ...(nodePort ? [`service.nodePort=${nodePort}`] : [])];
    }
  }
}

export interface NodeLike {
  metadata: { name: string };
  spec?: { unschedulable?: boolean };
  status?: { addresses?: Array<{ type: string; address: string }>; conditions?: Array<{ type: string; status: string }> };
}

/**
 * The address a NodePort tenant is reached at when the operator names none: the first Ready node
 * (by name) with an ExternalIP, else the first with an InternalIP. Undefined when there is none.
 */
export function pickNodeAddress(nodes: NodeLike[]): { node: string; address: string; type: string } | undefined {
  const ready = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const type of ['ExternalIP', 'InternalIP']) {
    for (const n of ready) {
      const address = n.status?.addresses?.find((a) => a.type === type)?.address;
      if (address) return { node: n.metadata.name, address, type };
    }
  }
  return undefined;
}
