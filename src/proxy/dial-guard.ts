// Objects that make the tenant's control plane itself dial out: admission webhooks and CRD
// conversion webhooks. A `url` there is an address the tenant wrote, dialled from inside the host
// network, so the front door refuses writes that would store one (webhooks must name a Service of
// the tenant, which reaches the tenant's own pods through their host copies).


const guarded = [
  /^\/apis\/admissionregistration\.k8s\.io\/[^/]+\/(validating|mutating)webhookconfigurations(\/[^/]+)?$/,
  /^\/apis\/apiextensions\.k8s\.io\/[^/]+\/customresourcedefinitions(\/[^/]+)?$/,
];

/** Whether a write to `path` (canonical, without query) could store a webhook address. */
export function isGuardedWrite(method: string | undefined, path: string): boolean {
  return (method === 'POST' || method === 'PUT' || method === 'PATCH') && guarded.some((re) => re.test(path));
}

/** The value at `keys` below `obj`, if every step is an object. */
function at(obj: unknown, ...keys: string[]): unknown {
  let v = obj;
  for (const k of keys) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** The fields of a webhook configuration or CRD (or a list of them) that hold a URL to dial. */
export function webhookUrls(obj: unknown): string[] {
  const items = at(obj, 'items');
  if (Array.isArray(items)) return items.flatMap((item: unknown, i: number) => webhookUrls(item).map((f) => `items[${i}].${f}`));
  const out: string[] = [];
  const webhooks = at(obj, 'webhooks');
  (Array.isArray(webhooks) ? webhooks : []).forEach((w: unknown, i: number) => {
    if (at(w, 'clientConfig', 'url')) out.push(`webhooks[${i}].clientConfig.url`);
  });
  if (at(obj, 'spec', 'conversion', 'webhook', 'clientConfig', 'url')) out.push('spec.conversion.webhook.clientConfig.url');
  if (at(obj, 'spec', 'conversion', 'webhookClientConfig', 'url')) out.push('spec.conversion.webhookClientConfig.url');
  return out;
}

/** The refusal message for `fields`, naming them and what to do instead. */
export function webhookRefusal(fields: string[]): string {
  return `${fields.join(', ')}: webhooks that dial a URL are not allowed in a virtual cluster (the control plane would dial it from the host's network); use clientConfig.service to name a Service of this cluster`;
}
