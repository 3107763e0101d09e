// A real Kubernetes node on this machine, from upstream parts: containerd (with Debian's runc),
// the CNI bridge, kubelet, kube-proxy (nftables mode) and kube-router as NetworkPolicy enforcer,
// all inside the node's own network namespace (see node-network.ts), with the pods' cgroups under
// one root of the node's own.
// Everything it makes is keyed by its slot and removed by one script (cleanup.sh in its folder),
// which `stop()` runs and the process group's watchdog runs if the test process dies first.
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { renderKubeconfig } from '../kube/kubeconfig.ts';
import { issueCertificate, type CertificateAuthority } from '../pki/certs.ts';
import type { Kit } from './kit.ts';
import { kubectlOk } from './kubectl.ts';
import { networkPolicyEnforcerSpec, networkPolicyEnforcerSynced, networkPolicyEnforcerUser } from './network-policy.ts';
import { buildNodeImages, nodeImageSpecs, pauseImage, type NodeImage } from './node-images.ts';
import type { NodeNetwork} from './node-network.ts';
import { sh } from './node-network.ts';
import { tail, type Component, type ProcessGroup } from './process.ts';
import { Sandbox } from './sandbox.ts';
import { waitFor } from './wait.ts';

/** Label every real node carries (kwok nodes carry `type: kwok`). */
export const realNodeLabels = { type: 'real', 'vnest.dev/node': 'real' };
export const runcBinary = '/usr/sbin/runc';

export interface RealNodeOptions {
  kit: Kit;
  /** The host cluster's processes: the node's run beside them and share their watchdog. */
  processes: ProcessGroup;
  /** Folder for the node's state (under the host cluster's folder). */
  dir: string;
  network: NodeNetwork;
  /** Node name. */
  name: string;
  /** The host API server, as the node reaches it (on the network's host address). */
  server: string;
  ca: CertificateAuthority;
  serviceCidr: string;
  /** The cluster DNS Service IP pods with dnsPolicy ClusterFirst get. */
  clusterDns: string;
  /**
   * Whether to run the NetworkPolicy enforcer (default true). Its ClusterRole and binding
   * (`networkPolicyEnforcerRbac()`) must exist in the host cluster before the node starts.
   */
  networkPolicy?: boolean;
  /** Images to import besides the node's own (pause, busybox, CoreDNS, k8s distro). */
  extraImages?: NodeImage[];
  timeoutMs?: number;
}

export class RealNode {
  readonly name: string;
  readonly network: NodeNetwork;
  readonly dir: string;
  readonly images: NodeImage[];
  private readonly cleanupScript: string;
  private readonly components: Component[];
  private stopped = false;

  private constructor(name: string, network: NodeNetwork, dir: string, images: NodeImage[], cleanupScript: string, components: Component[]) {
    this.name = name;
    this.network = network;
    this.dir = dir;
    this.images = images;
    this.cleanupScript = cleanupScript;
    this.components = components;
  }

  static async start(opts: RealNodeOptions): Promise<RealNode> {
    const { kit, processes, network: net, name } = opts;
    const slot = net.slot;
    const dir = opts.dir;
    const state = `/run/vnest-node-${slot}`;
    const cgroupRoot = `/vnest-node-${slot}`;
    const timeoutMs = opts.timeoutMs ?? 180_000;
    const paths = {
      containerdRoot: join(dir, 'containerd'),
      containerdSock: join(state, 'containerd.sock'),
      cniConf: join(dir, 'cni-conf'),
      cniIpam: join(dir, 'cni-ipam'),
      kubeletRoot: join(dir, 'kubelet'),
      podLogs: join(dir, 'pod-logs'),
      pki: join(dir, 'pki'),
    };
    for (const p of [dir, state, paths.cniConf, paths.cniIpam, paths.kubeletRoot, paths.podLogs, paths.pki, join(dir, 'cdi'), join(dir, 'volume-plugins')]) {
      await mkdir(p, { recursive: true });
    }
    // Processes start in the sandbox's `daemons` cgroup; the kubelet puts pods under its root.
    const sandbox = await Sandbox.create({
      cgroupRoot, dirs: [dir, state], script: join(dir, 'cleanup.sh'), network: net, processes,
      extraCleanup: fixedPlacesCleanup(slot, dir), afterRelease: devicePluginCleanup,
    });
    // A start that fails half-way removes what it made (containers included) before it reports.
    try {
      const cleanupScript = sandbox.cleanupScript;
      const inNode = (componentName: string, command: string, args: string[], env?: NodeJS.ProcessEnv) => sandbox.start(`${name}-${componentName}`, command, args, env);

      // Credentials: the kubelet as system:node:<name>, kube-proxy as system:kube-proxy, and the
      // kubelet's serving certificate for its address.
      const [kubeletClient, proxyClient, enforcerClient, kubeletServing] = await Promise.all([
        issueCertificate(opts.ca, { commonName: `system:node:${name}`, organizations: ['system:nodes'], usages: ['client'] }),
        issueCertificate(opts.ca, { commonName: 'system:kube-proxy', usages: ['client'] }),
        issueCertificate(opts.ca, { commonName: networkPolicyEnforcerUser, usages: ['client'] }),
        issueCertificate(opts.ca, { commonName: name, usages: ['server'], dnsNames: [name], ipAddresses: [net.nodeIp] }),
      ]);
      const caFile = join(paths.pki, 'ca.crt');
      await writeFile(caFile, opts.ca.certPem);
      await writeFile(join(paths.pki, 'kubelet.crt'), kubeletServing.certPem);
      await writeFile(join(paths.pki, 'kubelet.key'), kubeletServing.keyPem, { mode: 0o600 });
      const kubeletKubeconfig = join(dir, 'kubelet.kubeconfig');
      const proxyKubeconfig = join(dir, 'kube-proxy.kubeconfig');
      const enforcerKubeconfig = join(dir, 'network-policy.kubeconfig');
      await writeFile(enforcerKubeconfig, renderKubeconfig({ name: 'network-policy', server: opts.server, caPem: opts.ca.certPem, credentials: enforcerClient }), { mode: 0o600 });
      await writeFile(kubeletKubeconfig, renderKubeconfig({ name: 'kubelet', server: opts.server, caPem: opts.ca.certPem, credentials: kubeletClient }), { mode: 0o600 });
      await writeFile(proxyKubeconfig, renderKubeconfig({ name: 'kube-proxy', server: opts.server, caPem: opts.ca.certPem, credentials: proxyClient }), { mode: 0o600 });

      // containerd
      const containerdConfig = join(dir, 'containerd.toml');
      await writeFile(containerdConfig, containerdToml({ kit, state, paths, dir, slot }));
      await writeFile(join(paths.cniConf, '10-vnest.conflist'), JSON.stringify({
        cniVersion: '1.0.0',
        name: `vnest-node-${slot}`,
        plugins: [
          {
            type: 'bridge', bridge: 'cni0', isGateway: true, isDefaultGateway: true, ipMasq: false, hairpinMode: true,
            ipam: { type: 'host-local', ranges: [[{ subnet: net.podCidr }]], dataDir: paths.cniIpam },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      }, null, 2));
      const containerd = inNode('containerd', kit.node.bin.containerd, ['--config', containerdConfig]);
      const ctr = (...args: string[]) => sh(kit.node.bin.ctr, ['--address', paths.containerdSock, '--namespace', 'k8s.io', ...args]);
      await waitFor('containerd', async () => (await ctr('version')).includes('Server'), { timeoutMs, intervalMs: 200, check: () => containerd.assertRunning() });
      const images = [...(await buildNodeImages(kit, await nodeImageSpecs(kit))), ...(opts.extraImages ?? [])];
      for (const image of images) {
        await ctr('images', 'import', '--local', image.tarball);
        for (const alias of image.aliases ?? []) await ctr('images', 'tag', '--force', image.ref, alias);
      }

      // kubelet
      const resolvConf = join(dir, 'resolv.conf');
      // Pods with dnsPolicy Default (CoreDNS among them) ask their own loopback: nothing answers, so
      // nothing is forwarded off this machine.
      await writeFile(resolvConf, 'nameserver 127.0.0.1\noptions ndots:1 timeout:1 attempts:1\n');
      const kubeletConfig = join(dir, 'kubelet.yaml');
      await writeFile(kubeletConfig, stringify({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        address: net.nodeIp,
        port: 10250,
        readOnlyPort: 0,
        healthzBindAddress: '127.0.0.1',
        healthzPort: 10248,
        authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: caFile } },
        authorization: { mode: 'Webhook' },
        tlsCertFile: join(paths.pki, 'kubelet.crt'),
        tlsPrivateKeyFile: join(paths.pki, 'kubelet.key'),
        containerRuntimeEndpoint: `unix://${paths.containerdSock}`,
        // This machine mounts cgroup v1 controllers (hybrid): Kubernetes 1.37 refuses that unless told.
        cgroupDriver: 'cgroupfs',
        failCgroupV1: false,
        cgroupRoot,
        cgroupsPerQOS: true,
        enforceNodeAllocatable: ['pods'],
        failSwapOn: false,
        // Never change this machine's kernel settings: fail instead if they differ from the kubelet's.
        protectKernelDefaults: true,
        makeIPTablesUtilChains: false,
        resolvConf,
        clusterDNS: [opts.clusterDns],
        clusterDomain: 'cluster.local',
        podLogsDir: paths.podLogs,
        volumePluginDir: join(dir, 'volume-plugins'),
        // Preloaded images cannot be pulled again: never collect them, never evict for disk.
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
        serializeImagePulls: false,
        maxPods: 110,
        shutdownGracePeriod: '0s',
        registerNode: true,
      }));
      const nodeLabels = Object.entries(realNodeLabels).map(([k, v]) => `${k}=${v}`).join(',');
      const kubelet = inNode('kubelet', 'unshare', [
        // Its own mount namespace, where the kernel settings it checks read as it wants them
        // (kubeletKernelView); the volumes it mounts under its shared root reach containerd.
        '--mount', '--propagation', 'unchanged', 'sh', '-c', `${await kubeletKernelView(dir, paths.kubeletRoot)}exec "$0" "$@"`, kit.node.bin.kubelet,
        `--config=${kubeletConfig}`, `--kubeconfig=${kubeletKubeconfig}`, `--root-dir=${paths.kubeletRoot}`,
        `--cert-dir=${paths.pki}`, `--hostname-override=${name}`, `--node-ip=${net.nodeIp}`, `--node-labels=${nodeLabels}`, '--v=1',
      ]);

      // kube-proxy, nftables mode: its tables live in the node's namespace.
      const proxyConfig = join(dir, 'kube-proxy.yaml');
      await writeFile(proxyConfig, stringify({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        mode: 'nftables',
        clientConnection: { kubeconfig: proxyKubeconfig },
        hostnameOverride: name,
        bindAddress: net.nodeIp,
        healthzBindAddress: '127.0.0.1:10256',
        metricsBindAddress: '127.0.0.1:10249',
        clusterCIDR: net.podCidr,
        // Conntrack limits are this machine's: leave them alone.
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      }));
      const kubeProxy = inNode('kube-proxy', kit.node.bin.kubeProxy, [`--config=${proxyConfig}`, '--v=1']);
      const components = [containerd, kubelet, kubeProxy];
      const node = new RealNode(name, net, dir, images, cleanupScript, components);
      await waitFor(`kubelet ${name} healthy`, async () => {
        const out = await net.exec('sh', ['-c', 'busybox wget -q -O - http://127.0.0.1:10248/healthz 2>/dev/null || true']);
        return out.trim() === 'ok';
      }, { timeoutMs, intervalMs: 500, check: () => components.forEach((c) => c.assertRunning()) });

      if (opts.networkPolicy ?? true) {
        // kube-router reads its own Node at start and exits without it: start once the kubelet has
        // registered it. The node is not ready before the first sync (policies in force).
        await waitFor(`node ${name} registered`, async () => {
          await kubectlOk(kit.bin.kubectl, enforcerKubeconfig, ['get', 'node', name, '-o', 'name']);
          return true;
        }, { timeoutMs, intervalMs: 500, check: () => components.forEach((c) => c.assertRunning()) });
        const spec = networkPolicyEnforcerSpec({ binary: kit.node.bin.kubeRouter, kubeconfig: enforcerKubeconfig, nodeName: name, serviceCidr: opts.serviceCidr });
        const enforcer = inNode('network-policy', spec.command, spec.args, { PATH: await iptablesNftPath(dir), HOME: dir });
        components.push(enforcer);
        await waitFor('the NetworkPolicy enforcer\'s first sync', () => networkPolicyEnforcerSynced((c, a) => net.exec(c, a)),
          { timeoutMs, intervalMs: 500, check: () => components.forEach((c) => c.assertRunning()) });
      }
      return node;
    } catch (err) {
      await sandbox.remove();
      throw err;
    }
  }

  /** Stops every container and process of the node and removes what it made. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // The script kills every process in the node's cgroups at once (containers included); the
    // namespace, its bridge, routes and nftables tables go with them.
    await sh('sh', [this.cleanupScript]);
    for (const c of [...this.components].reverse()) await c.stop(2000);
  }

  logTails(lines = 30): string {
    return this.components.map((c) => `----- ${c.name} (${c.logFile})\n${tail(c.logFile, lines)}`).join('\n');
  }
}

/**
 * A PATH whose `iptables*` are the nftables-backed ones: they keep no lock file in this machine's
 * /run (the legacy ones do, when a machine's alternatives point at them), and their rules live in
 * the node's namespace like kube-proxy's. Then /usr/sbin for `ipset`.
 */
async function iptablesNftPath(dir: string): Promise<string> {
  const bin = join(dir, 'iptables-nft');
  await mkdir(bin, { recursive: true });
  for (const tool of ['iptables', 'iptables-save', 'iptables-restore']) {
    await symlink(`/usr/sbin/${tool.replace('iptables', 'iptables-nft')}`, join(bin, tool)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  return `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`;
}

function containerdToml(a: { kit: Kit; state: string; dir: string; slot: number; paths: { containerdRoot: string; containerdSock: string; cniConf: string } }): string {
  const q = JSON.stringify;
  return `version = 3
root = ${q(a.paths.containerdRoot)}
state = ${q(join(a.state, 'containerd'))}
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
]

[grpc]
  address = ${q(a.paths.containerdSock)}

[ttrpc]
  address = ${q(join(a.state, 'containerd.ttrpc.sock'))}

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(a.dir, 'opt'))}

[plugins."io.containerd.shim.v1.manager"]
  socket_dir = ${q(join(a.state, 's'))}

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = ${q(pauseImage)}

[plugins."io.containerd.cri.v1.runtime"]
  # No CAP_SYS_RESOURCE here: containers may not get a lower OOM score than containerd.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  cdi_spec_dirs = [${q(join(a.dir, 'cdi'))}]
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = ${q(runcBinary)}
        Root = ${q(join(a.state, 'runc'))}
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [${q(a.kit.node.cniBinDir)}]
    conf_dir = ${q(a.paths.cniConf)}

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

/** What the kubelet and libcni keep in fixed places: container log links, CNI result caches. */
function fixedPlacesCleanup(slot: number, dir: string): string {
  return `find /var/log/containers -maxdepth 1 -type l -lname '${dir}/*' -delete 2>/dev/null
for f in /var/lib/cni/results/vnest-node-${slot}-*; do
  [ -e "$f" ] || continue
  id=\${f#/var/lib/cni/results/vnest-node-${slot}-}; id=\${id%-*}
  rm -f "$f" "/var/lib/cni/results/cni-loopback-$id-lo"
done`;
}

/** The last real node also removes the kubelet's fixed device-plugin socket (when nothing else is there). */
const devicePluginCleanup = `if [ -z "$(ls -A /run/vnest/real-nodes 2>/dev/null)" ] && [ "$(ls -A /var/lib/kubelet 2>/dev/null)" = "device-plugins" ]; then
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock
  rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null
fi`;

/** The kernel settings a kubelet insists on (its setupKernelTunables), as /proc/sys paths. */
const kubeletKernelSettings: Record<string, string> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};

/**
 * A kubelet refuses to start when this machine's kernel settings differ from what it wants
 * (protectKernelDefaults), or else changes them for the whole machine. vnest changes no kernel
 * setting: the kubelet runs in a mount namespace of its own in which a file with the wanted value
 * is bound over each differing /proc/sys entry, seen by the kubelet alone. Its root folder is made
 * a shared mount first, in this machine's namespace, so the volumes the kubelet mounts there reach
 * containerd and runc (and the node's removal script unmounts them as before). Returns the shell
 * that binds the files, to run in the kubelet's namespace before it starts.
 */
async function kubeletKernelView(dir: string, kubeletRoot: string): Promise<string> {
  await sh('sh', ['-c', `mount --bind '${kubeletRoot}' '${kubeletRoot}' && mount --make-shared '${kubeletRoot}'`]);
  const folder = join(dir, 'kernel-view');
  await mkdir(folder, { recursive: true });
  let binds = '';
  for (const [path, wanted] of Object.entries(kubeletKernelSettings)) {
    const actual = (await readFile(`/proc/sys/${path}`, 'utf8').catch(() => '')).trim();
    if (actual === '' || actual === wanted) continue;
    const file = join(folder, path.replaceAll('/', '.'));
    await writeFile(file, `${wanted}\n`);
    binds += `mount --bind '${file}' '/proc/sys/${path}' && `;
  }
  return binds;
}
