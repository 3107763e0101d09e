// The tenant's own DNS: CoreDNS installed into the tenant's cluster (server-side apply, so restarts
// are idempotent). Its pod is synced to the host like any pod; its kube-dns Service shares its
// cluster IP with the host copy, and synced pods get that IP as their nameserver.
import type { KubeClient, KubeObject, ResourceType } from '../kube/client.ts';

export const defaultCorednsImage = 'registry.k8s.io/coredns/coredns:v1.12.1';
export const clusterDomain = 'cluster.local';

const rbac = (plural: string, kind: string): ResourceType => ({ group: 'rbac.authorization.k8s.io', version: 'v1', plural, kind, namespaced: false });
const core = (plural: string, kind: string): ResourceType => ({ group: '', version: 'v1', plural, kind, namespaced: true });

const corefile = `.:1053 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes ${clusterDomain} in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
`;

/** The objects, in apply order. CoreDNS listens on 1053 so it needs no added capability. */
export function corednsObjects(image: string): Array<{ type: ResourceType; body: KubeObject }> {
  const labels = { 'k8s-app': 'kube-dns' };
  const ns = 'kube-system';
  return [
    { type: core('serviceaccounts', 'ServiceAccount'), body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'coredns', namespace: ns } } },
    {
      type: rbac('clusterroles', 'ClusterRole'),
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'system:coredns' },
        rules: [
          { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
          { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
        ],
      },
    },
    {
      type: rbac('clusterrolebindings', 'ClusterRoleBinding'),
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'system:coredns' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
        subjects: [{ kind: 'ServiceAccount', name: 'coredns', namespace: ns }],
      },
    },
    { type: core('configmaps', 'ConfigMap'), body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'coredns', namespace: ns }, data: { Corefile: corefile } } },
    {
      type: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
      body: {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'coredns', namespace: ns, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: 'coredns',
              dnsPolicy: 'Default',
              securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [{
                name: 'coredns',
                image,
                args: ['-conf', '/etc/coredns/Corefile'],
                ports: [{ name: 'dns', containerPort: 1053, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 1053, protocol: 'TCP' }, { name: 'metrics', containerPort: 9153, protocol: 'TCP' }],
                resources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { memory: '170Mi' } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                livenessProbe: { httpGet: { path: '/health', port: 8080 }, initialDelaySeconds: 30, timeoutSeconds: 5 },
                readinessProbe: { httpGet: { path: '/ready', port: 8181 } },
                volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
              }],
              volumes: [{ name: 'config', configMap: { name: 'coredns', items: [{ key: 'Corefile', path: 'Corefile' }] } }],
            },
          },
        },
      },
    },
    {
      type: core('services', 'Service'),
      body: {
        apiVersion: 'v1', kind: 'Service', metadata: { name: 'kube-dns', namespace: ns, labels: { ...labels, 'kubernetes.io/name': 'CoreDNS' } },
        spec: {
          selector: labels,
          ports: [{ name: 'dns', port: 53, targetPort: 1053, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, targetPort: 1053, protocol: 'TCP' }, { name: 'metrics', port: 9153, protocol: 'TCP' }],
        },
      },
    },
  ];
}

/** Applies CoreDNS into the tenant's cluster (server-side apply, field manager vnest-syncer). */
export async function installCoredns(virtual: KubeClient, image = defaultCorednsImage): Promise<void> {
  for (const { type, body } of corednsObjects(image)) {
    await virtual.patch(type, body.metadata.namespace, body.metadata.name, body, 'apply', undefined, { fieldManager: 'vnest-syncer', force: true });
  }
}
