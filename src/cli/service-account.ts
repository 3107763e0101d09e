// `vnest connect NAME --service-account [NS/]SA [--cluster-role ROLE]`: a kubeconfig that signs in
// as a service account of the tenant (a token from the TokenRequest API) instead of the tenant's
// cluster-admin certificate, for CI jobs and people who should have less (vcluster's option).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parse, stringify } from 'yaml';
import { KubeClient, type KubeObject, type ResourceType } from '../kube/client.ts';
import { isAlreadyExists, isNotFound } from '../kube/errors.ts';
import { dnsLabel } from '../translate/names.ts';
import { CliError } from './host.ts';

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

/** One year: a token for a CI job or a person; --token-expiration changes it. */
export const defaultTokenExpirationSeconds = 365 * 24 * 3600;

const dnsSubdomain = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** `[NAMESPACE/]NAME` (namespace default kube-system, as vcluster's). */
export function serviceAccountRef(value: string): ServiceAccountRef {
  const parts = value.split('/');
  const [namespace, name] = parts.length === 1 ? ['kube-system', parts[0] ?? ''] : [parts[0] ?? '', parts[1] ?? ''];
  if (parts.length > 2 || !dnsLabel.test(namespace) || namespace.length > 63 || !dnsSubdomain.test(name) || name.length > 253) {
    throw new InvalidArgumentError(`"${value}" is not [NAMESPACE/]NAME of a service account (lower-case DNS names)`);
  }
  return { namespace, name };
}

/** The token lifetime: whole seconds, at least the API's minimum of 10 minutes. */
export function tokenExpiration(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 600) throw new InvalidArgumentError(`"${value}" is not a number of seconds of at least 600`);
  return n;
}

/** A ClusterRole's name: any path segment name. */
export function clusterRoleName(value: string): string {
  if (!value || value.length > 253 || /[/%]/.test(value) || value === '.' || value === '..') throw new InvalidArgumentError(`"${value}" is not a ClusterRole name`);
  return value;
}

const serviceAccounts: ResourceType = { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true };
const clusterRoles: ResourceType = { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterroles', kind: 'ClusterRole', namespaced: false };
const clusterRoleBindings: ResourceType = { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false };

/** The name of the ClusterRoleBinding that --cluster-role makes (one per account and role). */
export const bindingName = (sa: ServiceAccountRef, role: string): string => `vnest-connect:${sa.namespace}:${sa.name}:${role}`;

const refused = (what: string) => new CliError('ServiceAccountRefused', 13, what);

/**
 * `adminConfig` (the tenant's exported kubeconfig, its server reachable from here) with its user
 * replaced by a token of `sa`. With `clusterRole`, the account is created when missing and bound to
 * the role cluster-wide; without, it must exist.
 */
export async function serviceAccountKubeconfig(adminConfig: string, sa: ServiceAccountRef, clusterRole: string | undefined, expirationSeconds: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'vnest-connect-'));
  let client: KubeClient | undefined;
  const who = `service account ${sa.namespace}/${sa.name}`;
  try {
    const file = join(dir, 'admin.kubeconfig');
    writeFileSync(file, adminConfig, { mode: 0o600 });
    client = await KubeClient.fromKubeconfigFile(file, { userAgent: 'vnest-connect' });
    const c = client;
    const exists = await c.get(serviceAccounts, sa.namespace, sa.name).then(() => true, (err: unknown) => {
      if (isNotFound(err)) return false;
      throw err;
    });
    if (!exists && !clusterRole) {
      throw refused(`${who} does not exist in the tenant. Create it there, or add --cluster-role ROLE and vnest creates it and binds ROLE to it.`);
    }
    if (clusterRole) {
      await c.get(clusterRoles, undefined, clusterRole).catch((err: unknown) => {
        throw isNotFound(err) ? refused(`ClusterRole "${clusterRole}" does not exist in the tenant ("kubectl get clusterroles" lists them; cluster-admin, admin, edit and view always do).`) : err;
      });
      if (!exists) {
        await c.create(serviceAccounts, sa.namespace, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa.name, namespace: sa.namespace, labels: { 'app.kubernetes.io/managed-by': 'vnest-connect' } } }).catch((err: unknown) => {
          if (isAlreadyExists(err)) return;
          throw isNotFound(err) ? refused(`namespace "${sa.namespace}" does not exist in the tenant: create it first, or name a service account in another namespace.`) : err;
        });
      }
      const binding: KubeObject & Record<string, unknown> = {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding',
        metadata: { name: bindingName(sa, clusterRole), labels: { 'app.kubernetes.io/managed-by': 'vnest-connect' } },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
        subjects: [{ kind: 'ServiceAccount', name: sa.name, namespace: sa.namespace }],
      };
      await c.create(clusterRoleBindings, undefined, binding).catch((err: unknown) => {
        if (!isAlreadyExists(err)) throw err;
      });
    }
    const request = await c.create<KubeObject & { status?: { token?: string } }>(serviceAccounts, sa.namespace, {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', metadata: { name: sa.name, namespace: sa.namespace }, spec: { expirationSeconds },
    }, 'token', sa.name);
    const token = request.status?.token;
    if (!token) throw refused(`the tenant issued no token for ${who}`);
    const doc = parse(adminConfig) as { users?: Array<{ name: string; user: unknown }> };
    doc.users = (doc.users ?? []).map((u) => ({ name: u.name, user: { token } }));
    return stringify(doc);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw refused(`could not get a token for ${who} from the tenant: ${(err as Error).message}`);
  } finally {
    client?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
