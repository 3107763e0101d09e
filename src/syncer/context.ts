// What every sync controller and resource descriptor is handed: the tenant, both clients, the
// event recorder, the configuration, and the informers they read from.
import type { Logger } from 'pino';
import type { KubeClient, KubeObject, OwnerReference, ResourceType } from '../kube/client.ts';
import type { Informer } from '../kube/informer.ts';
import type { ResolvedCustomResource } from './custom/discovery.ts';
import type { IsolationPolicy } from '../translate/policy.ts';
import type { EventRecorder } from './events.ts';
import type { SyncerMetrics } from './metrics.ts';

export const tokenStorages = ['secret', 'pod-secret', 'annotation'] as const;
export type TokenStorage = (typeof tokenStorages)[number];

/**
 * Which host nodes a tenant sees, and how: `fake` and `real` show the nodes its pods run on
 * (generic or mirrored), `all` every host node its pods may run on (mirrored).
 */
export const nodeSyncModes = ['fake', 'real', 'all'] as const;
export type NodeSyncMode = (typeof nodeSyncModes)[number];

export interface SyncerConfig {
  tenant: string;
  hostNamespace: string;
  /** The tenant's domain: Ingress hosts must lie in it. */
  domain: string;
  /** Whether host Services shared with this tenant appear in its vnest-shared namespace. */
  sharedServices?: boolean;
  /** ownerReference put on every synced host object (the tenant's host Service); none when unset. */
  owner?: OwnerReference;
  /** Workers per controller. */
  workers: number;
  resyncSeconds: number;
  /** What tenants may ask of the host: pod security level, exceptions, permitted classes, keys. */
  policy: IsolationPolicy;
  /** Which host nodes appear as virtual nodes, and whether they mirror the host's (nodeSyncModes). */
  nodeSync: NodeSyncMode;
  /** Service account host pods run as (its token is not mounted). */
  hostServiceAccount: string;
  /**
   * Where in-pod clients reach the tenant's API (KUBERNETES_SERVICE_HOST/PORT) and the CA that
   * signs its serving certificate (the `ca.crt` of every kube-root-ca.crt ConfigMap's host copy);
   * unset leaves them.
   */
  tenantApi?: { host: string; port: number; caPem?: string };
  /** Lifetime of the service-account tokens the syncer requests for host pods. */
  tokenExpirationSeconds: number;
  /** Where host pods get their tokens: a host Secret per service account or per pod, or the host pod's annotations. */
  tokenStorage: TokenStorage;
  /** Image of the init container that gives pods with a subdomain the tenant's FQDN in /etc/hosts (translate/pods.ts); none when unset. */
  hostsImage?: string;
  /** Custom resource kinds to sync, resolved against the host's CRDs at start. */
  customResources: ResolvedCustomResource[];
}

export interface SyncContext {
  config: SyncerConfig;
  virtual: KubeClient;
  host: KubeClient;
  events: EventRecorder;
  metrics: SyncerMetrics;
  log: Logger;
  informers: Informers;
}

/** Where a host informer looks, when not at this tenant's objects in its host namespace. */
export interface HostScope {
  namespace?: string;
  labelSelector?: string;
}

/** Which of the tenant's objects a virtual informer sees, when not all of the kind. */
export interface VirtualScope {
  labelSelector?: string;
}

/** Informers shared by all controllers, one per (cluster, kind, namespace, selector). */
export interface Informers {
  virtual<T extends KubeObject>(rt: ResourceType, scope?: VirtualScope): Informer<T>;
  host<T extends KubeObject>(rt: ResourceType, scope?: HostScope): Informer<T>;
}

export const core = (plural: string, kind: string, namespaced = true): ResourceType => ({ group: '', version: 'v1', plural, kind, namespaced });

export const types = {
  pods: core('pods', 'Pod'),
  configmaps: core('configmaps', 'ConfigMap'),
  secrets: core('secrets', 'Secret'),
  serviceaccounts: core('serviceaccounts', 'ServiceAccount'),
  pvcs: core('persistentvolumeclaims', 'PersistentVolumeClaim'),
  services: core('services', 'Service'),
  nodes: core('nodes', 'Node', false),
  namespaces: core('namespaces', 'Namespace', false),
  events: core('events', 'Event'),
} satisfies Record<string, ResourceType>;
