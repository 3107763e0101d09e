// The Pod Security Standards (baseline and restricted, as Kubernetes defines them) checked on a
// tenant's pod before it reaches the host, each control with its operator exception. Messages
// name the field, so the tenant sees what to change.
import type { IsolationPolicy, PolicyException } from './policy.ts';

type Json = Record<string, any>;

const baselineCapabilities = new Set([
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT',
]);
const safeSysctls = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes', 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem',
]);
const seLinuxTypes = new Set(['container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
/** Volume types the restricted level allows. */
const restrictedVolumes = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret', 'image']);

interface Container {
  path: string;
  c: Json;
}

export function containersOf(spec: Json): Container[] {
  const out: Container[] = [];
  for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
    (spec[field] ?? []).forEach((c: Json, i: number) => out.push({ path: `spec.${field}[${i}]`, c }));
  }
  return out;
}

/** Violations of the policy's pod security level (less its exceptions) by `spec`. */
export function podSecurityViolations(spec: Json, policy: IsolationPolicy): string[] {
  if (policy.podSecurity === 'privileged') return [];
  const out: string[] = [];
  const check = (control: PolicyException, bad: boolean, message: string) => {
    if (bad && !policy.allow.has(control)) out.push(message);
  };
  const containers = containersOf(spec);
  const psc: Json = spec.securityContext ?? {};

  check('hostNetwork', spec.hostNetwork === true, 'spec.hostNetwork: host networking is not allowed');
  check('hostPID', spec.hostPID === true, 'spec.hostPID: the host PID namespace is not allowed');
  check('hostIPC', spec.hostIPC === true, 'spec.hostIPC: the host IPC namespace is not allowed');
  check('hostProcess', psc.windowsOptions?.hostProcess === true, 'spec.securityContext.windowsOptions.hostProcess: host processes are not allowed');
  (spec.volumes ?? []).forEach((v: Json, i: number) => {
    check('hostPath', v.hostPath !== undefined, `spec.volumes[${i}].hostPath: hostPath volumes are not allowed`);
  });
  checkSeLinux(psc.seLinuxOptions, 'spec.securityContext.seLinuxOptions', check);
  checkSeccomp(psc.seccompProfile, 'spec.securityContext.seccompProfile', check);
  checkAppArmor(psc.appArmorProfile, 'spec.securityContext.appArmorProfile', check);
  (psc.sysctls ?? []).forEach((s: Json, i: number) => {
    check('sysctls', !safeSysctls.has(s.name), `spec.securityContext.sysctls[${i}]: sysctl ${s.name} is not in the safe set`);
  });

  for (const { path, c } of containers) {
    const sc: Json = c.securityContext ?? {};
    check('privileged', sc.privileged === true, `${path}.securityContext.privileged: container ${c.name} must not be privileged`);
    check('hostProcess', sc.windowsOptions?.hostProcess === true, `${path}.securityContext.windowsOptions.hostProcess: host processes are not allowed`);
    const added: string[] = sc.capabilities?.add ?? [];
    const beyond = added.filter((cap) => !baselineCapabilities.has(cap));
    check('capabilities', beyond.length > 0, `${path}.securityContext.capabilities.add: container ${c.name} adds ${beyond.join(', ')}`);
    (c.ports ?? []).forEach((p: Json, i: number) => {
      check('hostPorts', Boolean(p.hostPort) || Boolean(p.hostIP), `${path}.ports[${i}].hostPort: host ports are not allowed`);
    });
    checkSeLinux(sc.seLinuxOptions, `${path}.securityContext.seLinuxOptions`, check);
    checkSeccomp(sc.seccompProfile, `${path}.securityContext.seccompProfile`, check);
    checkAppArmor(sc.appArmorProfile, `${path}.securityContext.appArmorProfile`, check);
    check('procMount', sc.procMount !== undefined && sc.procMount !== 'Default', `${path}.securityContext.procMount: only the Default /proc mount is allowed`);
    for (const [name, probe] of handlers(c)) {
      for (const kind of ['httpGet', 'tcpSocket']) {
        check('hostProbes', Boolean(probe?.[kind]?.host), `${path}.${name}.${kind}.host: probes and hooks may not name a host`);
      }
    }
  }

  if (policy.podSecurity === 'restricted') {
    (spec.volumes ?? []).forEach((v: Json, i: number) => {
      const type = Object.keys(v).find((k) => k !== 'name');
      check('volumeTypes', type !== undefined && !restrictedVolumes.has(type), `spec.volumes[${i}].${type}: the restricted level does not allow ${type} volumes`);
    });
    for (const { path, c } of containers) {
      const sc: Json = c.securityContext ?? {};
      check('privilegeEscalation', sc.allowPrivilegeEscalation !== false, `${path}.securityContext.allowPrivilegeEscalation must be false`);
      check('runAsNonRoot', (sc.runAsNonRoot ?? psc.runAsNonRoot) !== true, `${path}.securityContext.runAsNonRoot must be true (here or in spec.securityContext)`);
      check('runAsUser', (sc.runAsUser ?? psc.runAsUser) === 0, `${path}.securityContext.runAsUser must not be 0`);
      const seccomp = (sc.seccompProfile ?? psc.seccompProfile)?.type;
      check('seccomp', seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost', `${path}.securityContext.seccompProfile.type must be RuntimeDefault or Localhost (here or in spec.securityContext)`);
      const drop: string[] = sc.capabilities?.drop ?? [];
      check('capabilities', !drop.includes('ALL'), `${path}.securityContext.capabilities.drop must include ALL`);
      const added: string[] = sc.capabilities?.add ?? [];
      check('capabilities', added.some((cap) => cap !== 'NET_BIND_SERVICE'), `${path}.securityContext.capabilities.add may only add NET_BIND_SERVICE`);
    }
    check('runAsUser', psc.runAsUser === 0, 'spec.securityContext.runAsUser must not be 0');
  }
  return out;
}

function handlers(c: Json): Array<[string, Json | undefined]> {
  return [
    ['livenessProbe', c.livenessProbe], ['readinessProbe', c.readinessProbe], ['startupProbe', c.startupProbe],
    ['lifecycle.postStart', c.lifecycle?.postStart], ['lifecycle.preStop', c.lifecycle?.preStop],
  ];
}

type Check = (control: PolicyException, bad: boolean, message: string) => void;

function checkSeLinux(o: Json | undefined, path: string, check: Check): void {
  if (!o) return;
  check('seLinux', o.type !== undefined && o.type !== '' && !seLinuxTypes.has(o.type), `${path}.type: SELinux type ${o.type} is not allowed`);
  check('seLinux', Boolean(o.user), `${path}.user: a custom SELinux user is not allowed`);
  check('seLinux', Boolean(o.role), `${path}.role: a custom SELinux role is not allowed`);
}

function checkSeccomp(o: Json | undefined, path: string, check: Check): void {
  check('seccomp', o?.type === 'Unconfined', `${path}.type: Unconfined seccomp is not allowed`);
}

function checkAppArmor(o: Json | undefined, path: string, check: Check): void {
  check('appArmor', o?.type === 'Unconfined', `${path}.type: Unconfined AppArmor is not allowed`);
}
