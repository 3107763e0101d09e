// The floor of the syncer's CPU: a process that only follows the two pod caches the syncer keeps
// (every virtual pod, and this tenant's host pods in its host namespace), with the same client and
// informer (parsed, trimmed and frozen events), and does nothing with them. The benchmark runs it
// beside the syncer and reports its CPU per pod as `watchFloorCpuMsPerPod`: what any syncer built
// on these watches pays before it does any work.
//
//   node hack/bench/watch-floor.ts VIRTUAL_KUBECONFIG HOST_KUBECONFIG HOST_NAMESPACE TENANT
import pino from 'pino';
import { KubeClient } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import { types } from '../../src/syncer/context.ts';
import { marks } from '../../src/translate/metadata.ts';

const [virtualKubeconfig, hostKubeconfig, hostNamespace, tenant] = process.argv.slice(2);
if (!virtualKubeconfig || !hostKubeconfig || !hostNamespace || !tenant) {
  console.error('usage: node hack/bench/watch-floor.ts VIRTUAL_KUBECONFIG HOST_KUBECONFIG HOST_NAMESPACE TENANT');
  process.exit(2);
}
const logger = pino({ level: 'warn' });
const [virtual, host] = await Promise.all([KubeClient.fromKubeconfigFile(virtualKubeconfig), KubeClient.fromKubeconfigFile(hostKubeconfig)]);
const informers = [
  new Informer(virtual, types.pods, { logger, resyncMs: 0 }),
  new Informer(host, types.pods, { logger, resyncMs: 0, namespace: hostNamespace, labelSelector: `${marks.tenant}=${tenant}` }),
];
for (const i of informers) i.start();
await Promise.all(informers.map((i) => i.waitForSync()));
console.log('synced');
// Runs until the benchmark stops it.
setInterval(() => undefined, 1 << 30);
