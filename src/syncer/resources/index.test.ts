import { describe, expect, it } from 'vitest';
import { hostClusterRoleRules, hostRoleRules } from './index.ts';

describe('host RBAC', () => {
  it('asks for the owner Service read and full rights only on the kinds it syncs, merged per resource', () => {
    const all = ['create', 'delete', 'get', 'list', 'patch', 'watch'];
    expect(hostRoleRules()).toEqual([
      { apiGroups: [''], resources: ['configmaps'], verbs: all },
      { apiGroups: [''], resources: ['events'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: all },
      { apiGroups: [''], resources: ['pods'], verbs: all },
      { apiGroups: [''], resources: ['pods/attach'], verbs: ['create', 'get'] },
      { apiGroups: [''], resources: ['pods/ephemeralcontainers'], verbs: ['patch'] },
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods/portforward'], verbs: ['create', 'get'] },
      { apiGroups: [''], resources: ['pods/proxy'], verbs: ['create', 'delete', 'get', 'patch', 'update'] },
      { apiGroups: [''], resources: ['pods/resize'], verbs: ['patch'] },
      { apiGroups: [''], resources: ['pods/status'], verbs: ['patch'] },
      { apiGroups: [''], resources: ['secrets'], verbs: all },
      { apiGroups: [''], resources: ['services'], verbs: all },
      { apiGroups: [''], resources: ['services/proxy'], verbs: ['create', 'delete', 'get', 'patch', 'update'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: all },
      { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: all },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: all },
    ]);
  });

  it('needs cluster-wide node reads only for real and all node sync, Service reads only for shared services, RuntimeClass reads only when some are permitted', () => {
    expect(hostClusterRoleRules('fake')).toEqual([]);
    expect(hostClusterRoleRules('real')).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }]);
    expect(hostClusterRoleRules('all')).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }]);
    expect(hostClusterRoleRules('fake', [], { runtimeClasses: true })).toEqual([{ apiGroups: ['node.k8s.io'], resources: ['runtimeclasses'], verbs: ['get', 'list', 'watch'] }]);
    expect(hostClusterRoleRules('fake', [], { sharedServices: true })).toEqual([{ apiGroups: [''], resources: ['services'], verbs: ['list', 'watch'] }]);
  });

  it('reads the host\'s pod metrics in its namespace and node metrics only with resource metrics on', () => {
    expect(hostRoleRules().some((r) => r.apiGroups.includes('metrics.k8s.io'))).toBe(false);
    expect(hostRoleRules([], undefined, true)).toContainEqual({ apiGroups: ['metrics.k8s.io'], resources: ['pods'], verbs: ['get', 'list'] });
    expect(hostClusterRoleRules('fake', [], { resourceMetrics: true })).toEqual([{ apiGroups: ['metrics.k8s.io'], resources: ['nodes'], verbs: ['get'] }]);
  });
});
