// Pods: the virtual pod becomes a host pod the host scheduler places; the syncer binds the virtual
// pod to a virtual node and copies status back. Deletion goes both ways, honouring grace periods.
// Projected service-account tokens are requested from the tenant's API and kept in a host Secret
// per service account (default, tokens.ts), in a host Secret per pod owned by the host pod, or in
// host pod annotations. Which one a host pod uses is fixed when it is created; a change of
// --token-storage applies to new pods, and existing ones keep getting their tokens as before.
import type { KubeObject } from '../../kube/client.ts';
import { isAlreadyExists, isConflict, isNotFound, isTerminal } from '../../kube/errors.ts';
import { hostMetadata, marks, virtualKeyOf } from '../../translate/metadata.ts';
import { podServiceEnv } from '../../translate/service-env.ts';
import { boundBySyncer, hostPodView, hostsContainerName, hostSpecCurrent, mutablePodFields, podProblems, podResizePatch, readinessGatePatch, stoppedPodStatus, tokenAnnotation, tokenSources, translatePod, virtualPodStatus, type Pod, type PodTranslateContext } from '../../translate/pods.ts';
import { types, type SyncContext } from '../context.ts';
import { clusterDomain } from '../coredns.ts';
import { jsonEqual } from '../patcher.ts';
import { SyncController } from '../sync-controller.ts';
import { objectKey } from '../../kube/informer.ts';
import type { LagDirection } from '../metrics.ts';
import type { Shared } from './index.ts';
import { sharedTokenSecretName } from './tokens.ts';
import { joinKey } from '../../translate/names.ts';

export const podKind = 'Pod';
export const tokenKind = 'ServiceAccountToken';

type Secret = KubeObject & { data?: Record<string, string> };

export function createPodSync(ctx: SyncContext, shared: Shared): SyncController<Pod> {
  const { config } = ctx;
  const { nodes, tokens, refs } = shared;

  const hostSecrets = ctx.informers.host<Secret>(types.secrets);
  const virtualServices = ctx.informers.virtual<KubeObject & { spec?: { clusterIP?: string } }>(types.services);
  const dnsOf = () => {
    const ip = virtualServices.get('kube-system/kube-dns')?.spec?.clusterIP;
    return ip && ip !== 'None' ? { dns: { nameserver: ip, clusterDomain } } : {};
  };
  const tokenSecretName = (hostPodName: string) => `${hostPodName}-sa-token`;
  const sharedSecretOf = (vPod: Pod) => sharedTokenSecretName(vPod.spec.serviceAccountName ?? 'default', vPod.metadata.namespace ?? '', config.tenant);
  /** Whether a host pod mounts a token from Secret `name`. */
  const mounts = (hPod: Pod, name: string) => (hPod.spec.volumes ?? []).some((v) => (v.projected?.sources ?? []).some((s: { secret?: { name?: string } }) => s.secret?.name === name));
  const tokenStore = (vPod: Pod): PodTranslateContext['tokens'] => {
    if (config.tokenStorage === 'annotation') return 'annotation';
    if (config.tokenStorage === 'pod-secret') return { secretName: tokenSecretName(sc.hostNameOf(vPod)), keys: 'volume' };
    return { secretName: sharedSecretOf(vPod), keys: 'audience' };
  };
  const translate = (original: Pod) => {
    const vPod = shared.runtimeClasses.forHost(original);
    const tctx: PodTranslateContext = {
      tenant: config.tenant,
      hostServiceAccount: config.hostServiceAccount,
      policy: config.policy,
      tokens: tokenStore(vPod),
      tokenExpirationSeconds: config.tokenExpirationSeconds,
      // nodeName set by our own binding is not the tenant choosing a node.
      boundBySyncer: boundBySyncer(vPod),
      ...dnsOf(),
      ...(config.hostsImage ? { hostsImage: config.hostsImage } : {}),
      ...(config.tenantApi ? { tenantApi: config.tenantApi } : {}),
      serviceEnv: podServiceEnv(vPod.metadata.namespace ?? 'default', vPod.spec.enableServiceLinks,
        virtualServices.list((s) => s.metadata.namespace === vPod.metadata.namespace || (s.metadata.namespace === 'default' && s.metadata.name === 'kubernetes'))),
    };
    return translatePod(vPod, tctx);
  };

  const sc: SyncController<Pod> = new SyncController<Pod>(ctx, {
    kind: podKind,
    virtual: types.pods,
    host: types.pods,

    // A pod with scheduling gates is not ready to be placed; its host copy waits for them to go.
    wanted: (vPod) => !(vPod.spec.schedulingGates?.length),

    // The same verdict as a translation's problems, kept per spec generation (podProblems).
    validate: (vPod) => [...podProblems(shared.runtimeClasses.forHost(vPod), config.policy)],

    async refused(vPod, reason, hadHostCopy) {
      // Its host copy is gone; like a pod a kubelet rejects, it fails and its owner replaces it.
      // A pod that never ran stays Pending: failing it would make its owner create new ones in a loop.
      if (!hadHostCopy || vPod.status?.phase === 'Failed' || vPod.status?.phase === 'Succeeded') return;
      await ctx.virtual.patch(types.pods, vPod.metadata.namespace, vPod.metadata.name, {
        metadata: { resourceVersion: vPod.metadata.resourceVersion },
        status: { phase: 'Failed', reason: 'SyncRefused', message: reason.slice(0, 1024) },
      }, 'merge', 'status');
    },

    async toHost(vPod) {
      await shared.trustBundles.ensure(vPod);
      const metadata = hostMetadata(vPod, podKind, sc.hostNameOf(vPod), config);
      if (config.tokenStorage === 'annotation') metadata.annotations = { ...metadata.annotations, ...(await tokenAnnotations(vPod)) };
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata,
        spec: translate(vPod).spec,
      } as Pod;
    },

    async deleting(vPod, hPod) {
      // The host pod goes with the same grace period; once it is gone, the virtual delete finishes.
      if (!hPod) await deleteVirtual(vPod);
      else if (!hPod.metadata.deletionTimestamp) await sc.deleteHost(hPod, vPod.metadata.deletionGracePeriodSeconds);
      // While it stops, its status keeps coming back: a pod held by a finalizer (a Job's) shows
      // how its containers ended.
      else if (vPod.metadata.finalizers?.length) await syncStatus(vPod, hPod, false);
    },

    async syncToHost(vPod, create) {
      if (boundBySyncer(vPod) || await boundJustNow(vPod)) {
        // Its host pod is gone out of band (evicted, deleted by an admin). Finish the virtual
        // delete; an owner creates a replacement.
        await deleteVirtual(vPod);
        return;
      }
      if (await waitsForClaim(vPod)) return;
      if (await create()) lagEnd(seenNew, vPod, 'to_host');
    },

    async sync(vPod, hPod) {
      // A host pod on its way out is not bound to: once it is gone, a new one is made.
      if (!vPod.spec.nodeName && hPod.metadata.deletionTimestamp) return;
      if (vPod.spec.nodeName && hPod.spec.nodeName && vPod.spec.nodeName !== hPod.spec.nodeName) {
        // Bound to one node while its host pod runs on another (bound by someone else, or after
        // a lost answer): a pod's node cannot change, so the pair cannot be mended in place. Like
        // a pod whose node is gone, it is deleted and its owner replaces it; its host pod follows.
        await sc.warn(vPod, 'NodeMismatch', `bound to node ${vPod.spec.nodeName} while its host pod runs on node ${hPod.spec.nodeName}; deleting the pod`);
        await deleteVirtual(vPod);
        return;
      }
      // (A pod the syncer has just bound looks unbound until the binding's event arrives.)
      if (!vPod.spec.nodeName && !awaitingEvent(vPod) && !boundAt.has(vPod.metadata.uid ?? '')) {
        if (await waitsForClaim(vPod)) {
          await sc.deleteHost(hPod);
          return;
        }
      }
      if (config.tokenStorage !== 'secret' && mounts(hPod, sharedSecretOf(vPod))) tokens.need(vPod);
      // A host pod changed just now is older in hand than on the host: its observed generation
      // is not the virtual pod's until the change comes back in an event.
      const changed = [await updateHost(vPod, hPod), await resizeHost(vPod, hPod), await addEphemeralContainers(vPod, hPod)].some(Boolean);
      if (hPod.spec.nodeName && !vPod.spec.nodeName) {
        if (awaitingEvent(vPod)) return;
        await nodes.ensure(hPod.spec.nodeName);
        // Marked before it is sent: a binding whose answer is lost may still have been stored.
        boundAt.set(vPod.metadata.uid ?? '', performance.now());
        try {
          await ctx.virtual.create(types.pods, vPod.metadata.namespace, {
            apiVersion: 'v1',
            kind: 'Binding',
            metadata: { name: vPod.metadata.name, namespace: vPod.metadata.namespace, uid: vPod.metadata.uid },
            target: { apiVersion: 'v1', kind: 'Node', name: hPod.spec.nodeName },
          }, 'binding', vPod.metadata.name);
        } catch (err) {
          // Refused for good, or a 409 after which the pod is still unbound: not stored. Other 409s
          // (bound already, replaced, being deleted) are told by the pod's next event.
          const notStored = isTerminal(err) || isNotFound(err) || (isConflict(err) && await stillUnbound(vPod));
          if (notStored) boundAt.delete(vPod.metadata.uid ?? '');
          if (notStored || !isConflict(err)) throw err;
        }
        wroteOver(vPod);
        return; // the binding changes the virtual pod; status follows on that event
      }
      // A pod-bound token names the pod's node too (as a kubelet's does), so it is asked for once
      // the pod is bound; the host's kubelet waits for the Secret until then.
      if (vPod.spec.nodeName) await ensureTokenSecret(vPod, hPod);
      seenNew.delete(objectKey(vPod));
      await syncReadinessGates(vPod, hPod);
      await syncStatus(vPod, hPod, changed);
    },

    async syncToVirtual(hPod) {
      // The virtual pod is gone: its host pod must go too.
      if (!hPod.metadata.deletionTimestamp) await sc.deleteHost(hPod);
    },
  });

  // Claims: a pod is scheduled only once the claims it names exist and are not being deleted, and a
  // kubelet does not start it otherwise; the tenant's claim protection counts only scheduled pods.
  // So an unbound pod whose tenant claim is missing or going (or whose host copy is still an
  // earlier claim's, or going) has no host pod: one made before goes, unbound, and the pod waits,
  // as the scheduler makes it wait, until a claim event brings it back. A bound pod keeps running.
  const vClaims = ctx.informers.virtual<KubeObject>(types.pvcs);
  const hClaims = ctx.informers.host<KubeObject>(types.pvcs);
  function claimProblem(vPod: Pod): string | undefined {
    const ns = vPod.metadata.namespace ?? '';
    for (const volume of vPod.spec.volumes ?? []) {
      const name: unknown = volume.persistentVolumeClaim?.claimName;
      if (typeof name !== 'string') continue;
      const claim = vClaims.get(joinKey(ns, name));
      if (!claim) return `persistentvolumeclaim "${name}" not found`;
      if (claim.metadata.deletionTimestamp) return `persistentvolumeclaim "${name}" is being deleted`;
      const copy = hClaims.get(sc.hostKey(joinKey(ns, name)));
      if (copy && (copy.metadata.deletionTimestamp || copy.metadata.annotations?.[marks.objectUid] !== claim.metadata.uid)) {
        return `persistentvolumeclaim "${name}": its host copy is not this claim's yet (one of an earlier claim of that name, or one being deleted, holds its name)`;
      }
    }
    return undefined;
  }
  // The Event is written when a pod starts waiting, or waits for another reason, not again at
  // every claim event. By virtual UID: what the pod waits for.
  const waitingFor = new Map<string, string>();
  async function waitsForClaim(vPod: Pod): Promise<boolean> {
    const uid = vPod.metadata.uid ?? '';
    const problem = claimProblem(vPod);
    if (!problem) {
      waitingFor.delete(uid);
      return false;
    }
    if (waitingFor.get(uid) !== problem) {
      waitingFor.set(uid, problem);
      await sc.warn(vPod, 'FailedScheduling', `waiting for a claim: ${problem}`);
    }
    return true;
  }
  const enqueueClaimUsers = (vKey: string | undefined) => {
    if (vKey) for (const podKey of refs.referencing('pvcs', vKey, 'Pod')) sc.enqueue(podKey);
  };
  for (const [informer, keyOf] of [[vClaims, objectKey], [hClaims, (c: KubeObject) => virtualKeyOf(c, config.tenant)]] as const) {
    informer.addHandlers({ onAdd: (c) => enqueueClaimUsers(keyOf(c)), onUpdate: (_, c) => enqueueClaimUsers(keyOf(c)), onDelete: (c) => enqueueClaimUsers(keyOf(c)) });
  }

  /** The host pod's status, as the tenant should see it, onto the virtual pod. */
  async function syncStatus(vPod: Pod, hPod: Pod, changed: boolean): Promise<void> {
    const hostView = hostPodView(hPod.spec, vPod.spec);
    const desired = virtualPodStatus(hPod.status, {
      host: hPod.metadata.generation ?? 0,
      virtual: vPod.metadata.generation ?? 0,
      current: !changed && hostSpecCurrent(vPod.spec, hostView),
      previous: vPod.status,
      ...(hostView !== hPod.spec ? { dropInitContainer: hostsContainerName } : {}),
    });
    if (settling(vPod, desired.phase)) return;
    if (!jsonEqual(virtualPodStatus(vPod.status), desired) && !awaitingEvent(vPod)) {
      const written = await ctx.virtual.patch<Pod>(types.pods, vPod.metadata.namespace, vPod.metadata.name, {
        metadata: { resourceVersion: vPod.metadata.resourceVersion },
        status: nullMissing(virtualPodStatus(vPod.status), desired),
      }, 'merge', 'status');
      // A patch that changed nothing keeps the resourceVersion and brings no event to wait for.
      const rv = written?.metadata?.resourceVersion;
      if (rv !== undefined && rv !== vPod.metadata.resourceVersion) wroteOver(vPod);
      if (desired.phase === 'Running') lagEnd(seenRunning, vPod, 'to_virtual');
    }
  }

  // A pod the syncer has just bound shows its host copy's first steps (scheduled, containers being
  // created) for a moment before it runs. Its status waits up to statusSettleMs for the next step,
  // so a pod that starts at once gets one status write, not two; one that takes longer shows
  // Pending's details then. By virtual UID: when the syncer bound it (gone once its status is written).
  const statusSettleMs = 1000;
  const boundAt = new Map<string, number>();
  function settling(vPod: Pod, phase: unknown): boolean {
    const uid = vPod.metadata.uid ?? '';
    const since = boundAt.get(uid);
    if (since === undefined) return false;
    const wait = statusSettleMs - (performance.now() - since);
    if (phase === 'Pending' && wait > 0) {
      sc.controller.queue.addAfter(objectKey(vPod), wait);
      return true;
    }
    boundAt.delete(uid);
    return false;
  }

  /**
   * Whether a pod the cache shows unbound was bound by the syncer a moment ago (or by a binding
   * whose answer was lost), or is gone: the API says. A new host pod for a bound pod could land on
   * another node than its binding names.
   */
  async function boundJustNow(vPod: Pod): Promise<boolean> {
    const uid = vPod.metadata.uid ?? '';
    if (!boundAt.has(uid)) return false;
    let now: Pod | undefined;
    try {
      now = await ctx.virtual.get<Pod>(types.pods, vPod.metadata.namespace, vPod.metadata.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    // Gone, or another pod of that name now: finishing its delete is a no-op.
    if (now?.metadata.uid !== uid || now.spec.nodeName) return true;
    boundAt.delete(uid);
    return false;
  }

  /**
   * After a binding answered 409 Conflict: whether the pod is still there and unbound, so that the
   * binding was not stored. 409 comes from a pod bound already (an earlier binding whose answer was
   * lost), replaced (the UID precondition) or being deleted, whose events tell; but also from a
   * storage failure (the binding registry wraps each in a Conflict: an etcd that stopped answering),
   * after which nothing changes and no event comes, so the binding must be sent again.
   */
  async function stillUnbound(vPod: Pod): Promise<boolean> {
    let now: Pod | undefined;
    try {
      now = await ctx.virtual.get<Pod>(types.pods, vPod.metadata.namespace, vPod.metadata.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return now !== undefined && now.metadata.uid === vPod.metadata.uid && !now.spec.nodeName && !now.metadata.deletionTimestamp;
  }

  // A write to a virtual pod reaches the cache a moment later, as an event that reconciles the pod
  // again. Until then the cached pod is older than the API's, and a reconcile of it (host events
  // keep coming: scheduled, started, ready) would bind it again or patch its status over a stale
  // resourceVersion, both refused with 409. Such a reconcile leaves the virtual pod alone and the
  // event brings it back. By virtual UID: the resourceVersion the last write was made over, until
  // the cache moves past it.
  const writtenOver = new Map<string, string>();
  const awaitingEvent = (vPod: Pod) => writtenOver.get(vPod.metadata.uid ?? '') === vPod.metadata.resourceVersion;
  const wroteOver = (vPod: Pod) => writtenOver.set(vPod.metadata.uid ?? '', vPod.metadata.resourceVersion ?? '');
  sc.vInformer.addHandlers({
    onUpdate: (_old, p) => {
      const uid = p.metadata.uid ?? '';
      if (writtenOver.has(uid) && writtenOver.get(uid) !== p.metadata.resourceVersion) writtenOver.delete(uid);
    },
    onDelete: (p) => {
      writtenOver.delete(p.metadata.uid ?? '');
      boundAt.delete(p.metadata.uid ?? '');
      waitingFor.delete(p.metadata.uid ?? '');
    },
  });

  /** Readiness gates: the conditions a tenant controller sets on the virtual pod reach the host pod, whose kubelet decides Ready. */
  async function syncReadinessGates(vPod: Pod, hPod: Pod): Promise<void> {
    const patch = readinessGatePatch(vPod, hPod.status);
    if (patch && !hPod.metadata.deletionTimestamp) await ctx.host.patch(types.pods, hPod.metadata.namespace, hPod.metadata.name, patch, 'strategic', 'status');
  }

  // Sync lag (metrics): when the syncer first saw a virtual pod without a host copy, and a host
  // pod turn Running, by virtual key; an entry goes when its lag is observed or the pod goes.
  const seenNew = new Map<string, number>();
  const seenRunning = new Map<string, number>();
  function lagEnd(seen: Map<string, number>, vPod: Pod, direction: LagDirection): void {
    const key = objectKey(vPod);
    const t = seen.get(key);
    if (t === undefined) return;
    seen.delete(key);
    ctx.metrics.observeLag(direction, performance.now() - t);
  }
  sc.vInformer.addHandlers({
    onAdd: (p) => {
      if (!sc.hInformer.has(sc.hostKey(objectKey(p)))) seenNew.set(objectKey(p), performance.now());
    },
    onDelete: (p) => {
      seenNew.delete(objectKey(p));
      seenRunning.delete(objectKey(p));
    },
  });
  sc.hInformer.addHandlers({
    onUpdate: (old, p) => {
      const vKey = virtualKeyOf(p, config.tenant);
      if (vKey && p.status?.phase === 'Running' && old.status?.phase !== 'Running' && sc.vInformer.has(vKey)) seenRunning.set(vKey, performance.now());
    },
  });

  async function deleteVirtual(vPod: Pod): Promise<void> {
    // A pod a finalizer holds (a Job's) outlives the delete: like a kubelet, give it a terminal
    // phase first, or its owner waits for it for ever.
    const phase = vPod.status?.phase;
    if (vPod.metadata.finalizers?.length && phase !== 'Failed' && phase !== 'Succeeded') {
      try {
        await ctx.virtual.patch(types.pods, vPod.metadata.namespace, vPod.metadata.name, {
          metadata: { resourceVersion: vPod.metadata.resourceVersion },
          status: stoppedPodStatus(vPod.status),
        }, 'merge', 'status');
      } catch (err) {
        if (!isNotFound(err)) throw err;
        return;
      }
    }
    try {
      await ctx.virtual.delete(types.pods, vPod.metadata.namespace, vPod.metadata.name, { gracePeriodSeconds: 0, uid: vPod.metadata.uid });
    } catch (err) {
      if (!isNotFound(err) && !(isAlreadyExists(err) || (err as { status?: number }).status === 409)) throw err;
    }
  }

  async function updateHost(vPod: Pod, hPod: Pod): Promise<boolean> {
    const wantMeta = hostMetadata(vPod, podKind, hPod.metadata.name, config);
    const wantSpec = mutablePodFields(vPod.spec);
    // Tolerations may only grow on a live pod; keep the ones the host added.
    const hostTolerations: unknown[] = hPod.spec.tolerations ?? [];
    wantSpec.tolerations = [...hostTolerations, ...(wantSpec.tolerations as unknown[]).filter((t) => !hostTolerations.some((h) => jsonEqual(h, t)))];
    const current = { spec: mutablePodFields(hostPodView(hPod.spec, vPod.spec)) };
    const withTokens = hPod.metadata.annotations?.[marks.tokenIssued] !== undefined;
    const annotations = { ...wantMeta.annotations, ...(withTokens ? await tokenAnnotations(vPod, hPod.metadata.annotations) : {}) };
    const patch = sc.hostPatch(hPod, { ...wantMeta, annotations }, current, { spec: wantSpec });
    await sc.patchHost(hPod, patch);
    return patch.length > 0;
  }

  /** In-place resize: requests and limits changed in the tenant (its pods/resize) reach the host pod the same way. */
  async function resizeHost(vPod: Pod, hPod: Pod): Promise<boolean> {
    if (hPod.metadata.deletionTimestamp) return false;
    const patch = podResizePatch(vPod.spec, hPod.spec);
    if (!patch) return false;
    await ctx.host.patch(types.pods, hPod.metadata.namespace, hPod.metadata.name, patch, 'strategic', 'resize');
    return true;
  }

  /** `kubectl debug`: ephemeral containers added to the virtual pod are added to the host pod (translated and checked like the rest). */
  async function addEphemeralContainers(vPod: Pod, hPod: Pod): Promise<boolean> {
    if (!vPod.spec.ephemeralContainers?.length) return false;
    const want: Array<{ name: string }> = translate(vPod).spec.ephemeralContainers ?? [];
    const have = new Set((hPod.spec.ephemeralContainers ?? []).map((c: { name: string }) => c.name));
    if (want.every((c) => have.has(c.name))) return false;
    await ctx.host.patch(types.pods, hPod.metadata.namespace, hPod.metadata.name, {
      spec: { ephemeralContainers: [...(hPod.spec.ephemeralContainers ?? []), ...want.filter((c) => !have.has(c.name))] },
    }, 'strategic', 'ephemeralcontainers');
    return true;
  }

  interface IssuedTokens {
    /** Token per projected source key. */
    tokens: Record<string, string>;
    issued: string;
    expiry: string;
  }

  /**
   * New tokens from the tenant's API (TokenRequest bound to the virtual pod) when the stored ones
   * are missing or past 80 % of their life; undefined while they are fresh. Schedules the renewal.
   */
  async function freshTokens(vPod: Pod, stored: { issued?: string; expiry?: string; has: (key: string) => boolean }): Promise<IssuedTokens | undefined> {
    const sources = tokenSources(vPod);
    const key = `${vPod.metadata.namespace}/${vPod.metadata.name}`;
    const issued = Date.parse(stored.issued ?? '');
    const expiry = Date.parse(stored.expiry ?? '');
    const renewAt = issued + (expiry - issued) * 0.8;
    if (Date.now() < renewAt && sources.every((src) => stored.has(src.key))) {
      sc.controller.queue.addAfter(key, renewAt - Date.now());
      return undefined;
    }
    const sa = vPod.spec.serviceAccountName ?? 'default';
    const tokens: Record<string, string> = {};
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
      tokens[src.key] = req.status.token;
      earliest = Math.min(earliest, Date.parse(req.status.expirationTimestamp));
    }
    const now = Date.now();
    sc.controller.queue.addAfter(key, (earliest - now) * 0.8);
    return { tokens, issued: new Date(now).toISOString(), expiry: new Date(earliest).toISOString() };
  }

  /** Annotation storage: the token annotations the host pod should carry. */
  async function tokenAnnotations(vPod: Pod, current: Record<string, string> = {}): Promise<Record<string, string>> {
    if (tokenSources(vPod).length === 0) return {};
    const fresh = await freshTokens(vPod, {
      issued: current[marks.tokenIssued],
      expiry: current[marks.tokenExpiry],
      has: (k) => Boolean(current[tokenAnnotation(k)]),
    });
    if (!fresh) return Object.fromEntries(Object.entries(current).filter(([k]) => k.startsWith(marks.tokenPrefix)));
    const out: Record<string, string> = { [marks.tokenIssued]: fresh.issued, [marks.tokenExpiry]: fresh.expiry };
    for (const [k, token] of Object.entries(fresh.tokens)) out[tokenAnnotation(k)] = token;
    return out;
  }

  /** Secret per pod: keeps a host Secret, owned by the host pod, with fresh tokens bound to the pod. */
  async function ensureTokenSecret(vPod: Pod, hPod: Pod): Promise<void> {
    const name = tokenSecretName(hPod.metadata.name);
    if (tokenSources(vPod).length === 0 || !mounts(hPod, name)) return;
    const existing = hostSecrets.get(`${config.hostNamespace}/${name}`);
    const ours = existing?.metadata.annotations?.[marks.objectUid] === vPod.metadata.uid;
    const fresh = await freshTokens(vPod, {
      issued: ours ? existing?.metadata.annotations?.[marks.tokenIssued] : undefined,
      expiry: ours ? existing?.metadata.annotations?.[marks.tokenExpiry] : undefined,
      has: (k) => Boolean(existing?.data?.[k]),
    });
    if (!fresh) return;
    const data = Object.fromEntries(Object.entries(fresh.tokens).map(([k, t]) => [k, Buffer.from(t).toString('base64')]));
    const meta = hostMetadata(vPod, tokenKind, name, config);
    meta.annotations = { ...meta.annotations, [marks.tokenIssued]: fresh.issued, [marks.tokenExpiry]: fresh.expiry };
    // Owned by the host pod alone, so the host's garbage collector removes it with the pod.
    meta.ownerReferences = [{ apiVersion: 'v1', kind: 'Pod', name: hPod.metadata.name, uid: hPod.metadata.uid ?? '', blockOwnerDeletion: false }];
    if (existing) {
      await ctx.host.patch(types.secrets, config.hostNamespace, name, { metadata: { ...meta, resourceVersion: existing.metadata.resourceVersion }, data }, 'merge');
      return;
    }
    try {
      await ctx.host.create(types.secrets, config.hostNamespace, { apiVersion: 'v1', kind: 'Secret', metadata: meta, type: 'Opaque', data });
    } catch (err) {
      // Written a moment ago and not yet in our cache: the next reconcile sees it.
      if (!isAlreadyExists(err)) throw err;
    }
  }

  // A pod waiting for a RuntimeClass (refused so far) is looked at again when a class appears or
  // changes on either side.
  const retryRuntimeClassPods = () => {
    for (const p of sc.vInformer.list((p) => Boolean(p.spec.runtimeClassName) && !p.spec.nodeName)) sc.enqueue(objectKey(p));
  };
  shared.runtimeClasses.onChange(retryRuntimeClassPods);

  // A pod's own token Secret removed on the host (by hand, or by a cleanup) is made again at once:
  // the change that would reconcile the pod may reach the syncer before the Secret's delete does.
  hostSecrets.addHandlers({
    onDelete: (s) => {
      const ann = s.metadata.annotations ?? {};
      const name = ann[marks.objectName];
      if (ann[marks.objectKind] === tokenKind && s.metadata.labels?.[marks.tenant] === config.tenant && name) sc.enqueue(joinKey(ann[marks.objectNamespace], name));
    },
  });

  return sc;
}

/** A merge patch that sets `desired` and removes fields the current status has and desired lacks. */
function nullMissing(current: Record<string, unknown>, desired: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...desired };
  for (const k of Object.keys(current)) if (!(k in desired)) out[k] = null;
  return out;
}
