// Kubeconfig documents: build one from a server, CA and credentials, and render it as YAML.
import { stringify } from 'yaml';

export interface KubeconfigParams {
  /** Name used for the cluster, user and context entries. */
  name: string;
  server: string;
  caPem: string;
  /** Client certificate credentials, or a bearer token. */
  credentials: { certPem: string; keyPem: string } | { token: string };
  namespace?: string;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** A kubeconfig with one cluster, user and context, as YAML text. */
export function renderKubeconfig(p: KubeconfigParams): string {
  const user =
    'token' in p.credentials
      ? { token: p.credentials.token }
      : { 'client-certificate-data': b64(p.credentials.certPem), 'client-key-data': b64(p.credentials.keyPem) };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: p.name, cluster: { server: p.server, 'certificate-authority-data': b64(p.caPem) } }],
    users: [{ name: p.name, user }],
    contexts: [{ name: p.name, context: { cluster: p.name, user: p.name, ...(p.namespace ? { namespace: p.namespace } : {}) } }],
    'current-context': p.name,
  });
}
