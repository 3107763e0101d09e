// Pods: the virtual pod becomes a host pod the host scheduler places; the syncer binds the virtual
// pod to a virtual node and copies status back. Deletion goes both ways, honouring grace periods.
// Projected service-account tokens are requested from the tenant's API and kept in a host Secret.
import { LRUCache } from 'lru-cache';
import type { KubeObject } from '../../kube/client.ts';
import { isAlreadyExists, isNotFound } from '../../kube/errors.ts';
import type { Informer } from '../../kube/informer.ts';
import { hostMetadata, marks } from '../../translate/metadata.ts';
import { hostPodSpec, mutablePodFields, podPolicyViolations, tokenSources, virtualPodStatus, type Pod } from '../../translate/pods.ts';
import { types, type SyncContext } from '../context.ts';
import { guardedPatch, jsonEqual } from '../patcher.ts';
import { SyncController } from '../sync-controller.ts';
import type { VirtualNodes } from './nodes.ts';

export const podKind = 'Pod';
export const tokenKind = 'ServiceAccountToken';

type Secret = KubeObject & { data?: Record<string, string>; type?: string };

const hasCondition = (pod: Pod, type: string) => (pod.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === type && c.status === 'True');

/** True when the syncer bound this virtual pod (pods/binding sets PodScheduled). */
export const boundBySyncer = (pod: Pod) => Boolean(pod.spec.nodeName) && hasCondition(pod, 'PodScheduled');

export function createPodSync(ctx: SyncContext, nodes: VirtualNodes): SyncController<Pod> {
  const { config } = ctx;
  const hostSecrets: Informer<Secret> = ctx.informers.host<Secret>(types.secrets);
  const tokenSecretName = (hostPodName: string) => `${hostPodName}-sa-token`;
  // When each pod's token is due for renewal, remembered across the cache lag after a write.
  const renewAtByUid = new LRUCache<string, number>({ max: 100_000 });

  const sc: SyncController<Pod> = new SyncController<Pod>(ctx, {
    kind: podKind,
    virtual: types.pods,
    host: types.pods,

    validate(vPod) {
      // nodeName set by our own binding is not the tenant choosing a node.
      const allow = boundBySyncer(vPod) ? { ...config.allow, nodeName: true } : config.allow;
      const violations = podPolicyViolations(vPod, allow);
      return violations.length ? `refused by the host's pod policy: ${violations.join('; ')}` : undefined;
    },

    toHost(vPod) {
      const name = sc.hostNameOf(vPod);
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: hostMetadata(vPod, podKind, name, config),
        spec: hostPodSpec(vPod, {
          tenant: config.tenant,
          hostServiceAccount: config.hostServiceAccount,
          tokenSecretName: tokenSecretName(name),
          ...(config.tenantApi ? { tenantApi: config.tenantApi } : {}),
        }),
      } as Pod;
    },

    async syncToHost(vPod, create) {
      if (vPod.metadata.deletionTimestamp || boundBySyncer(vPod)) {
        // Its host pod is gone: deleted along with the virtual pod, or out of band (evicted,
        // deleted by an admin). Finish the virtual delete; an owner creates a replacement.
        await deleteVirtual(vPod);
        return;
      }
      const hPod = await create();
      if (hPod) await ensureTokens(vPod, hPod);
    },

    async sync(vPod, hPod) {
      if (vPod.metadata.deletionTimestamp) {
        if (!hPod.metadata.deletionTimestamp) await sc.deleteHost(hPod, vPod.metadata.deletionGracePeriodSeconds);
        return;
      }
      await ensureTokens(vPod, hPod);
      await updateHost(vPod, hPod);
      if (hPod.spec.nodeName && !vPod.spec.nodeName) {
        await nodes.ensure(hPod.spec.nodeName);
        await ctx.virtual.create(types.pods, vPod.metadata.namespace, {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: vPod.metadata.name, namespace: vPod.metadata.namespace, uid: vPod.metadata.uid },
          target: { apiVersion: 'v1', kind: 'Node', name: hPod.spec.nodeName },
        }, 'binding', vPod.metadata.name);
        return; // the binding changes the virtual pod; status follows on that event
      }
      const desired = virtualPodStatus(hPod.status);
      if (!jsonEqual(virtualPodStatus(vPod.status), desired)) {
        await ctx.virtual.patch(types.pods, vPod.metadata.namespace, vPod.metadata.name, {
          metadata: { resourceVersion: vPod.metadata.resourceVersion },
          status: nullMissing(virtualPodStatus(vPod.status), desired),
        }, 'merge', 'status');
      }
    },

    async syncToVirtual(hPod) {
      // The virtual pod is gone: its host pod must go too.
      if (!hPod.metadata.deletionTimestamp) await sc.deleteHost(hPod);
    },
  });

  async function deleteVirtual(vPod: Pod): Promise<void> {
    try {
      await ctx.virtual.delete(types.pods, vPod.metadata.namespace, vPod.metadata.name, { gracePeriodSeconds: 0, uid: vPod.metadata.uid });
    } catch (err) {
      if (!isNotFound(err) && !(isAlreadyExists(err) || (err as { status?: number }).status === 409)) throw err;
    }
  }

  async function updateHost(vPod: Pod, hPod: Pod): Promise<void> {
    const wantMeta = hostMetadata(vPod, podKind, hPod.metadata.name, config);
    const wantSpec = mutablePodFields(vPod.spec);
    // Tolerations may only grow on a live pod; keep the ones the host added.
    const hostTolerations: unknown[] = hPod.spec.tolerations ?? [];
    wantSpec.tolerations = [...hostTolerations, ...(wantSpec.tolerations as unknown[]).filter((t) => !hostTolerations.some((h) => jsonEqual(h, t)))];
    const current = { metadata: { labels: hPod.metadata.labels ?? {}, annotations: hPod.metadata.annotations ?? {} }, spec: mutablePodFields(hPod.spec) };
    const desired = { metadata: { labels: wantMeta.labels ?? {}, annotations: wantMeta.annotations ?? {} }, spec: wantSpec };
    await sc.patchHost(hPod, guardedPatch(current, desired, hPod.metadata.resourceVersion));
  }

  /** Keeps a host Secret with a fresh token for every projected service-account token source. */
  async function ensureTokens(vPod: Pod, hPod: Pod): Promise<void> {
    const sources = tokenSources(vPod);
    if (sources.length === 0) return;
    const name = tokenSecretName(hPod.metadata.name);
    const existing = hostSecrets.get(`${config.hostNamespace}/${name}`);
    const expiry = Date.parse(existing?.metadata.annotations?.[marks.tokenExpiry] ?? '');
    const issued = Date.parse(existing?.metadata.annotations?.[marks.tokenIssued] ?? '');
    const renewAt = issued + (expiry - issued) * 0.8;
    const due = existing?.metadata.annotations?.[marks.objectUid] === vPod.metadata.uid ? renewAt : (renewAtByUid.get(vPod.metadata.uid ?? '') ?? 0);
    if (Date.now() < due) {
      sc.controller.queue.addAfter(`${vPod.metadata.namespace}/${vPod.metadata.name}`, due - Date.now());
      return;
    }
    const sa = vPod.spec.serviceAccountName ?? 'default';
    const data: Record<string, string> = {};
    let earliest = Infinity;
    for (const src of sources) {
      const req = await ctx.virtual.create<KubeObject & { status: { token: string; expirationTimestamp: string } }>(types.serviceaccounts, vPod.metadata.namespace, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        metadata: { name: sa },
        spec: {
          ...(src.audience ? { audiences: [src.audience] } : {}),
          expirationSeconds: Math.max(src.expirationSeconds ?? config.tokenExpirationSeconds, 600),
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: vPod.metadata.name, uid: vPod.metadata.uid },
        },
      }, 'token', sa);
      data[src.key] = Buffer.from(req.status.token).toString('base64');
      earliest = Math.min(earliest, Date.parse(req.status.expirationTimestamp));
    }
    const meta = hostMetadata(vPod, tokenKind, name, config);
    meta.annotations = { ...meta.annotations, [marks.tokenExpiry]: new Date(earliest).toISOString(), [marks.tokenIssued]: new Date().toISOString() };
    // Owned by the host pod alone, so it goes when the pod goes.
    meta.ownerReferences = [{ apiVersion: 'v1', kind: 'Pod', name: hPod.metadata.name, uid: hPod.metadata.uid ?? '', blockOwnerDeletion: false }];
    const secret: Secret = { apiVersion: 'v1', kind: 'Secret', metadata: meta, type: 'Opaque', data };
    if (existing) {
      await ctx.host.patch(types.secrets, config.hostNamespace, name, { metadata: { ...meta, resourceVersion: existing.metadata.resourceVersion }, data }, 'merge');
    } else {
      try {
        await ctx.host.create(types.secrets, config.hostNamespace, secret);
      } catch (err) {
        // Made by an earlier run whose write our cache has not seen yet: the next reconcile renews it.
        if (!isAlreadyExists(err)) throw err;
      }
    }
    const issuedAt = Date.now();
    renewAtByUid.set(vPod.metadata.uid ?? '', issuedAt + (earliest - issuedAt) * 0.8);
  }

  return sc;
}

/** A merge patch that sets `desired` and removes fields the current status has and desired lacks. */
function nullMissing(current: Record<string, unknown>, desired: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...desired };
  for (const k of Object.keys(current)) if (!(k in desired)) out[k] = null;
  return out;
}
