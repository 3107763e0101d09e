// `vnest connect NAME` / `vnest disconnect`: reach a tenant's API from here. Uses the tenant
// Service's address when it is reachable, otherwise a port-forward to the tenant pod's front door;
// then switches the kubeconfig context, prints the kubeconfig, or runs a command with it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, isIP, connect as tcpConnect, type Server } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { parse, stringify } from 'yaml';
import { isPortFree, PortAllocator } from '../local/ports.ts';
import { waitFor } from '../local/wait.ts';
import { CliError, errors, hostArgs, hostClient, hostOptions, tenantName, tool, type HostFlags } from './host.ts';
import { serverOf, withServer } from './kubeconfig.ts';
import { clusterRoleName, defaultTokenExpirationSeconds, serviceAccountKubeconfig, serviceAccountRef, tokenExpiration, type ServiceAccountRef } from './service-account.ts';
import { readyTenant } from './tenant-state.ts';

interface ConnectFlags extends HostFlags {
  server?: string;
  localPort?: string;
  print?: boolean;
  serviceAccount?: ServiceAccountRef;
  clusterRole?: string;
  tokenExpiration?: number;
}

const previousContextFile = () => join(process.env.VNEST_HOME ?? join(homedir(), '.vnest'), 'previous-context');

/**
 * Whether the tenant's API answers at `url` from here. With the tenant's CA, the TLS handshake
 * must verify too (certificate and name): an exposed address that leads elsewhere, such as an
 * ingress controller that does not pass TLS through, counts as unreachable.
 */
export function reachable(url: string, caPem?: string): Promise<boolean> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(u.port || 443);
  return new Promise((resolve) => {
    const socket = caPem
      ? tlsConnect({ host, port, ca: caPem, ...(isIP(host) ? {} : { servername: host }), timeout: 2000 })
      : tcpConnect({ host, port, timeout: 2000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once(caPem ? 'secureConnect' : 'connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** Port-forwards a local port to the tenant pod's front door; resolves once it listens. */
export async function portForward(flags: ConnectFlags & { localPort: string }, name: string, ns: string): Promise<{ child: ChildProcess; server: string }> {
  const port = Number(flags.localPort);
  const kubectl = await tool('kubectl');
  const child = spawn(kubectl, [...hostArgs(flags), '-n', ns, 'port-forward', `pod/${name}-0`, `${port}:8443`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  child.stdout?.on('data', (d: Buffer) => (said += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (said += d.toString()));
  await waitFor(`a port-forward to ${ns}/${name}-0`, async () => said.includes('Forwarding from'), {
    timeoutMs: 30_000,
    check: () => {
      if (child.exitCode !== null) throw errors.notReady(`cannot port-forward to the tenant pod ${ns}/${name}-0: ${said.trim()}`);
    },
  });
  return { child, server: `https://127.0.0.1:${port}` };
}

/**
 * A port-forward that stays up. kubectl port-forward ends at the first local connection a client
 * resets, so vnest owns the local port: each connection is piped to a kubectl port-forward on a
 * private port, started again when it ends; connections that arrive meanwhile wait for it.
 * `ended` resolves when it cannot be started again (the tenant pod is gone, say), with the reason.
 */
class LastingForward {
  readonly server: string;
  readonly ended: Promise<Error>;
  private ready: Promise<number>;
  private child: ChildProcess | undefined;
  private stopped = false;
  private readonly listener: Server;
  private fail: (err: Error) => void = () => undefined;
  private readonly flags: ConnectFlags;
  private readonly name: string;
  private readonly ns: string;

  private constructor(port: number, flags: ConnectFlags, name: string, ns: string) {
    this.flags = flags;
    this.name = name;
    this.ns = ns;
    this.server = `https://127.0.0.1:${port}`;
    this.ended = new Promise<Error>((resolve) => (this.fail = resolve));
    this.ready = this.launch();
    this.listener = createServer((client) => {
      client.on('error', () => undefined);
      // A forward that has just ended refuses until its exit is seen and it is started again.
      const attempt = (tries: number): void => {
        this.ready.then((inner) => {
          const upstream = tcpConnect(inner, '127.0.0.1');
          upstream.once('error', () => {
            if (tries > 0 && !this.stopped) setTimeout(() => attempt(tries - 1), 300);
            else client.destroy();
          });
          upstream.once('connect', () => {
            upstream.on('error', () => client.destroy());
            client.on('close', () => upstream.destroy());
            upstream.on('close', () => client.destroy());
            client.pipe(upstream).pipe(client);
          });
        }, () => client.destroy());
      };
      attempt(20);
    });
  }

  static async start(flags: ConnectFlags, name: string, ns: string): Promise<LastingForward> {
    let port: number;
    if (flags.localPort) {
      port = Number(flags.localPort);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw errors.portInUse(port);
      if (!(await isPortFree(port))) throw errors.portInUse(port);
    } else {
      port = await new PortAllocator().next();
    }
    const forward = new LastingForward(port, flags, name, ns);
    await forward.ready;
    await new Promise<void>((resolve, reject) => forward.listener.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    return forward;
  }

  /** Starts kubectl port-forward on a private port; when it ends, starts it again. */
  private async launch(): Promise<number> {
    const inner = await new PortAllocator().next();
    const { child } = await portForward({ ...this.flags, localPort: String(inner) }, this.name, this.ns);
    this.child = child;
    child.once('exit', () => {
      if (this.stopped) return;
      console.error(`vnest: the port-forward to ${this.ns}/${this.name}-0 ended (a client reset its connection?); starting it again`);
      this.ready = this.launch();
      this.ready.catch((err: unknown) => this.fail(err as Error));
    });
    return inner;
  }

  stop(): void {
    this.stopped = true;
    this.listener.close();
    this.child?.kill('SIGTERM');
  }
}

/** Adds the tenant as a context of the user's kubeconfig and switches to it. */
function switchContext(userConfig: string, tenantConfig: string, contextName: string): string | undefined {
  type Named = { name: string };
  type Config = { clusters?: Named[]; users?: Named[]; contexts?: Named[]; 'current-context'?: string } & Record<string, unknown>;
  const doc: Config = (existsSync(userConfig) ? (parse(readFileSync(userConfig, 'utf8')) as Config | null) : null) ?? { apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] };
  const t = parse(tenantConfig) as { clusters: Array<{ cluster: unknown }>; users: Array<{ user: unknown }> };
  const upsert = (list: Array<{ name: string }> | undefined, item: { name: string }) => [...(list ?? []).filter((x) => x.name !== item.name), item];
  doc.clusters = upsert(doc.clusters, { name: contextName, cluster: t.clusters[0]?.cluster } as { name: string });
  doc.users = upsert(doc.users, { name: contextName, user: t.users[0]?.user } as { name: string });
  doc.contexts = upsert(doc.contexts, { name: contextName, context: { cluster: contextName, user: contextName } } as { name: string });
  const previous = doc['current-context'];
  doc['current-context'] = contextName;
  mkdirSync(dirname(userConfig), { recursive: true });
  writeFileSync(userConfig, stringify(doc), { mode: 0o600 });
  return previous;
}

export function connectCommand(): Command {
  return hostOptions(new Command('connect'))
    .description('connect to a tenant: switch your kubeconfig to it, print its kubeconfig, or run a command against it')
    .argument('<name>', 'tenant name', tenantName)
    .argument('[command...]', 'after --: a command to run with KUBECONFIG pointing at the tenant')
    .option('--server <url>', 'server address to use (skips the Service check and the port-forward)')
    .option('--local-port <port>', 'local port for the port-forward (default: a free one)')
    .option('--print', 'print the kubeconfig instead of switching context')
    .option('--service-account <[namespace/]name>', 'sign in as this service account of the tenant (namespace default kube-system) with a token, instead of the tenant\'s cluster-admin certificate', serviceAccountRef)
    .option('--cluster-role <role>', 'with --service-account: create the account when missing and bind this ClusterRole to it (ClusterRoleBinding vnest-connect:NS:NAME:ROLE)', clusterRoleName)
    .option('--token-expiration <seconds>', `with --service-account: the token's lifetime (default ${defaultTokenExpirationSeconds}, one year; at least 600)`, tokenExpiration)
    .action(async (name: string, command: string[], flags: ConnectFlags) => {
      if ((flags.clusterRole !== undefined || flags.tokenExpiration !== undefined) && !flags.serviceAccount) {
        throw new CliError('Usage', 2, '--cluster-role and --token-expiration go with --service-account [NAMESPACE/]NAME, the account to sign in as (run "vnest connect --help" for usage)');
      }
      const ns = flags.namespace ?? name;
      const client = await hostClient(flags);
      let config: string;
      try {
        config = (await readyTenant(client, name, ns)).kubeconfig;
      } finally {
        client.close();
      }
      let forward: LastingForward | undefined;
      let server = flags.server;
      if (!server) {
        // The exported server (the exposed address when the tenant is exposed, else its
        // in-cluster Service) when it answers with the tenant's certificate; else a port-forward.
        const exported = serverOf(config);
        if (exported.server && (await reachable(exported.server, exported.caPem))) server = exported.server;
        else {
          forward = await LastingForward.start(flags, name, ns);
          server = forward.server;
        }
      }
      let tenantConfig = withServer(config, server);
      try {
        if (flags.serviceAccount) {
          tenantConfig = await serviceAccountKubeconfig(tenantConfig, flags.serviceAccount, flags.clusterRole, flags.tokenExpiration ?? defaultTokenExpirationSeconds);
        }
        if (command.length > 0) {
          const dir = mkdtempSync(join(tmpdir(), 'vnest-connect-'));
          const file = join(dir, 'kubeconfig');
          writeFileSync(file, tenantConfig, { mode: 0o600 });
          try {
            const [cmd, ...args] = command as [string, ...string[]];
            process.exitCode = await new Promise<number>((resolve) => {
              const child = spawn(cmd, args, { stdio: 'inherit', env: { ...process.env, KUBECONFIG: file } });
              child.once('error', (err) => {
                console.error(`vnest: cannot run ${cmd}: ${err.message}`);
                resolve(127);
              });
              child.once('exit', (code) => resolve(code ?? 1));
            });
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
          return;
        }
        if (flags.print) {
          process.stdout.write(tenantConfig);
        } else {
          // As kubectl does: the first file of $KUBECONFIG (or ~/.kube/config), created when missing.
          const target = process.env.KUBECONFIG?.split(':')[0] || join(homedir(), '.kube', 'config');
          const previous = switchContext(target, tenantConfig, `vnest_${name}_${ns}`);
          mkdirSync(dirname(previousContextFile()), { recursive: true });
          if (previous) writeFileSync(previousContextFile(), previous);
          console.log(`switched to context vnest_${name}_${ns} in ${target}; "vnest disconnect" switches back`);
        }
        if (forward) {
          console.error(`port-forwarding ${server} to ${ns}/${name}-0; press Ctrl-C to stop`);
          await new Promise<void>((resolve) => {
            void forward?.ended.then((err) => {
              console.error(`vnest: the port-forward to ${ns}/${name}-0 ended and could not be started again: ${err.message}`);
              process.exitCode = err instanceof CliError ? err.exitCode : 1;
              resolve();
            });
            process.once('SIGINT', () => resolve());
            process.once('SIGTERM', () => resolve());
          });
        }
      } finally {
        forward?.stop();
      }
    });
}

export function disconnectCommand(): Command {
  return new Command('disconnect')
    .description('switch your kubeconfig back to the context you had before "vnest connect"')
    .action(() => {
      const file = process.env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config');
      if (!existsSync(previousContextFile()) || !existsSync(file)) {
        console.log('nothing to switch back to');
        return;
      }
      const previous = readFileSync(previousContextFile(), 'utf8').trim();
      const doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      doc['current-context'] = previous;
      writeFileSync(file, stringify(doc), { mode: 0o600 });
      rmSync(previousContextFile());
      console.log(`switched back to context ${previous}`);
    });
}
