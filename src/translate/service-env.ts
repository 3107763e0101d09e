// The service environment variables a kubelet gives every container (FOO_SERVICE_HOST, FOO_PORT,
// ...; pkg/kubelet/envvars upstream), computed from the tenant's Services. A host pod runs with
// enableServiceLinks off (the host's Services are not the tenant's), so the syncer writes the
// tenant's into the host pod's spec instead, when the host copy is created: they name the Services
// of the pod's namespace that exist then (a kubelet reads them when a container starts), and the
// tenant's `default/kubernetes` Service always, as a kubelet adds its cluster's.

export interface ServiceForEnv {
  metadata: { name: string; namespace?: string };
  spec?: { clusterIP?: string; ports?: Array<{ name?: string; port: number; protocol?: string }> };
}

export interface EnvVar {
  name: string;
  value: string;
}

const envName = (s: string) => s.replaceAll('-', '_').toUpperCase();
const hasIp = (s: ServiceForEnv) => Boolean(s.spec?.clusterIP) && s.spec?.clusterIP !== 'None';

/** The variables for these Services, in the kubelet's form (its Docker-link variables included). */
export function serviceEnvVars(services: ServiceForEnv[]): EnvVar[] {
  const out: EnvVar[] = [];
  for (const svc of services) {
    const ip = svc.spec?.clusterIP ?? '';
    const ports = svc.spec?.ports ?? [];
    if (!hasIp(svc) || ports.length === 0) continue;
    const prefix = envName(svc.metadata.name);
    out.push({ name: `${prefix}_SERVICE_HOST`, value: ip }, { name: `${prefix}_SERVICE_PORT`, value: String(ports[0]!.port) });
    for (const p of ports) if (p.name) out.push({ name: `${prefix}_SERVICE_PORT_${envName(p.name)}`, value: String(p.port) });
    const host = ip.includes(':') ? `[${ip}]` : ip;
    ports.forEach((p, i) => {
      const protocol = (p.protocol ?? 'TCP').toLowerCase();
      const url = `${protocol}://${host}:${p.port}`;
      if (i === 0) out.push({ name: `${prefix}_PORT`, value: url });
      const portPrefix = `${prefix}_PORT_${p.port}_${protocol.toUpperCase()}`;
      out.push({ name: portPrefix, value: url }, { name: `${portPrefix}_PROTO`, value: protocol },
        { name: `${portPrefix}_PORT`, value: String(p.port) }, { name: `${portPrefix}_ADDR`, value: ip });
    });
  }
  return out;
}

/**
 * The variables a pod in `namespace` gets: its namespace's Services when `enableServiceLinks` is
 * not false, and `default/kubernetes` always (it wins over a Service of that name elsewhere, as
 * upstream). Sorted by Service name, so a pod's spec does not depend on cache order.
 */
export function podServiceEnv(namespace: string, enableServiceLinks: boolean | undefined, services: ServiceForEnv[]): EnvVar[] {
  const chosen = new Map<string, ServiceForEnv>();
  const master = services.find((s) => s.metadata.namespace === 'default' && s.metadata.name === 'kubernetes' && hasIp(s));
  if (master) chosen.set('kubernetes', master);
  if (enableServiceLinks !== false) {
    for (const s of services) {
      if (s.metadata.namespace === namespace && hasIp(s) && !chosen.has(s.metadata.name)) chosen.set(s.metadata.name, s);
    }
  }
  return serviceEnvVars([...chosen.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)));
}

/**
 * A container's env with the service variables first (so `$(FOO_SERVICE_HOST)` in its own values
 * expands), leaving out those it sets itself, which win as they do over a kubelet's.
 */
export function withServiceEnv<E extends { name: string }>(env: E[] | undefined, serviceEnv: EnvVar[]): Array<E | EnvVar> {
  const own = new Set((env ?? []).map((e) => e.name));
  return [...serviceEnv.filter((e) => !own.has(e.name)), ...(env ?? [])];
}
