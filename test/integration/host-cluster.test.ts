// The host cluster is real enough to run vnest against: pods are scheduled to kwok nodes, reach
// Running with IPs, and the kubelet API (through the real apiserver) serves logs, exec and
// port-forward as configured.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostCluster } from '../../src/local/host-cluster.ts';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { waitFor } from '../../src/local/wait.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';

interface Pod {
  spec: { nodeName?: string };
  status: { phase?: string; podIP?: string; hostIP?: string };
}

/** A TCP server that answers every connection with a greeting, as a "container port". */
function greeter(greeting: string): Promise<Server & { port: number }> {
  return new Promise((resolve) => {
    const server = createServer((socket) => socket.end(greeting));
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(Object.assign(server, { port: typeof address === 'object' && address ? address.port : 0 }));
    });
  });
}

describe('host cluster', async () => {
  const podLogs = `log line ${randomBytes(4).toString('hex')}\nsecond line\n`;
  const greeting = 'hello through port-forward';
  const target = await greeter(greeting);
  afterAll(() => new Promise<void>((resolve) => target.close(() => resolve())));
  const env = useEnvironment(async () =>
    HostCluster.start({ kit: await kit(), ports, nodes: 3, podLogs, portForwardTarget: { address: '127.0.0.1', port: target.port } }),
  );
  const kubectl = async (...args: string[]) => kubectlOk((await kit()).bin.kubectl, env.current.kubeconfigPath, args);

  it('has the requested number of Ready kwok nodes', async () => {
    const out = await kubectl('get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}');
    expect(out.split(' ').sort()).toEqual(['kwok-node-0', 'kwok-node-1', 'kwok-node-2']);
  });

  it('schedules a pod to a kwok node where it runs with an IP', async () => {
    await kubectl('run', 'web', '--image=registry.k8s.io/pause:3.10', '--port=80');
    const pod = await waitFor('pod web Running', async () => {
      const p = JSON.parse(await kubectl('get', 'pod', 'web', '-o', 'json')) as Pod;
      return p.status.phase === 'Running' && p.status.podIP ? p : undefined;
    }, { timeoutMs: 60_000 });
    expect(env.current.nodeNames).toContain(pod.spec.nodeName);
    expect(pod.status.podIP).toMatch(/^10\.244\.\d+\.\d+$/);
  });

  it('serves kubectl logs from the kubelet API', async () => {
    expect(await kubectl('logs', 'web')).toBe(podLogs);
  });

  it('serves kubectl exec from the kubelet API', async () => {
    const marker = randomBytes(8).toString('hex');
    await writeFile(join(env.current.execDir, 'marker.txt'), marker);
    expect(await kubectl('exec', 'web', '--', 'cat', 'marker.txt')).toBe(marker);
    // kwok reports a command's failure as an error with its exit status (a kubelet would pass the
    // exit code itself through).
    const failing = await runKubectl((await kit()).bin.kubectl, env.current.kubeconfigPath, ['exec', 'web', '--', 'sh', '-c', 'exit 3']);
    expect(failing.code).not.toBe(0);
    expect(failing.stderr).toContain('exit status 3');
  });

  it('serves kubectl port-forward from the kubelet API', async () => {
    const localPort = await ports.next();
    const child = spawn((await kit()).bin.kubectl, [`--kubeconfig=${env.current.kubeconfigPath}`, 'port-forward', 'pod/web', `${localPort}:80`]);
    try {
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      await waitFor('kubectl port-forward to listen', async () => output.includes('Forwarding from 127.0.0.1'), {
        timeoutMs: 30_000,
        check: () => { if (child.exitCode !== null) throw new Error(`kubectl port-forward exited: ${output}`); },
      });
      const reply = await new Promise<string>((resolve, reject) => {
        let data = '';
        const socket = connect(localPort, '127.0.0.1');
        socket.setTimeout(10_000, () => socket.destroy(new Error(`no reply through port-forward; kubectl said: ${output}`)));
        // Port-forward streams do not always pass the target's half-close on, so stop at the greeting.
        socket.on('data', (chunk) => {
          data += chunk.toString();
          if (data.length >= greeting.length) {
            socket.destroy();
            resolve(data);
          }
        });
        socket.on('error', reject);
      });
      expect(reply).toBe(greeting);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
