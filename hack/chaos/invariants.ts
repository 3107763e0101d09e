// What must hold once the syncer has converged after faults, read afresh from both APIs (not from
// any cache the syncer shares), each with a count of violations and examples:
// - pods: every virtual pod has exactly one host pod made for it (same UID) and every host pod of
//   the tenant has its virtual pod; none stuck terminating; phase and node agree;
// - copies: every ConfigMap, Secret and claim a pod references, every claim and Service, has its
//   host copy made for the current object with the current data; no copy is left that nothing
//   references; each pod's service account has its token Secret and no token Secret is left over;
//   claim phases agree;
// - marks: every object in the host namespace but the namespace's own carries the vnest marks and
//   the owner reference.
import type { KubeClient, KubeObject } from '../../src/kube/client.ts';
import { types } from '../../src/syncer/context.ts';
import { sharedTokenKind, sharedTokenSecretName } from '../../src/syncer/resources/tokens.ts';
import { marks } from '../../src/translate/metadata.ts';
import { hostName } from '../../src/translate/names.ts';

export const invariantNames = [
  'podsMissing', 'podsOrphaned', 'podsDuplicated', 'podsTerminating', 'podStatusMismatch',
  'copiesMissing', 'copiesStale', 'copiesLeftover', 'claimStatusMismatch', 'unmarked',
] as const;
export type InvariantName = (typeof invariantNames)[number] | 'notConverged' | 'idleWrites' | 'memory';
export type Violations = Record<InvariantName, number>;

export const noViolations = (): Violations => ({
  podsMissing: 0, podsOrphaned: 0, podsDuplicated: 0, podsTerminating: 0, podStatusMismatch: 0,
  copiesMissing: 0, copiesStale: 0, copiesLeftover: 0, claimStatusMismatch: 0, unmarked: 0,
  notConverged: 0, idleWrites: 0, memory: 0,
});

type Obj = KubeObject & { spec?: any; status?: any; data?: Record<string, string>; binaryData?: Record<string, string> };

export interface CheckResult {
  violations: Violations;
  /** A few examples per violated invariant. */
  examples: Partial<Record<InvariantName, string[]>>;
  total: number;
}

export interface CheckContext {
  virtual: KubeClient;
  host: KubeClient;
  tenant: string;
  hostNamespace: string;
  /** The owner Service every synced host object must be owned by. */
  ownerService: string;
  /** Host objects in the host namespace that are not the tenant's (name by kind). */
  hostOwn: { configmaps: string[]; services: string[]; secrets: string[] };
}

/** What a pod references by name, in its own namespace (volumes, env, envFrom, pull secrets). */
export function podRefs(pod: Obj): { configmaps: Set<string>; secrets: Set<string>; pvcs: Set<string> } {
  const out = { configmaps: new Set<string>(), secrets: new Set<string>(), pvcs: new Set<string>() };
  const spec = pod.spec ?? {};
  for (const v of spec.volumes ?? []) {
    if (v.configMap?.name) out.configmaps.add(v.configMap.name);
    if (v.secret?.secretName) out.secrets.add(v.secret.secretName);
    if (v.persistentVolumeClaim?.claimName) out.pvcs.add(v.persistentVolumeClaim.claimName);
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap?.name) out.configmaps.add(s.configMap.name);
      if (s.secret?.name) out.secrets.add(s.secret.name);
    }
  }
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef?.name) out.configmaps.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef?.name) out.secrets.add(e.valueFrom.secretKeyRef.name);
    }
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef?.name) out.configmaps.add(e.configMapRef.name);
      if (e.secretRef?.name) out.secrets.add(e.secretRef.name);
    }
  }
  for (const s of spec.imagePullSecrets ?? []) if (s.name) out.secrets.add(s.name);
  return out;
}

const usesToken = (pod: Obj) => (pod.spec?.volumes ?? []).some((v: any) => (v.projected?.sources ?? []).some((s: any) => s.serviceAccountToken));
const finished = (pod: Obj) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
const sameJson = (a: unknown, b: unknown) => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, sortKeys(x)]));
  return v;
}
const nonEmpty = (o: Record<string, string> | undefined) => (o && Object.keys(o).length ? o : {});

async function listAll(client: KubeClient, rt: typeof types.pods, namespace?: string): Promise<Obj[]> {
  const items: Obj[] = [];
  let cont: string | undefined;
  do {
    const page = await client.list<Obj>(rt, namespace, { limit: 500, continue: cont });
    items.push(...page.items);
    cont = page.metadata.continue || undefined;
  } while (cont);
  return items;
}

/** Reads both sides and counts what is wrong. */
export async function checkInvariants(c: CheckContext): Promise<CheckResult> {
  const violations = noViolations();
  const examples: CheckResult['examples'] = {};
  const flag = (name: InvariantName, what: string) => {
    violations[name]++;
    const list = (examples[name] ??= []);
    if (list.length < 5) list.push(what);
  };
  const [vPods, vCms, vSecrets, vPvcs, vSvcs, hPods, hCms, hSecrets, hPvcs, hSvcs] = await Promise.all([
    listAll(c.virtual, types.pods), listAll(c.virtual, types.configmaps), listAll(c.virtual, types.secrets),
    listAll(c.virtual, types.pvcs), listAll(c.virtual, types.services),
    listAll(c.host, types.pods, c.hostNamespace), listAll(c.host, types.configmaps, c.hostNamespace), listAll(c.host, types.secrets, c.hostNamespace),
    listAll(c.host, types.pvcs, c.hostNamespace), listAll(c.host, types.services, c.hostNamespace),
  ]);
  const hName = (o: Obj) => hostName(o.metadata.name, o.metadata.namespace ?? '', c.tenant);
  const ann = (o: Obj, k: string) => o.metadata.annotations?.[k];
  const tenantObjects = (list: Obj[]) => list.filter((o) => o.metadata.labels?.[marks.tenant] === c.tenant);
  const vKeyOf = (o: Obj) => `${ann(o, marks.objectNamespace)}/${ann(o, marks.objectName)}`;

  // Pods.
  const hPodByName = new Map(tenantObjects(hPods).map((p) => [p.metadata.name, p]));
  const vPodByKey = new Map(vPods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]));
  for (const p of vPods) {
    const key = `${p.metadata.namespace}/${p.metadata.name}`;
    if (p.metadata.deletionTimestamp) {
      flag('podsTerminating', `virtual pod ${key} terminating since ${p.metadata.deletionTimestamp}`);
      continue;
    }
    const h = hPodByName.get(hName(p));
    // An unbound pod naming a claim that is missing or going waits without a host pod, as the
    // scheduler keeps it waiting.
    const claimGone = (n: string) => !vPvcs.some((c) => c.metadata.namespace === p.metadata.namespace && c.metadata.name === n && !c.metadata.deletionTimestamp);
    if (!h && !p.spec?.nodeName && [...podRefs(p).pvcs].some(claimGone)) continue;
    if (!h || ann(h, marks.objectUid) !== p.metadata.uid) {
      flag('podsMissing', `virtual pod ${key} (uid ${p.metadata.uid}) has no host pod${h ? ` (${h.metadata.name} is for uid ${ann(h, marks.objectUid)})` : ''}`);
      continue;
    }
    if (h.metadata.deletionTimestamp) continue; // counted below
    if ((p.status?.phase ?? '') !== (h.status?.phase ?? '') || (p.spec?.nodeName ?? '') !== (h.spec?.nodeName ?? '')) {
      flag('podStatusMismatch', `pod ${key}: virtual ${p.status?.phase}@${p.spec?.nodeName ?? '-'}, host ${h.status?.phase}@${h.spec?.nodeName ?? '-'}`);
    }
  }
  const byUid = new Map<string, number>();
  for (const h of tenantObjects(hPods)) {
    const uid = ann(h, marks.objectUid) ?? '';
    byUid.set(uid, (byUid.get(uid) ?? 0) + 1);
    if (h.metadata.deletionTimestamp) flag('podsTerminating', `host pod ${h.metadata.name} terminating since ${h.metadata.deletionTimestamp}`);
    const v = vPodByKey.get(vKeyOf(h));
    if (!v || v.metadata.uid !== ann(h, marks.objectUid)) flag('podsOrphaned', `host pod ${h.metadata.name} for ${vKeyOf(h)} uid ${ann(h, marks.objectUid)}: ${v ? `the virtual pod is uid ${v.metadata.uid}` : 'no virtual pod'}`);
  }
  for (const [uid, n] of byUid) if (n > 1) flag('podsDuplicated', `${n} host pods for virtual uid ${uid}`);

  // What live pods reference, by virtual key, and which service accounts need tokens.
  const refs = { configmaps: new Set<string>(), secrets: new Set<string>(), pvcs: new Set<string>() };
  const tokenSecrets = new Set<string>();
  for (const p of vPods) {
    const r = podRefs(p);
    for (const k of ['configmaps', 'secrets', 'pvcs'] as const) for (const n of r[k]) refs[k].add(`${p.metadata.namespace}/${n}`);
    if (!p.metadata.deletionTimestamp && !finished(p) && usesToken(p)) tokenSecrets.add(sharedTokenSecretName(p.spec?.serviceAccountName ?? 'default', p.metadata.namespace ?? '', c.tenant));
  }

  // ConfigMaps and Secrets: referenced ones have current copies; unreferenced ones have none.
  const dataCheck = (kind: 'ConfigMap' | 'Secret', vList: Obj[], hList: Obj[], referenced: Set<string>) => {
    const hByName = new Map(tenantObjects(hList).filter((h) => ann(h, marks.objectKind) === kind).map((h) => [h.metadata.name, h]));
    const vByKey = new Map(vList.map((v) => [`${v.metadata.namespace}/${v.metadata.name}`, v]));
    for (const key of referenced) {
      const v = vByKey.get(key);
      if (!v || v.metadata.deletionTimestamp) continue; // a pod waiting for it (as on a kubelet)
      const h = hByName.get(hName(v));
      if (!h || ann(h, marks.objectUid) !== v.metadata.uid) {
        flag('copiesMissing', `${kind} ${key} (uid ${v.metadata.uid}) referenced but ${h ? `its host copy is for uid ${ann(h, marks.objectUid)}` : 'has no host copy'}`);
        continue;
      }
      const same = kind === 'ConfigMap'
        ? sameJson(nonEmpty(h.data), nonEmpty(v.data)) && sameJson(nonEmpty(h.binaryData), nonEmpty(v.binaryData))
        : sameJson(nonEmpty(h.data), nonEmpty(v.data));
      if (!same) flag('copiesStale', `${kind} ${key}: host data ${JSON.stringify(h.data)} != virtual ${JSON.stringify(v.data)}`);
    }
    for (const h of hByName.values()) {
      const key = vKeyOf(h);
      const v = vByKey.get(key);
      const wanted = v && v.metadata.uid === ann(h, marks.objectUid) && (referenced.has(key) || ann(v, marks.syncAlways) === 'true');
      if (!wanted) flag('copiesLeftover', `host ${kind} ${h.metadata.name} for ${key}: ${!v ? 'no virtual object' : v.metadata.uid !== ann(h, marks.objectUid) ? 'made for an earlier object' : 'nothing references it'}`);
    }
  };
  dataCheck('ConfigMap', vCms, hCms, refs.configmaps);
  dataCheck('Secret', vSecrets, hSecrets, refs.secrets);
  const hTokens = tenantObjects(hSecrets).filter((h) => ann(h, marks.objectKind) === sharedTokenKind);
  for (const name of tokenSecrets) if (!hTokens.some((h) => h.metadata.name === name)) flag('copiesMissing', `token Secret ${name} missing for running pods`);
  for (const h of hTokens) if (!tokenSecrets.has(h.metadata.name)) flag('copiesLeftover', `token Secret ${h.metadata.name} left with no running pod of its service account`);

  // Claims and Services: every one has its copy (claims: phase too), and no copy outlives its object.
  const everyOne = (kind: string, vList: Obj[], hList: Obj[], skip: (v: Obj) => boolean, status?: (v: Obj, h: Obj) => void) => {
    const hByName = new Map(tenantObjects(hList).filter((h) => ann(h, marks.objectKind) === kind).map((h) => [h.metadata.name, h]));
    const vByKey = new Map(vList.map((v) => [`${v.metadata.namespace}/${v.metadata.name}`, v]));
    for (const v of vList) {
      if (skip(v) || v.metadata.deletionTimestamp) continue;
      const h = hByName.get(hName(v));
      if (!h || ann(h, marks.objectUid) !== v.metadata.uid) flag('copiesMissing', `${kind} ${v.metadata.namespace}/${v.metadata.name} has no host copy${h ? ' for its uid' : ''}`);
      else status?.(v, h);
    }
    for (const h of hByName.values()) {
      const v = vByKey.get(vKeyOf(h));
      if (!v || v.metadata.uid !== ann(h, marks.objectUid)) flag('copiesLeftover', `host ${kind} ${h.metadata.name} for ${vKeyOf(h)}: ${v ? 'made for an earlier object' : 'no virtual object'}`);
    }
  };
  everyOne('PersistentVolumeClaim', vPvcs, hPvcs, () => false, (v, h) => {
    if ((v.status?.phase ?? '') !== (h.status?.phase ?? '')) flag('claimStatusMismatch', `claim ${v.metadata.namespace}/${v.metadata.name}: virtual ${v.status?.phase}, host ${h.status?.phase}`);
  });
  everyOne('Service', vSvcs, hSvcs, (v) => v.metadata.namespace === 'default' && v.metadata.name === 'kubernetes');

  // Marks: everything in the host namespace but the namespace's own objects is the tenant's, marked and owned.
  const own = (kind: keyof CheckContext['hostOwn'], o: Obj) => c.hostOwn[kind].includes(o.metadata.name);
  const all: Array<[string, Obj]> = [
    ...hPods.map((o): [string, Obj] => ['pod', o]),
    ...hCms.filter((o) => !own('configmaps', o)).map((o): [string, Obj] => ['configmap', o]),
    ...hSecrets.filter((o) => !own('secrets', o)).map((o): [string, Obj] => ['secret', o]),
    ...hPvcs.map((o): [string, Obj] => ['claim', o]),
    ...hSvcs.filter((o) => !own('services', o)).map((o): [string, Obj] => ['service', o]),
  ];
  for (const [kind, o] of all) {
    const missing = [
      ...(o.metadata.labels?.[marks.tenant] === c.tenant ? [] : [marks.tenant]),
      ...[marks.objectName, marks.objectNamespace, marks.objectUid, marks.objectKind].filter((k) => !ann(o, k)),
      // Token Secrets per pod are owned by their pod; everything else by the owner Service.
      ...((o.metadata.ownerReferences ?? []).some((r) => r.kind === 'Service' && r.name === c.ownerService) ? [] : ['owner reference']),
    ];
    if (missing.length) flag('unmarked', `host ${kind} ${o.metadata.name} lacks ${missing.join(', ')}`);
  }
  const total = Object.values(violations).reduce((s, n) => s + n, 0);
  return { violations, examples, total };
}
