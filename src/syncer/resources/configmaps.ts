// ConfigMaps: synced while a virtual pod references them (or when they opt in with the
// vnest.dev/sync annotation), updated when they change, removed from the host when unreferenced.
import type { KubeObject } from '../../kube/client.ts';
import { hostMetadata, marks } from '../../translate/metadata.ts';
import { types, type SyncContext } from '../context.ts';
import { SyncController } from '../sync-controller.ts';
import type { ReferenceIndex } from './references.ts';

type DataObject = KubeObject & { data?: Record<string, string>; binaryData?: Record<string, string>; type?: string; immutable?: boolean };

/** The ConfigMap Kubernetes publishes in every namespace with the CA in-pod clients trust. */
export const rootCaConfigMap = 'kube-root-ca.crt';
const rootCaKey = 'ca.crt';

/** Secret types a workload needs, copied as they are: host controllers act on none of them. */
const workloadSecretTypes = new Set([
  'Opaque', 'kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg', 'kubernetes.io/tls', 'kubernetes.io/basic-auth', 'kubernetes.io/ssh-auth',
]);

/**
 * The host type of a virtual Secret's copy, or a refusal. A service-account token Secret is the
 * tenant's own token: it goes as Opaque data, so the host's token controller never fills it with
 * a host token. Other types a host controller might act on go as Opaque too; bootstrap tokens are
 * refused.
 */
export function hostSecretType(type: string | undefined): { type: string } | { refusal: string } {
  const t = type || 'Opaque';
  if (t === 'bootstrap.kubernetes.io/token') return { refusal: `type: ${t} Secrets are not synced to the host` };
  return { type: workloadSecretTypes.has(t) ? t : 'Opaque' };
}

/** Shared by ConfigMaps and Secrets: the same flow over different payload fields. */
export function createReferencedSync(ctx: SyncContext, refs: ReferenceIndex, which: 'configmaps' | 'secrets'): SyncController<DataObject> {
  const rt = types[which];
  // Pods trust the CA in kube-root-ca.crt; they talk to the front door, so its CA goes there.
  const rootCa = (o: DataObject): Record<string, string> => (o.metadata.name === rootCaConfigMap && ctx.config.tenantApi?.caPem ? { [rootCaKey]: ctx.config.tenantApi.caPem } : {});
  const payload = (o: DataObject) => (which === 'configmaps' ? { data: { ...o.data, ...rootCa(o) }, binaryData: o.binaryData ?? {} } : { data: o.data ?? {} });
  const sc: SyncController<DataObject> = new SyncController<DataObject>(ctx, {
    kind: rt.kind,
    virtual: rt,
    host: rt,
    wanted: (v) => refs.isReferenced(which, `${v.metadata.namespace}/${v.metadata.name}`) || v.metadata.annotations?.[marks.syncAlways] === 'true',
    validate: (v) => {
      const t = which === 'secrets' ? hostSecretType(v.type) : undefined;
      return t && 'refusal' in t ? [t.refusal] : [];
    },
    toHost: (v) => {
      const t = which === 'secrets' ? hostSecretType(v.type) : undefined;
      return {
        apiVersion: 'v1',
        kind: rt.kind,
        metadata: hostMetadata(v, rt.kind, sc.hostNameOf(v), ctx.config),
        ...payload(v),
        ...(t && 'type' in t ? { type: t.type } : {}),
        ...(v.immutable ? { immutable: true } : {}),
      };
    },
    async syncToHost(v, create) {
      if (which === 'secrets' && v.type && !workloadSecretTypes.has(v.type)) {
        await sc.warn(v, 'SecretTypeChanged', `type: ${v.type} is synced to the host as Opaque, so no host controller acts on it`);
      }
      await create();
    },
    async sync(v, h) {
      const t = which === 'secrets' ? hostSecretType(v.type) : undefined;
      if (t && 'type' in t && (h.type || 'Opaque') !== t.type) {
        // A type cannot change in place (a copy made before types were translated): replace it.
        await sc.deleteHost(h);
        return;
      }
      const ops = sc.hostPatch(h, sc.hostMeta(v, h.metadata.name), payload(h), payload(v));
      if (ops.length === 0) return;
      if (h.immutable) {
        // An immutable copy cannot change: replace it (the create follows the delete event).
        await sc.deleteHost(h);
        return;
      }
      await sc.patchHost(h, ops);
    },
  });
  refs.onChange(which, (key) => sc.enqueue(key));
  return sc;
}
