import { describe, expect, it } from 'vitest';
import { resourceOfPath } from './client.ts';

describe('resourceOfPath', () => {
  it('names the resource and subresource a request path writes', () => {
    expect(resourceOfPath('/api/v1/namespaces/x/pods/y/status')).toBe('pods/status');
    expect(resourceOfPath('/api/v1/namespaces/x/pods')).toBe('pods');
    expect(resourceOfPath('/api/v1/namespaces/x')).toBe('namespaces');
    expect(resourceOfPath('/api/v1/nodes/n1?fieldManager=a')).toBe('nodes');
    expect(resourceOfPath('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1')).toBe('leases');
    expect(resourceOfPath('/apis/authorization.k8s.io/v1/subjectaccessreviews')).toBe('subjectaccessreviews');
  });
});
