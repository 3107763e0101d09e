// A stand-in for the wasmCloud operator on the test host (the real one cannot run here): it marks
// Workloads ready and gives each WorkloadDeployment a WorkloadReplicaSet and a ready status, so the
// syncer's status round trips can be tested end to end.
import pino from 'pino';
import { KubeClient, type KubeObject, type ResourceType } from '../src/kube/client.ts';
import { isAlreadyExists } from '../src/kube/errors.ts';
import { Informer, objectKey } from '../src/kube/informer.ts';
import { Controller } from '../src/controller/controller.ts';

const rt = (plural: string, kind: string): ResourceType => ({ group: 'runtime.wasmcloud.dev', version: 'v1alpha1', plural, kind, namespaced: true });
const workloads = rt('workloads', 'Workload');
const deployments = rt('workloaddeployments', 'WorkloadDeployment');
const replicaSets = rt('workloadreplicasets', 'WorkloadReplicaSet');

type Obj = KubeObject & { spec?: any; status?: any };

export class FakeWasmcloudOperator {
  private readonly informers: Array<Informer<Obj>> = [];
  private readonly controllers: Controller[] = [];
  private readonly client: KubeClient;

  private constructor(client: KubeClient) {
    this.client = client;
  }

  static async start(kubeconfig: string, namespace: string): Promise<FakeWasmcloudOperator> {
    const client = await KubeClient.fromKubeconfigFile(kubeconfig);
    const op = new FakeWasmcloudOperator(client);
    const logger = pino({ level: 'silent' });
    const watch = (type: ResourceType, reconcile: (obj: Obj) => Promise<void>) => {
      const informer = new Informer<Obj>(client, type, { namespace, logger, resyncMs: 0 });
      const controller = new Controller({
        name: type.plural, workers: 2, logger, backoff: { baseMs: 50, maxMs: 2000 },
        reconcile: async (key) => {
          const obj = informer.get(key);
          if (obj) await reconcile(obj);
        },
      });
      const enqueue = (o: Obj) => controller.enqueue(objectKey(o));
      informer.addHandlers({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o) });
      op.informers.push(informer);
      op.controllers.push(controller);
    };
    watch(workloads, async (w) => {
      if (w.status?.phase === 'Ready') return;
      await client.patch(workloads, namespace, w.metadata.name, { status: { phase: 'Ready', conditions: [{ type: 'Ready', status: 'True', reason: 'Placed' }] } }, 'merge', 'status');
    });
    watch(deployments, async (d) => {
      const replicas: number = d.spec?.replicas ?? 1;
      try {
        await client.create(replicaSets, namespace, {
          apiVersion: 'runtime.wasmcloud.dev/v1alpha1', kind: 'WorkloadReplicaSet',
          metadata: { name: `${d.metadata.name}-rs`, namespace, ownerReferences: [{ apiVersion: 'runtime.wasmcloud.dev/v1alpha1', kind: 'WorkloadDeployment', name: d.metadata.name, uid: d.metadata.uid ?? '', controller: true }] },
          spec: { replicas, template: d.spec?.template ?? {} },
        });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
      if (d.status?.readyReplicas === replicas) return;
      await client.patch(deployments, namespace, d.metadata.name, { status: { replicas, readyReplicas: replicas, conditions: [{ type: 'Available', status: 'True' }] } }, 'merge', 'status');
    });
    for (const i of op.informers) i.start();
    await Promise.all(op.informers.map((i) => i.waitForSync()));
    for (const c of op.controllers) c.start();
    return op;
  }

  async stop(): Promise<void> {
    await Promise.all(this.controllers.map((c) => c.stop()));
    await Promise.all(this.informers.map((i) => i.stop()));
    this.client.close();
  }
}
