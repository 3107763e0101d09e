// metrics.k8s.io as a Table (what `kubectl get podmetrics` and `kubectl get nodemetrics` ask for),
// with the columns metrics-server gives them: Name, one per resource (summed over a pod's
// containers, as Kubernetes quantities), Window.

/** The Table version a request's Accept header asks for first, or undefined when it prefers plain JSON. */
export function tableVersion(accept: string | undefined): 'v1' | 'v1beta1' | undefined {
  for (const entry of (accept ?? '').split(',')) {
    const [type, ...params] = entry.split(';').map((p) => p.trim());
    if (type !== 'application/json' && type !== '*/*' && type !== 'application/*') continue;
    const p = Object.fromEntries(params.map((x) => x.split('=').map((s) => s.trim()) as [string, string]));
    if (p.as === undefined) return undefined;
    if (p.as === 'Table' && p.g === 'meta.k8s.io' && (p.v === 'v1' || p.v === 'v1beta1')) return p.v;
  }
  return undefined;
}

const decimalSuffixes: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const binarySuffixes: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
type Format = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';
const nano = 10n ** 9n;

/** A quantity in billionths (rounded up, as Kubernetes rounds below nano), and its format. */
function parseQuantity(q: string): { nanos: bigint; format: Format } {
  const m = /^([+-]?)(\d+)(?:\.(\d*))?(?:([eE][+-]?\d+)|([a-zA-Z]*))$/.exec(q.trim());
  if (!m) throw new Error(`quantity ${JSON.stringify(q)} is not a Kubernetes quantity`);
  const [, sign, whole, frac = '', exponent, suffix = ''] = m;
  const digits = BigInt(`${whole}${frac}`);
  let num = digits * nano;
  let den = 10n ** BigInt(frac.length);
  let format: Format = 'DecimalSI';
  if (exponent !== undefined) {
    format = 'DecimalExponent';
    const e = Number(exponent.slice(1));
    if (e >= 0) num *= 10n ** BigInt(e);
    else den *= 10n ** BigInt(-e);
  } else if (suffix in binarySuffixes) {
    format = 'BinarySI';
    num *= 1024n ** BigInt(binarySuffixes[suffix] ?? 0);
  } else if (suffix in decimalSuffixes) {
    const e = decimalSuffixes[suffix] ?? 0;
    if (e >= 0) num *= 10n ** BigInt(e);
    else den *= 10n ** BigInt(-e);
  } else {
    throw new Error(`quantity ${JSON.stringify(q)} has an unknown suffix`);
  }
  const nanos = (num + den - 1n) / den;
  return { nanos: sign === '-' ? -nanos : nanos, format };
}

/** Kubernetes' canonical form of a quantity of `nanos` billionths in `format` (Quantity.String()). */
function canonical(nanos: bigint, format: Format): string {
  if (nanos === 0n) return '0';
  const abs = nanos < 0n ? -nanos : nanos;
  const sign = nanos < 0n ? '-' : '';
  if (format === 'BinarySI' && abs % nano === 0n && abs / nano >= 1024n) {
    let n = abs / nano;
    let e = 0;
    while (e < 6 && n % 1024n === 0n) {
      n /= 1024n;
      e++;
    }
    return `${sign}${n}${['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'][e] ?? ''}`;
  }
  let n = abs;
  let e = -9;
  while (e < 18 && n % 1000n === 0n) {
    n /= 1000n;
    e += 3;
  }
  if (format === 'DecimalExponent') return `${sign}${n}${e === 0 ? '' : `e${e}`}`;
  return `${sign}${n}${Object.entries(decimalSuffixes).find(([, x]) => x === e)?.[0] ?? ''}`;
}

/** The sum of Kubernetes quantities, in the first one's format, written canonically. */
export function sumQuantities(quantities: string[]): string {
  if (quantities.length === 0) return '0';
  const parsed = quantities.map(parseQuantity);
  return canonical(parsed.reduce((s, p) => s + p.nanos, 0n), parsed[0]?.format ?? 'DecimalSI');
}

type Usage = Record<string, string>;
interface MetricsObject { kind?: string; apiVersion?: string; metadata: { name: string }; window?: string; usage?: Usage; containers?: Array<{ usage?: Usage }> }

/** A pod's usage (its containers' summed per resource) or a node's. */
function usageOf(m: MetricsObject): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (u: Usage | undefined) => {
    for (const [k, v] of Object.entries(u ?? {})) (out[k] ??= []).push(v);
  };
  if (m.containers) for (const c of m.containers) add(c.usage);
  else add(m.usage);
  return out;
}

/**
 * A metrics object or list as a meta.k8s.io Table, as metrics-server writes it: the columns come
 * from the first item's resources (sorted); each row carries the object, its metadata only, or
 * nothing (`includeObject`: Object, Metadata (the default), None).
 */
export function metricsTable(doc: MetricsObject | { items: MetricsObject[] }, version: 'v1' | 'v1beta1', includeObject: string | null): Record<string, unknown> {
  const items = 'items' in doc ? doc.items : [doc];
  const first = items[0];
  const names = first ? Object.keys(usageOf(first)).sort() : [];
  const columnDefinitions = first ? [
    { name: 'Name', type: 'string', format: 'name', description: 'Name of the resource', priority: 0 },
    ...names.map((n) => ({ name: n, type: 'string', format: 'quantity', description: '', priority: 0 })),
    { name: 'Window', type: 'string', format: 'duration', description: '', priority: 0 },
  ] : [];
  const rows = items.map((m) => {
    const usage = usageOf(m);
    const object = includeObject === 'None' ? undefined
      : includeObject === 'Object' ? m
        : { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: m.metadata };
    return { cells: [m.metadata.name, ...names.map((n) => sumQuantities(usage[n] ?? [])), m.window ?? ''], ...(object ? { object } : {}) };
  });
  return { kind: 'Table', apiVersion: `meta.k8s.io/${version}`, metadata: {}, columnDefinitions, rows };
}
