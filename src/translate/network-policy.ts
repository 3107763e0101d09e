// NetworkPolicy translation: a tenant's policy becomes a host policy in the tenant's host
// namespace that selects only this tenant's pods of the policy's namespace, and whose pod and
// namespace peers are this tenant's pods (of the policy's namespace, or of the tenant namespaces
// the namespace selector matches, resolved against the tenant's namespaces). IP blocks are
// copied: they open or restrict only this tenant's own pods. A policy can never select, admit or
// reach another tenant's pods by label, since every selector is narrowed by this tenant's marks.
import { hostSelectorKey, marks } from './metadata.ts';
import { list, project, type Projection, type Shape } from './shape.ts';

type Json = Record<string, any>;

export interface LabelSelectorRequirement { key: string; operator: string; values?: string[] }
export interface LabelSelector { matchLabels?: Record<string, string>; matchExpressions?: LabelSelectorRequirement[] }

const selector: Shape = { matchLabels: 'copy', matchExpressions: list({ key: 'copy', operator: 'copy', values: list('copy') }) };
const peer: Shape = { podSelector: selector, namespaceSelector: selector, ipBlock: { cidr: 'copy', except: list('copy') } };
const port: Shape = { protocol: 'copy', port: 'copy', endPort: 'copy' };

/** Every NetworkPolicy spec field vnest copies to the host; anything else is refused with an Event. */
export const networkPolicySpecShape: Shape = {
  podSelector: selector,
  policyTypes: list('copy'),
  ingress: list({ from: list(peer), ports: list(port) }),
  egress: list({ to: list(peer), ports: list(port) }),
};

/** Whether `labels` match a Kubernetes label selector (an empty selector matches everything). */
export function selectorMatches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const r of sel?.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, r.key);
    const values = r.values ?? [];
    const ok = r.operator === 'In' ? has && values.includes(labels[r.key] as string)
      : r.operator === 'NotIn' ? !has || !values.includes(labels[r.key] as string)
        : r.operator === 'Exists' ? has
          : r.operator === 'DoesNotExist' ? !has : false;
    if (!ok) return false;
  }
  return true;
}

export interface NetworkPolicyContext {
  tenant: string;
  /** The tenant's namespaces with their labels, for namespace selectors. */
  namespaces: ReadonlyArray<{ name: string; labels: Record<string, string> }>;
  allowed?: ReadonlySet<string>;
}

/**
 * A tenant pod selector as a host pod selector: keys as host copies carry them, narrowed to this
 * tenant and to `namespaces` (one namespace, a list, or `'all'` of the tenant's). An empty list
 * selects nothing.
 */
function hostPodSelector(sel: LabelSelector | undefined, tenant: string, namespaces: string[] | 'all'): LabelSelector {
  const matchLabels: Record<string, string> = {};
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) matchLabels[hostSelectorKey(k)] = v;
  matchLabels[marks.tenant] = tenant;
  const matchExpressions = (sel?.matchExpressions ?? []).map((r) => ({ ...r, key: hostSelectorKey(r.key) }));
  if (namespaces === 'all') {
    // Every namespace of the tenant: the tenant mark alone.
  } else if (namespaces.length === 1) {
    matchLabels[marks.namespace] = namespaces[0] as string;
  } else if (namespaces.length > 1) {
    matchExpressions.push({ key: marks.namespace, operator: 'In', values: [...namespaces].sort() });
  } else {
    // No namespace matches: a contradiction selects nothing (an empty peer list would admit all).
    matchExpressions.push({ key: marks.tenant, operator: 'DoesNotExist' });
  }
  return { matchLabels, ...(matchExpressions.length > 0 ? { matchExpressions } : {}) };
}

function hostPeer(p: Json, namespace: string, ctx: NetworkPolicyContext): Json {
  if (p.ipBlock) return { ipBlock: p.ipBlock };
  if (!p.namespaceSelector) return { podSelector: hostPodSelector(p.podSelector, ctx.tenant, [namespace]) };
  const nsSel = p.namespaceSelector as LabelSelector;
  const all = Object.keys(nsSel.matchLabels ?? {}).length === 0 && (nsSel.matchExpressions ?? []).length === 0;
  const names = all ? 'all' : ctx.namespaces.filter((n) => selectorMatches(nsSel, { 'kubernetes.io/metadata.name': n.name, ...n.labels })).map((n) => n.name);
  return { podSelector: hostPodSelector(p.podSelector, ctx.tenant, names) };
}

/**
 * The host copy's spec and every reason the policy must not reach the host, each naming its field.
 * `namespace` is the policy's virtual namespace.
 */
export function hostNetworkPolicySpec(spec: Json, namespace: string, ctx: NetworkPolicyContext): { spec: Json; problems: string[] } {
  const out: Projection = { problems: [] };
  const s = (project(spec, networkPolicySpecShape, 'spec', out, ctx.allowed) ?? {}) as Json;
  const host: Json = { podSelector: hostPodSelector(s.podSelector, ctx.tenant, [namespace]) };
  // Left out, policyTypes follow the rules present, as the API server would decide them.
  host.policyTypes = s.policyTypes ?? ['Ingress', ...(s.egress ? ['Egress'] : [])];
  if (s.ingress) host.ingress = (s.ingress as Json[]).map((r) => ({ ...r, ...(r.from ? { from: (r.from as Json[]).map((p) => hostPeer(p, namespace, ctx)) } : {}) }));
  if (s.egress) host.egress = (s.egress as Json[]).map((r) => ({ ...r, ...(r.to ? { to: (r.to as Json[]).map((p) => hostPeer(p, namespace, ctx)) } : {}) }));
  return { spec: host, problems: out.problems };
}
