// The front door's path classifier against ordinary, proxied and hostile request paths.
import { describe, expect, it } from 'vitest';
import { classifyPath, proxyId, proxyVerb, queryOf, writesNamespace } from './paths.ts';

const kind = (url: string) => classifyPath(url).kind;

describe('classifyPath', () => {
  it('leaves ordinary API paths to be forwarded, queries included', () => {
    for (const url of [
      '/', '/api', '/apis', '/apis/', '/version', '/openapi/v2', '/healthz',
      '/apis/apps/v1/namespaces/x/deployments',
      '/api/v1/namespaces/x/pods?watch=1',
      '/api/v1/namespaces/x/pods/p?fieldSelector=spec.nodeName%3Dn',
      '/api/v1/namespaces/x/pods/p/status',
      '/api/v1/namespaces/x/pods/p/ephemeralcontainers',
      '/api/v1/namespaces/x/services/s',
      '/api/v1/nodes', '/api/v1/nodes/n', '/api/v1/nodes/n/status',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/system:aggregate-to-admin',
      // Not routes of the apiserver at all (it answers 404), so nothing to intercept.
      '/api/v1/namespaces/a/pods/b/log/extra',
      '/apis/example.com/v1/namespaces/a/pods/b/proxy',
    ]) {
      expect(classifyPath(url), url).toEqual({ kind: 'canonical-other' });
    }
  });

  it('finds node proxies, old and new forms, whatever the name, port or case', () => {
    for (const url of [
      '/api/v1/nodes/n/proxy',
      '/api/v1/nodes/n/proxy/',
      '/api/v1/nodes/n/proxy/metrics?x=1',
      '/api/v1/nodes/n:10250/proxy/pods',
      '/api/v1/nodes/https:n:10250/proxy/configz',
      '/api/v1/proxy/nodes/n',
      '/api/v1/proxy/namespaces/a/pods/b',
      '/api/v1/proxy/namespaces/a/services/s/x',
      '/api/v1/proxy',
      '/API/v1/NODES/n/Proxy/x',
    ]) {
      expect(classifyPath(url), url).toEqual({ kind: 'node-proxy' });
    }
  });

  it('finds pod subresources', () => {
    expect(classifyPath('/api/v1/namespaces/a/pods/b/exec?command=ls&stdout=true')).toEqual({ kind: 'pod', namespace: 'a', name: 'b', sub: 'exec', rest: '' });
    expect(classifyPath('/api/v1/namespaces/a/pods/b.c-1/log')).toEqual({ kind: 'pod', namespace: 'a', name: 'b.c-1', sub: 'log', rest: '' });
    expect(kind('/api/v1/namespaces/a/pods/b/attach')).toBe('pod');
    expect(kind('/api/v1/namespaces/a/pods/b/portforward')).toBe('pod');
    // The apiserver ignores a trailing slash here, so it must still be caught.
    expect(classifyPath('/api/v1/namespaces/a/pods/b/exec/')).toEqual({ kind: 'pod', namespace: 'a', name: 'b', sub: 'exec', rest: '' });
  });

  it('finds pod proxies with their port, scheme and rest', () => {
    expect(classifyPath('/api/v1/namespaces/a/pods/b/proxy')).toEqual({ kind: 'pod', namespace: 'a', name: 'b', sub: 'proxy', rest: '' });
    expect(classifyPath('/api/v1/namespaces/a/pods/b/proxy/')).toEqual({ kind: 'pod', namespace: 'a', name: 'b', sub: 'proxy', rest: '/' });
    expect(classifyPath('/api/v1/namespaces/a/pods/b/proxy/x')).toEqual({ kind: 'pod', namespace: 'a', name: 'b', sub: 'proxy', rest: '/x' });
    expect(classifyPath('/api/v1/namespaces/a/pods/b/proxy/x/y/?q=1')).toEqual({ kind: 'pod', namespace: 'a', name: 'b', sub: 'proxy', rest: '/x/y/' });
    expect(classifyPath('/api/v1/namespaces/a/pods/b:8080/proxy')).toEqual({ kind: 'pod', namespace: 'a', name: 'b', port: '8080', sub: 'proxy', rest: '' });
    expect(classifyPath('/api/v1/namespaces/a/pods/https:b:8443/proxy/healthz')).toEqual({ kind: 'pod', namespace: 'a', name: 'b', scheme: 'https', port: '8443', sub: 'proxy', rest: '/healthz' });
  });

  it('finds service proxies, keeping scheme and port', () => {
    expect(classifyPath('/api/v1/namespaces/a/services/s/proxy')).toEqual({ kind: 'service-proxy', namespace: 'a', name: 's', rest: '' });
    expect(classifyPath('/api/v1/namespaces/a/services/https:s:443/proxy/')).toEqual({ kind: 'service-proxy', namespace: 'a', name: 's', scheme: 'https', port: '443', rest: '/' });
    expect(classifyPath('/api/v1/namespaces/a/services/https:s:/proxy/')).toEqual({ kind: 'service-proxy', namespace: 'a', name: 's', scheme: 'https', port: '', rest: '/' });
    expect(classifyPath('/api/v1/namespaces/a/services/s:http/proxy/a/b')).toEqual({ kind: 'service-proxy', namespace: 'a', name: 's', port: 'http', rest: '/a/b' });
  });

  it('refuses paths that are not in canonical form', () => {
    for (const url of [
      '/api/v1/namespaces/a/pods/b/../../../nodes/n/proxy',
      '/api/v1/namespaces/a/pods/b/./proxy',
      '/api/v1/nodes/n%2Fproxy',
      '/api/v1/nodes/n%2fproxy',
      '/api//v1/nodes/n/proxy',
      '//api/v1/nodes/n/proxy',
      '/api/v1/nodes/n/proxy//x',
      '/api/v1/namespaces/a/pods/b/%2e%2e/%2E%2E/%2e%2e/nodes/n/proxy',
      '/api/v1/namespaces/a/pods/b/prox%79',
      '/api/v1/namespaces/a/pods/b/proxy%2F',
      '/api/v1/namespaces/a/pods/b/exec%00',
      '/api/v1/namespaces/a/pods/b/exec%20',
      '/api%2Fv1/nodes/n/proxy',
      '/api/v1/nodes/n\\proxy',
      '/api/v1/namespaces/a/pods/b/exec#x',
      '/api/v1/namespaces/a/pods/b/exec x',
      '/api/v1/namespaces/a/pods/b/exec\u00e9',
      '/api/v1/namespaces/a/pods/b/..',
      '/api/v1/namespaces/a/pods/b/.',
      '//',
      '*',
      'https://elsewhere/api/v1/nodes/n/proxy',
      // Proxies in a case Kubernetes would not route, and names it could not hold.
      '/api/v1/namespaces/a/PODS/b/proxy',
      '/api/v1/namespaces/a/pods/b/EXEC',
      '/api/v1/namespaces/A/pods/b/exec',
      '/api/v1/namespaces/a/pods/b:c/exec',
      '/api/v1/namespaces/a/pods/ftp:b:21/proxy',
      '/api/v1/namespaces/a/pods/a:b:c:d/proxy',
      '/api/v1/namespaces/a/services/:80/proxy',
    ]) {
      const c = classifyPath(url);
      expect(c.kind, url).toBe('reject');
      expect(c.kind === 'reject' && c.message.length > 0).toBe(true);
    }
  });

  it('says why a path is refused', () => {
    const message = (url: string) => {
      const c = classifyPath(url);
      return c.kind === 'reject' ? c.message : `not refused: ${c.kind}`;
    };
    expect(message('/api/v1/nodes/n%2Fproxy')).toMatch(/percent-encoded/);
    expect(message('/api//v1')).toMatch(/empty segments/);
    expect(message('/api/v1/../v1')).toMatch(/"\.\."/);
    expect(message('/api/v1/nodes/n\\proxy')).toMatch(/backslash/);
    expect(message('/api/v1/namespaces/a/pods/b/EXEC')).toMatch(/lower-case/);
  });

  it('checks only the path, not the query', () => {
    expect(kind('/api/v1/namespaces/x/pods?labelSelector=a%3Db&x=..//')).toBe('canonical-other');
    expect(queryOf('/api/v1/namespaces/a/pods/b/proxy/x?a=%2F&b=1')).toBe('?a=%2F&b=1');
    expect(queryOf('/api/v1/namespaces/a/pods/b/proxy/x')).toBe('');
  });
});

describe('proxyVerb', () => {
  it('maps HTTP methods the way Kubernetes does, and refuses others', () => {
    expect(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', undefined].map(proxyVerb))
      .toEqual(['get', 'get', 'create', 'update', 'patch', 'delete', 'options', undefined, undefined]);
  });
});

describe('proxyId', () => {
  it('writes a target back as the path segment had it', () => {
    expect(proxyId({ name: 's' })).toBe('s');
    expect(proxyId({ name: 's', port: '80' })).toBe('s:80');
    expect(proxyId({ name: 's', scheme: 'https', port: '' })).toBe('https:s:');
    expect(proxyId({ name: 's', scheme: '', port: '80' })).toBe(':s:80');
  });
});

describe('writesNamespace', () => {
  it('finds every write to the namespace or in it, in either API form', () => {
    const w = (method: string, path: string) => writesNamespace(method, path, 'vnest-shared');
    expect(w('DELETE', '/api/v1/namespaces/vnest-shared')).toBe(true);
    expect(w('PATCH', '/api/v1/namespaces/vnest-shared/services/infra-dns')).toBe(true);
    expect(w('POST', '/api/v1/namespaces/vnest-shared/configmaps')).toBe(true);
    expect(w('DELETE', '/apis/discovery.k8s.io/v1/namespaces/vnest-shared/endpointslices')).toBe(true);
    expect(w('GET', '/api/v1/namespaces/vnest-shared/services')).toBe(false);
    expect(w('POST', '/api/v1/namespaces/vnest-shared-not/services')).toBe(false);
    expect(w('POST', '/api/v1/namespaces')).toBe(false);
  });
});
