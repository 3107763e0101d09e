// A Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager (plus
// kube-scheduler when asked), with generated certificates, an admin kubeconfig, and logs in files.
// Used as the metadata-only virtual control plane of a tenant and as the core of a host cluster.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderKubeconfig } from '../kube/kubeconfig.ts';
import { createCertificateAuthority, createSigningKeyPair, issueCertificate, type CertificateAuthority, type KeyPairPem } from '../pki/certs.ts';
import { loadKit, type Kit } from './kit.ts';
import { PortAllocator } from './ports.ts';
import { ProcessGroup, type Component, type ComponentSpec } from './process.ts';
import { httpsGet, waitFor } from './wait.ts';

export const defaultServiceCidr = '10.96.0.0/16';

export interface ControlPlaneOptions {
  /** Short name for folders, log files and the kubeconfig context. */
  name?: string;
  /** Parent of the environment's temporary folder (default: the OS temp folder). */
  baseDir?: string;
  kit?: Kit;
  ports?: PortAllocator;
  serviceCidr?: string;
  /**
   * Address the API server listens on and advertises (default 127.0.0.1). A host cluster with a
   * real node binds its network's host address, so the node and its pods reach it; the
   * `kubernetes` Service then gets that address as its endpoint.
   */
  bindAddress?: string;
  /** Run kube-scheduler (host clusters do; a virtual control plane does not). */
  scheduler?: boolean;
  /** Authorise kubelets with the Node authoriser (host clusters). */
  nodeAuthorizer?: boolean;
  /**
   * Dial webhooks and aggregated API servers at their pods' IPs, not their Service IPs (default:
   * a virtual control plane does). This machine routes to a real node's pods, but Service IPs exist
   * only in the node's kube-proxy rules; an ExternalName Service (local metrics-server) then no
   * longer resolves.
   */
  aggregatorRouting?: boolean;
  startTimeoutMs?: number;
  /** Keep the temporary folder after stop (for debugging). */
  keepDir?: boolean;
  /** kube-controller-manager --controllers (default: all on-by-default controllers). */
  controllers?: string;
  /** More kube-controller-manager flags (e.g. `--node-monitor-grace-period=180s`). */
  controllerManagerArgs?: string[];
  /**
   * Also serve etcd's client API over TLS (client certificates of the cluster CA), for a syncer
   * that reads and writes the store directly, as vcluster's does (the benchmark's peer).
   */
  etcdTls?: boolean;
  /**
   * Proxy aggregated APIs (APIService objects) with a front-proxy client certificate of the cluster
   * CA, so an extension API server such as metrics-server knows who asks.
   */
  aggregator?: boolean;
  /**
   * Send the API server's connections to the cluster (kubelets, webhooks, aggregated APIs, proxy)
   * through HTTP CONNECT over the Unix socket `egressSocket` names, which a syncer serves
   * (--egress-socket): a tenant's exec, attach and port-forward then pass its admission.
   */
  egress?: boolean;
}

/** kube-apiserver's EgressSelectorConfiguration: the "cluster" traffic over HTTP CONNECT on a Unix socket. */
export function egressSelectorConfig(socketPath: string): string {
  return [
    'apiVersion: apiserver.k8s.io/v1beta1',
    'kind: EgressSelectorConfiguration',
    'egressSelections:',
    '- name: cluster',
    '  connection:',
    '    proxyProtocol: HTTPConnect',
    '    transport:',
    '      uds:',
    `        udsName: ${JSON.stringify(socketPath)}`,
    '',
  ].join('\n');
}

/** kube-apiserver's front-proxy flags, with the client certificate it proxies aggregated APIs with. */
async function aggregatorArgs(pki: string, caFile: string, client: (cn: string) => Promise<KeyPairPem>): Promise<string[]> {
  const proxyClient = await client('front-proxy-client');
  const cert = join(pki, 'front-proxy-client.crt');
  const key = join(pki, 'front-proxy-client.key');
  await Promise.all([writeFile(cert, proxyClient.certPem), writeFile(key, proxyClient.keyPem, { mode: 0o600 })]);
  return [
    `--requestheader-client-ca-file=${caFile}`, '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-username-headers=X-Remote-User', '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    `--proxy-client-cert-file=${cert}`, `--proxy-client-key-file=${key}`,
  ];
}

/** etcd's TLS client endpoint and the files a client needs for it. */
export interface EtcdTls {
  endpoint: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * A tenant's control plane runs no kubelets and no volume plumbing: node lifecycle would mark its
 * virtual nodes unreachable and evict pods, and the volume controllers would fight the syncer over
 * claim status.
 */
export const virtualControllers = [
  '*', '-node-ipam-controller', '-node-lifecycle-controller', '-taint-eviction-controller',
  '-persistentvolume-binder-controller', '-persistentvolume-attach-detach-controller',
  '-persistentvolume-expander-controller', '-ttl-controller',
].join(',');

/** The first address of a CIDR plus one: the `kubernetes` Service IP. */
export function firstServiceIp(cidr: string): string {
  const [base] = cidr.split('/');
  const parts = (base ?? '').split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`service CIDR '${cidr}' is not an IPv4 CIDR such as 10.96.0.0/16`);
  }
  parts[3] = (parts[3] ?? 0) + 1;
  return parts.join('.');
}

async function waitForApiserver(server: string, caPem: string, admin: KeyPairPem, apiserver: Component, timeoutMs: number): Promise<void> {
  await waitFor('kube-apiserver /readyz', async () => (await httpsGet(`${server}/readyz`, { caPem, ...admin })).status === 200, {
    timeoutMs,
    check: () => apiserver.assertRunning(),
  });
}

export class ControlPlane {
  readonly name: string;
  readonly dir: string;
  readonly kit: Kit;
  readonly ports: PortAllocator;
  readonly server: string;
  readonly serviceCidr: string;
  readonly kubeconfigPath: string;
  readonly ca: CertificateAuthority;
  readonly admin: KeyPairPem;
  readonly processes: ProcessGroup;
  /** Set when started with `etcdTls`. */
  readonly etcdTls: EtcdTls | undefined;
  /** etcd's plain loopback client URL (the API server's store), for fault tests (compaction). */
  readonly etcdEndpoint: string;
  /** Set when started with `egress`: the socket a syncer's --egress-socket must serve. */
  readonly egressSocket: string | undefined;
  private readonly keepDir: boolean;
  /** The cluster CA's files (ca.crt, ca.key): a syncer's --tenant-ca-cert and --tenant-ca-key. */
  get caFiles(): { cert: string; key: string } {
    return { cert: join(this.dir, 'pki', 'ca.crt'), key: join(this.dir, 'pki', 'ca.key') };
  }
  private readonly apiserver: { spec: ComponentSpec; component: Component };

  private constructor(init: {
    name: string; dir: string; kit: Kit; ports: PortAllocator; server: string; serviceCidr: string;
    kubeconfigPath: string; ca: CertificateAuthority; admin: KeyPairPem; processes: ProcessGroup; keepDir: boolean;
    apiserver: { spec: ComponentSpec; component: Component }; etcdTls: EtcdTls | undefined; etcdEndpoint: string;
    egressSocket: string | undefined;
  }) {
    this.egressSocket = init.egressSocket;
    this.etcdTls = init.etcdTls;
    this.etcdEndpoint = init.etcdEndpoint;
    this.apiserver = init.apiserver;
    this.name = init.name;
    this.dir = init.dir;
    this.kit = init.kit;
    this.ports = init.ports;
    this.server = init.server;
    this.serviceCidr = init.serviceCidr;
    this.kubeconfigPath = init.kubeconfigPath;
    this.ca = init.ca;
    this.admin = init.admin;
    this.processes = init.processes;
    this.keepDir = init.keepDir;
  }

  /** Starts every component and resolves when all are ready; on failure stops what it started. */
  static async start(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const name = opts.name ?? 'vnest';
    const kit = opts.kit ?? (await loadKit());
    const ports = opts.ports ?? new PortAllocator();
    const serviceCidr = opts.serviceCidr ?? defaultServiceCidr;
    const timeoutMs = opts.startTimeoutMs ?? 120_000;
    const dir = await mkdtemp(join(opts.baseDir ?? tmpdir(), `vnest-${name}-`));
    const processes = new ProcessGroup(dir);
    try {
      return await ControlPlane.boot({ name, kit, ports, serviceCidr, timeoutMs, dir, processes, opts });
    } catch (err) {
      await processes.stopAll();
      const logs = processes.logTails(20);
      if (!opts.keepDir) await rm(dir, { recursive: true, force: true });
      throw new Error(`control plane '${name}' did not start: ${(err as Error).message}\n${logs}`, { cause: err });
    }
  }

  private static async boot(a: {
    name: string; kit: Kit; ports: PortAllocator; serviceCidr: string; timeoutMs: number; dir: string;
    processes: ProcessGroup; opts: ControlPlaneOptions;
  }): Promise<ControlPlane> {
    const { name, kit, ports, serviceCidr, timeoutMs, dir, processes, opts } = a;
    const pki = join(dir, 'pki');
    await mkdir(pki);
    const [etcdClient, etcdPeer, apiPort, kcmPort, schedPort, etcdTlsPort] = await Promise.all([
      ports.next(), ports.next(), ports.next(), ports.next(), ports.next(), opts.etcdTls ? ports.next() : Promise.resolve(0),
    ]);
    const bind = opts.bindAddress ?? '127.0.0.1';
    const server = `https://${bind}:${apiPort}`;

    const ca = await createCertificateAuthority(`vnest-${name}-ca`);
    const serving = await issueCertificate(ca, {
      commonName: 'kube-apiserver',
      usages: ['server'],
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
      ipAddresses: [...new Set(['127.0.0.1', bind, firstServiceIp(serviceCidr)])],
    });
    const client = (commonName: string, organizations: string[] = []) =>
      issueCertificate(ca, { commonName, organizations, usages: ['client'] });
    const [admin, kcm, scheduler, kubeletClient, saKeys] = await Promise.all([
      client('vnest-admin', ['system:masters']),
      client('system:kube-controller-manager'),
      client('system:kube-scheduler'),
      client('kube-apiserver-kubelet-client', ['system:masters']),
      createSigningKeyPair(),
    ]);
    const files = {
      ca: join(pki, 'ca.crt'), caKey: join(pki, 'ca.key'),
      serving: join(pki, 'apiserver.crt'), servingKey: join(pki, 'apiserver.key'),
      kubelet: join(pki, 'kubelet-client.crt'), kubeletKey: join(pki, 'kubelet-client.key'),
      saPub: join(pki, 'sa.pub'), saKey: join(pki, 'sa.key'),
    };
    await Promise.all([
      writeFile(files.ca, ca.certPem), writeFile(files.caKey, ca.keyPem, { mode: 0o600 }),
      writeFile(files.serving, serving.certPem), writeFile(files.servingKey, serving.keyPem, { mode: 0o600 }),
      writeFile(files.kubelet, kubeletClient.certPem), writeFile(files.kubeletKey, kubeletClient.keyPem, { mode: 0o600 }),
      writeFile(files.saPub, saKeys.publicKeyPem), writeFile(files.saKey, saKeys.privateKeyPem, { mode: 0o600 }),
    ]);
    const writeKubeconfig = async (file: string, user: string, creds: KeyPairPem) => {
      const path = join(dir, file);
      await writeFile(path, renderKubeconfig({ name: user, server, caPem: ca.certPem, credentials: creds }), { mode: 0o600 });
      return path;
    };
    const kubeconfigPath = await writeKubeconfig('admin.kubeconfig', name, admin);
    const kcmKubeconfig = await writeKubeconfig('kube-controller-manager.kubeconfig', 'kube-controller-manager', kcm);
    const schedKubeconfig = await writeKubeconfig('kube-scheduler.kubeconfig', 'kube-scheduler', scheduler);

    // The API server keeps the plain loopback listener; the TLS one is for other clients only.
    let etcdTls: EtcdTls | undefined;
    const etcdTlsArgs: string[] = [];
    if (opts.etcdTls) {
      const [etcdServing, etcdClientCert] = await Promise.all([
        issueCertificate(ca, { commonName: 'etcd', usages: ['server'], dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }),
        client('etcd-client'),
      ]);
      etcdTls = { endpoint: `https://127.0.0.1:${etcdTlsPort}`, caFile: files.ca, certFile: join(pki, 'etcd-client.crt'), keyFile: join(pki, 'etcd-client.key') };
      await Promise.all([
        writeFile(join(pki, 'etcd.crt'), etcdServing.certPem), writeFile(join(pki, 'etcd.key'), etcdServing.keyPem, { mode: 0o600 }),
        writeFile(etcdTls.certFile, etcdClientCert.certPem), writeFile(etcdTls.keyFile, etcdClientCert.keyPem, { mode: 0o600 }),
      ]);
      etcdTlsArgs.push(`--cert-file=${join(pki, 'etcd.crt')}`, `--key-file=${join(pki, 'etcd.key')}`, `--trusted-ca-file=${files.ca}`, '--client-cert-auth');
    }
    const clientUrls = [`http://127.0.0.1:${etcdClient}`, ...(etcdTls ? [etcdTls.endpoint] : [])].join(',');
    const etcd = processes.start({
      name: 'etcd',
      command: kit.bin.etcd,
      args: [
        '--name=default', `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${clientUrls}`, `--advertise-client-urls=${clientUrls}`, ...etcdTlsArgs,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
        // A test bed: durability across power loss does not matter, speed does.
        '--unsafe-no-fsync', '--log-level=warn', '--quota-backend-bytes=2147483648',
      ],
    });
    await waitFor('etcd health', async () => {
      const res = await fetch(`http://127.0.0.1:${etcdClient}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    }, { timeoutMs, check: () => etcd.assertRunning() });

    const egressSocket = opts.egress ? join(dir, 'egress.sock') : undefined;
    const egressArgs: string[] = [];
    if (egressSocket) {
      // sun_path holds 108 bytes.
      if (Buffer.byteLength(egressSocket) > 100) throw new Error(`the egress socket path ${egressSocket} is too long for a Unix socket: choose a shorter baseDir`);
      await writeFile(join(dir, 'egress.yaml'), egressSelectorConfig(egressSocket));
      egressArgs.push(`--egress-selector-config-file=${join(dir, 'egress.yaml')}`);
    }
    const apiserverSpec = {
      name: 'kube-apiserver',
      command: kit.bin.kubeApiserver,
      args: [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        `--bind-address=${bind}`, `--advertise-address=${bind}`, `--secure-port=${apiPort}`,
        `--tls-cert-file=${files.serving}`, `--tls-private-key-file=${files.servingKey}`,
        `--client-ca-file=${files.ca}`,
        `--authorization-mode=${opts.nodeAuthorizer ? 'Node,RBAC' : 'RBAC'}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        // A tenant's pods reach its API at kubernetes.default.svc (the front door), never at this
        // address: the issuer's discovery document names the keys there.
        ...(opts.scheduler ? [] : ['--service-account-jwks-uri=https://kubernetes.default.svc.cluster.local/openid/v1/jwks']),
        `--service-account-key-file=${files.saPub}`, `--service-account-signing-key-file=${files.saKey}`,
        `--service-cluster-ip-range=${serviceCidr}`,
        '--allow-privileged=true',
        '--kubelet-preferred-address-types=InternalIP,Hostname',
        `--kubelet-client-certificate=${files.kubelet}`, `--kubelet-client-key=${files.kubeletKey}`,
        // Loopback is not a valid Endpoints address, so the kubernetes Service gets none then.
        `--endpoint-reconciler-type=${bind === '127.0.0.1' ? 'none' : 'lease'}`,
        ...((opts.aggregatorRouting ?? !opts.scheduler) ? ['--enable-aggregator-routing=true'] : []),
        '--profiling=false', `--cert-dir=${join(dir, 'apiserver-certs')}`,
        ...(opts.aggregator ? await aggregatorArgs(pki, files.ca, client) : []),
        ...egressArgs,
      ],
    };
    const apiserver = processes.start(apiserverSpec);
    await waitForApiserver(server, ca.certPem, admin, apiserver, timeoutMs);

    const started: Component[] = [];
    started.push(processes.start({
      name: 'kube-controller-manager',
      command: kit.bin.kubeControllerManager,
      args: [
        `--kubeconfig=${kcmKubeconfig}`,
        '--bind-address=127.0.0.1', `--secure-port=${kcmPort}`, `--cert-dir=${join(dir, 'kcm-certs')}`,
        '--leader-elect=false', '--use-service-account-credentials=true',
        `--service-account-private-key-file=${files.saKey}`, `--root-ca-file=${files.ca}`,
        `--cluster-signing-cert-file=${files.ca}`, `--cluster-signing-key-file=${files.caKey}`,
        `--service-cluster-ip-range=${serviceCidr}`,
        `--controllers=${opts.controllers ?? '*'}`,
        '--profiling=false',
        ...(opts.controllerManagerArgs ?? []),
      ],
    }));
    if (opts.scheduler) {
      started.push(processes.start({
        name: 'kube-scheduler',
        command: kit.bin.kubeScheduler,
        args: [
          `--kubeconfig=${schedKubeconfig}`,
          '--bind-address=127.0.0.1', `--secure-port=${schedPort}`, `--cert-dir=${join(dir, 'scheduler-certs')}`,
          '--leader-elect=false', '--profiling=false',
        ],
      }));
    }
    const checkAll = () => started.forEach((c) => c.assertRunning());
    await Promise.all([
      waitFor('kube-controller-manager /healthz', async () => (await httpsGet(`https://127.0.0.1:${kcmPort}/healthz`, { insecure: true })).status === 200, { timeoutMs, check: checkAll }),
      opts.scheduler
        ? waitFor('kube-scheduler /healthz', async () => (await httpsGet(`https://127.0.0.1:${schedPort}/healthz`, { insecure: true })).status === 200, { timeoutMs, check: checkAll })
        : Promise.resolve(),
    ]);
    // The controllers really work once the default ServiceAccount exists: pods can be created.
    await waitFor('the default ServiceAccount', async () => {
      const res = await httpsGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, { caPem: ca.certPem, ...admin });
      return res.status === 200;
    }, { timeoutMs, check: checkAll });

    return new ControlPlane({
      name, dir, kit, ports, server, serviceCidr, kubeconfigPath, ca, admin, processes, keepDir: opts.keepDir ?? false,
      apiserver: { spec: apiserverSpec, component: apiserver }, etcdTls, etcdEndpoint: `http://127.0.0.1:${etcdClient}`, egressSocket,
    });
  }

  /** Stops kube-apiserver alone: an API outage, for fault tests. */
  async stopApiserver(): Promise<void> {
    await this.apiserver.component.stop();
  }

  /** Starts kube-apiserver again with the same flags and port, and waits until it is ready. */
  async startApiserver(): Promise<void> {
    if (this.apiserver.component.running) return;
    this.apiserver.component = this.processes.start(this.apiserver.spec);
    await waitForApiserver(this.server, this.ca.certPem, this.admin, this.apiserver.component, 120_000);
  }

  /** Stops every process this control plane started and removes its folder. */
  async stop(): Promise<void> {
    await this.processes.stopAll();
    if (!this.keepDir) await rm(this.dir, { recursive: true, force: true });
  }

  logTails(lines = 40): string {
    return this.processes.logTails(lines);
  }
}
