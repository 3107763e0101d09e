// Classifies a request path for the front door: which requests would make the tenant's control
// plane dial a node or pod (so the front door must answer them itself), and which paths are not in
// the one canonical form the front door and kube-apiserver are sure to read the same way.

export type PodSubresource = 'log' | 'exec' | 'attach' | 'portforward' | 'proxy';

/**
 * A proxy target as Kubernetes writes it in a path segment: `name`, `name:port` or
 * `scheme:name:port` (port may be empty in the last form, as in `https:dashboard:`).
 */
export interface ProxyTarget {
  namespace: string;
  name: string;
  scheme?: string;
  port?: string;
  /** What follows `/proxy`, from its leading slash on; empty for `…/proxy` itself. */
  rest: string;
}

export type PathClass =
  | { kind: 'canonical-other' }
  | { kind: 'reject'; message: string }
  | ({ kind: 'pod'; sub: PodSubresource } & ProxyTarget)
  | ({ kind: 'service-proxy' } & ProxyTarget)
  | { kind: 'node-proxy' };

// RFC 3986 path characters without percent-encoding: nothing here is decoded, so the apiserver
// reads exactly the bytes the front door matched. Names never need more: Kubernetes refuses `%`
// and `/` in every object name.
const pathChars = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const namespacePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const namePattern = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const portPattern = /^[a-z0-9-]{0,15}$/;
const plainSubresources = new Set<PodSubresource>(['log', 'exec', 'attach', 'portforward']);

const reject = (message: string): PathClass => ({ kind: 'reject', message });

/** The path of a request target, without its query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** The query of a request target, `?` included, or ''. */
export function queryOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q);
}

/**
 * The RBAC verb Kubernetes checks for a proxy request with this HTTP method (its request info's
 * mapping; OPTIONS is `options`); none for a method its proxy does not serve.
 */
export function proxyVerb(method: string | undefined): string | undefined {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    case 'OPTIONS':
      return 'options';
    default:
      return undefined;
  }
}

/** `name`, `name:port` or `scheme:name:port` again, as the path segment carries it. */
export function proxyId(t: Pick<ProxyTarget, 'name' | 'scheme' | 'port'>): string {
  if (t.scheme !== undefined) return `${t.scheme}:${t.name}:${t.port ?? ''}`;
  if (t.port !== undefined) return `${t.name}:${t.port}`;
  return t.name;
}

/** Splits a proxy id the way Kubernetes' SplitSchemeNamePort does; undefined when it is invalid. */
function splitProxyId(id: string): Pick<ProxyTarget, 'name' | 'scheme' | 'port'> | undefined {
  const parts = id.split(':');
  let out: Pick<ProxyTarget, 'name' | 'scheme' | 'port'>;
  if (parts.length === 1) out = { name: id };
  else if (parts.length === 2) out = { name: parts[0] ?? '', port: parts[1] ?? '' };
  else if (parts.length === 3) out = { scheme: parts[0] ?? '', name: parts[1] ?? '', port: parts[2] ?? '' };
  else return undefined;
  if (out.scheme !== undefined && !['', 'http', 'https'].includes(out.scheme)) return undefined;
  if (out.port !== undefined && !portPattern.test(out.port)) return undefined;
  return out;
}

/**
 * Classifies the path of request target `url` (its query is not looked at). Structural keywords
 * are matched without regard to case, so `/API/v1/NODES/n/proxy` cannot slip through as "other";
 * such a path is then refused because Kubernetes' own paths are lower-case.
 */
export function classifyPath(url: string): PathClass {
  const path = pathOf(url);
  if (!path.startsWith('/')) return reject(`the request target must be an absolute path, not ${JSON.stringify(path.slice(0, 100))}`);
  if (path.includes('%')) return reject('percent-encoded characters are not accepted in the request path; send the path in plain characters');
  if (path.includes('\\')) return reject('backslashes are not accepted in the request path');
  if (!pathChars.test(path)) {
    const bad = [...path].find((c) => !pathChars.test(c)) ?? '';
    return reject(`character ${JSON.stringify(bad)} is not accepted in the request path`);
  }
  const segments = path.slice(1).split('/');
  // One trailing slash is part of a proxied path (`…/proxy/`); elsewhere the apiserver ignores it.
  const trailingSlash = segments.length > 1 && segments[segments.length - 1] === '';
  if (trailingSlash) segments.pop();
  if (path !== '/' && segments.includes('')) return reject('empty segments (//) are not accepted in the request path');
  if (segments.some((s) => s === '.' || s === '..')) return reject('"." and ".." segments are not accepted in the request path');

  const word = (i: number, ...expected: string[]): boolean => expected.includes(segments[i]?.toLowerCase() ?? '');
  if (!word(0, 'api') || !word(1, 'v1')) return { kind: 'canonical-other' };
  if (word(2, 'proxy') || (word(2, 'nodes') && segments.length >= 5 && word(4, 'proxy'))) {
    return { kind: 'node-proxy' };
  }
  if (!word(2, 'namespaces') || segments.length < 7 || !word(4, 'pods', 'services')) return { kind: 'canonical-other' };
  const resource = segments[4]?.toLowerCase() === 'pods' ? 'pods' : 'services';
  const sub = segments[6]?.toLowerCase() ?? '';
  const isPodSub = resource === 'pods' && (sub === 'proxy' || (plainSubresources.has(sub as PodSubresource) && segments.length === 7));
  if (!isPodSub && !(resource === 'services' && sub === 'proxy')) return { kind: 'canonical-other' };

  const keywords = [0, 1, 2, 4, 6].map((i) => segments[i] ?? '');
  if (keywords.some((k) => k !== k.toLowerCase())) return reject(`Kubernetes paths are lower-case: ${keywords.join(', ')}`);
  const namespace = segments[3] ?? '';
  if (!namespacePattern.test(namespace) || namespace.length > 63) return reject(`invalid namespace ${JSON.stringify(namespace)}`);
  const id = segments[5] ?? '';
  const target = sub === 'proxy' ? splitProxyId(id) : { name: id };
  if (!target || !namePattern.test(target.name) || target.name.length > 253) {
    return reject(`invalid ${resource === 'pods' ? 'pod' : 'service'} ${sub === 'proxy' ? 'proxy target' : 'name'} ${JSON.stringify(id)}`);
  }
  const tail = segments.slice(7);
  const rest = tail.length ? `/${tail.join('/')}${trailingSlash ? '/' : ''}` : trailingSlash && sub === 'proxy' ? '/' : '';
  if (resource === 'services') return { kind: 'service-proxy', namespace, ...target, rest };
  return { kind: 'pod', namespace, ...target, sub: sub as PodSubresource, rest };
}

/**
 * Whether a request changes the namespace that holds Services shared into the tenant, or anything
 * in it: only the syncer (which does not come through the front door) writes there.
 */
export function writesNamespace(method: string | undefined, path: string, namespace: string): boolean {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return false;
  const ns = `/namespaces/${namespace}`;
  const at = path.startsWith('/api/v1/') ? path.slice('/api/v1'.length) : /^\/apis\/[^/]+\/[^/]+\//.test(path) ? path.replace(/^\/apis\/[^/]+\/[^/]+/, '') : '';
  return at === ns || at.startsWith(`${ns}/`);
}
