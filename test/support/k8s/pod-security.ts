/**
 * The Pod Security Standards' "baseline" and "restricted" checks (kubernetes.io/docs/concepts/security/pod-security-standards,
 * the policy as of Kubernetes 1.29), over a pod spec, for tests. Each violation names the policy control and the
 * field, as the PodSecurity admission plugin's message does. Only fields ccmesh's injected pods and the test inputs
 * use are read; the controls are written from the published table, not from the plugin's code.
 */

type Obj = Record<string, unknown>;

/** One failed control. */
export interface PssViolation {
  readonly level: 'baseline' | 'restricted';
  readonly control: string;
  readonly field: string;
  readonly detail: string;
}

/** Capabilities "baseline" allows to be added. */
const BASELINE_CAPS = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
/** Volume types "restricted" allows. */
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(obj) : []);

/** Every violation of `level` (restricted includes baseline) by a pod spec. */
export function checkPodSecurity(spec: Obj, level: 'baseline' | 'restricted'): PssViolation[] {
  const out: PssViolation[] = [];
  const add = (l: PssViolation['level'], control: string, field: string, detail: string): void => {
    if (l === 'baseline' || level === 'restricted') out.push({ level: l, control, field, detail });
  };
  const pod = obj(spec.securityContext);
  for (const k of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (spec[k] === true) add('baseline', 'Host Namespaces', `spec.${k}`, 'true');
  const containers = [
    ...list(spec.initContainers).map((c, i) => ({ c, field: `spec.initContainers[${i}]` })),
    ...list(spec.containers).map((c, i) => ({ c, field: `spec.containers[${i}]` })),
    ...list(spec.ephemeralContainers).map((c, i) => ({ c, field: `spec.ephemeralContainers[${i}]` })),
  ];
  const seccompOk = (t: unknown): boolean => t === 'RuntimeDefault' || t === 'Localhost';
  const podSeccomp = obj(pod.seccompProfile).type;
  if (podSeccomp === 'Unconfined') add('baseline', 'Seccomp', 'spec.securityContext.seccompProfile.type', 'Unconfined');
  if (pod.runAsUser === 0) add('restricted', 'Running as Non-root user', 'spec.securityContext.runAsUser', '0');
  for (const k of Object.keys(obj(pod.sysctls))) add('baseline', 'Sysctls', 'spec.securityContext.sysctls', k);
  for (const [i, v] of list(spec.volumes).entries()) {
    if (v.hostPath !== undefined) add('baseline', 'HostPath Volumes', `spec.volumes[${i}]`, 'hostPath');
    const type = Object.keys(v).find((k) => k !== 'name');
    if (type !== undefined && !RESTRICTED_VOLUMES.has(type)) add('restricted', 'Volume Types', `spec.volumes[${i}]`, type);
  }
  for (const { c, field } of containers) {
    const sc = obj(c.securityContext);
    if (sc.privileged === true) add('baseline', 'Privileged Containers', `${field}.securityContext.privileged`, 'true');
    const caps = obj(sc.capabilities);
    const added = Array.isArray(caps.add) ? (caps.add as unknown[]).map(String) : [];
    const beyondBaseline = added.filter((x) => !BASELINE_CAPS.has(x));
    if (beyondBaseline.length > 0) add('baseline', 'Capabilities', `${field}.securityContext.capabilities.add`, beyondBaseline.join(','));
    const beyondRestricted = added.filter((x) => x !== 'NET_BIND_SERVICE' && BASELINE_CAPS.has(x));
    if (beyondRestricted.length > 0) add('restricted', 'Capabilities', `${field}.securityContext.capabilities.add`, beyondRestricted.join(','));
    const dropped = Array.isArray(caps.drop) ? (caps.drop as unknown[]).map(String) : [];
    if (!dropped.includes('ALL')) add('restricted', 'Capabilities', `${field}.securityContext.capabilities.drop`, 'ALL not dropped');
    if (list(c.ports).some((p) => typeof p.hostPort === 'number' && p.hostPort !== 0)) add('baseline', 'Host Ports', `${field}.ports`, 'hostPort');
    if (sc.procMount !== undefined && sc.procMount !== 'Default') add('baseline', '/proc Mount Type', `${field}.securityContext.procMount`, String(sc.procMount));
    const seccomp = obj(sc.seccompProfile).type;
    if (seccomp === 'Unconfined') add('baseline', 'Seccomp', `${field}.securityContext.seccompProfile.type`, 'Unconfined');
    if (!seccompOk(seccomp) && !(seccomp === undefined && seccompOk(podSeccomp))) add('restricted', 'Seccomp', `${field}.securityContext.seccompProfile.type`, String(seccomp));
    if (sc.allowPrivilegeEscalation !== false) add('restricted', 'Privilege Escalation', `${field}.securityContext.allowPrivilegeEscalation`, String(sc.allowPrivilegeEscalation));
    const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
    if (nonRoot !== true) add('restricted', 'Running as Non-root', `${field}.securityContext.runAsNonRoot`, String(nonRoot));
    if (sc.runAsUser === 0) add('restricted', 'Running as Non-root user', `${field}.securityContext.runAsUser`, '0');
  }
  return out;
}
