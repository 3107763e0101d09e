// A real node's network: its own network namespace (held by a `sleep` process, so it goes away with
// that process), a veth pair to this machine's namespace, and a guard that lets the node and its
// pods reach nothing outside but the host API server. The pod bridge, kube-proxy's tables, routes and
// forwarding settings all live inside the namespace; this machine's namespace gains one veth and
// one route, both gone when the namespace goes.
//
// Addresses of slot k (0-255, one per real node on this machine, claimed with a lock file):
//   10.250.k.1/30  this machine's end of the veth (the host API server binds here)
//   10.250.k.2/30  the node's end (kubelet, kube-proxy, host-network pods)
//   10.251.k.0/24  the node's pods, behind the CNI bridge
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { isAlive, type Component, type ProcessGroup } from './process.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);
const lockDir = '/run/vnest/real-nodes';

/** The interface inside the node's namespace that leads to this machine. */
export const uplink = 'vnest0';

/** Runs a command as root, with its stderr in the error. */
export async function sh(command: string, args: string[], input?: string): Promise<string> {
  try {
    const child = run(command, args, { maxBuffer: 16 << 20 });
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    return (await child).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`, { cause: err });
  }
}

/** Claims a free slot: a lock file holding this process's id (a dead owner's lock is taken over). */
function claimSlot(): number {
  mkdirSync(lockDir, { recursive: true });
  for (let k = 0; k < 256; k++) {
    const file = `${lockDir}/${k}`;
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return k;
    } catch {
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) continue;
      rmSync(file, { force: true });
      try {
        writeFileSync(file, String(process.pid), { flag: 'wx' });
        return k;
      } catch {
        // another process took it between the two calls
      }
    }
  }
  throw new Error(`no free real-node slot: all 256 lock files in ${lockDir} belong to live processes`);
}

export class NodeNetwork {
  readonly slot: number;
  readonly hostIp: string;
  readonly nodeIp: string;
  readonly podCidr: string;
  /** This machine's end of the veth pair. */
  readonly hostLink: string;
  readonly holder: Component;

  private constructor(slot: number, holder: Component) {
    this.slot = slot;
    this.hostIp = `10.250.${slot}.1`;
    this.nodeIp = `10.250.${slot}.2`;
    this.podCidr = `10.251.${slot}.0/24`;
    this.hostLink = `vnest${slot}h`;
    this.holder = holder;
  }

  /** The namespace, for `nsenter --net=`. */
  get netns(): string {
    return `/proc/${this.holder.pid}/ns/net`;
  }

  get lockFile(): string {
    return `${lockDir}/${this.slot}`;
  }

  /**
   * Creates the namespace and the veth pair. Its holder runs in `processes`, so the namespace goes
   * when the group stops (or its watchdog ends it); `release()` frees the slot.
   */
  static async create(processes: ProcessGroup): Promise<NodeNetwork> {
    const slot = claimSlot();
    try {
      const holder = processes.start({ name: `netns-${slot}`, command: 'unshare', args: ['--net', 'sleep', 'infinity'] });
      const net = new NodeNetwork(slot, holder);
      await waitFor('the node network namespace', async () => {
        const [mine, theirs] = await Promise.all([sh('readlink', ['/proc/self/ns/net']), sh('readlink', [net.netns])]);
        return theirs.trim() !== '' && theirs !== mine;
      }, { timeoutMs: 10_000, intervalMs: 50, check: () => holder.assertRunning() });
      await net.configure();
      return net;
    } catch (err) {
      rmSync(`${lockDir}/${slot}`, { force: true });
      throw err;
    }
  }

  private async configure(): Promise<void> {
    const inNs = (...args: string[]) => sh('nsenter', [`--net=${this.netns}`, ...args]);
    // A leftover of a crashed run with this slot would hold the name: it is ours to remove.
    await sh('ip', ['link', 'del', this.hostLink]).catch(() => undefined);
    await sh('ip', ['link', 'add', this.hostLink, 'type', 'veth', 'peer', 'name', uplink, 'netns', String(this.holder.pid)]);
    await sh('ip', ['addr', 'add', `${this.hostIp}/30`, 'dev', this.hostLink]);
    await sh('ip', ['link', 'set', this.hostLink, 'up']);
    await inNs('ip', 'addr', 'add', `${this.nodeIp}/30`, 'dev', uplink);
    await inNs('ip', 'link', 'set', uplink, 'up');
    await inNs('ip', 'link', 'set', 'lo', 'up');
    // A Kubernetes node forwards IPv4 (kubeadm's preflight requires it): node ports lead through
    // the node to endpoints elsewhere, a front door on this machine among them. The CNI bridge
    // plugin would turn it on at the first pod; a node without pods must forward too. This is the
    // namespace's own setting, not this machine's.
    await inNs('sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
    // The host API server reaches pods (webhooks, proxies) through the node.
    await sh('ip', ['route', 'add', this.podCidr, 'via', this.nodeIp, 'dev', this.hostLink]);
  }

  /**
   * Lets traffic from the node's namespace to this machine through only to the host API server
   * (and answers to connections this machine opened); everything else toward the uplink is dropped.
   * The namespace has no default route, so nothing reaches past this machine anyway.
   */
  async guard(apiPort: number): Promise<void> {
    const allow = `oifname "${uplink}" ip daddr ${this.hostIp} tcp dport ${apiPort} accept`;
    const rules = `table inet vnest-guard {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    ct state established,related accept
    ${allow}
    oifname "${uplink}" counter drop
  }
  chain output {
    type filter hook output priority filter - 10; policy accept;
    ct state established,related accept
    ${allow}
    oifname "${uplink}" counter drop
  }
}
`;
    await sh('nsenter', [`--net=${this.netns}`, 'nft', '-f', '-'], rules);
  }

  /**
   * Lets the node's pods reach one more TCP port on this machine's end of the link: a front door
   * run as a process here (local mode, tests) that pods reach through a Service.
   */
  async allow(port: number): Promise<void> {
    const rule = `oifname "${uplink}" ip daddr ${this.hostIp} tcp dport ${port} accept`;
    await sh('nsenter', [`--net=${this.netns}`, 'nft', '-f', '-'],
      `insert rule inet vnest-guard forward ${rule}\ninsert rule inet vnest-guard output ${rule}\n`);
  }

  /** Runs a command inside the node's namespace. */
  exec(command: string, args: string[], input?: string): Promise<string> {
    return sh('nsenter', [`--net=${this.netns}`, command, ...args], input);
  }

  /** Ends the namespace (its holder) and frees the slot. The veth and route go with it. */
  async release(): Promise<void> {
    await this.holder.stop();
    await sh('ip', ['link', 'del', this.hostLink]).catch(() => undefined);
    rmSync(this.lockFile, { force: true });
  }
}
