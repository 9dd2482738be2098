/**
 * `ccmesh initializer` flags → an {@link InitializerSettings}, every problem reported at once (exit 64). Every setting
 * comes from args: the Kata policy pins them, env vars could be left out by the host. The CLI composes the unit
 * (`unit.ts`) with the iptables guard and the evidence issuer these settings name.
 */
import { readFileSync, statSync } from 'node:fs';
import { ISSUER_KINDS, type IssuerKind } from '../attestation/issuers/select.js';
import type { TokenisedFlags } from '../lib/config/argv.js';
import type { FieldReader } from '../lib/config/fields.js';
import { hexFlag, measurementFlag } from '../lib/config/flag-values.js';
import type { LogLevel } from '../lib/log.js';
import { parseHostPort } from '../lib/mesh-config/egress.js';
import { parseMeshOwnerPin } from '../lib/protocol/mesh-owner.js';
import { PATHS, PROXY_UID } from '../lib/pod-layout.js';
import type { ConfigCopySpec } from './config-copy.js';
import { CONFIG_VOLUME_FLAGS, CONFIG_VOLUME_USAGE, readConfigVolumeFlags } from './config-volume-flags.js';

/** Flags of `ccmesh initializer`. */
export const INITIALIZER_FLAGS = {
  coordinator: { type: 'string' },
  tee: { type: 'string' },
  'sim-dir': { type: 'string' },
  'host-data': { type: 'string' },
  'tls-dir': { type: 'string' },
  'secret-path': { type: 'string' },
  mesh: { type: 'string' },
  'no-guard': { type: 'boolean' },
  'max-backoff': { type: 'string' },
  'tls-owner': { type: 'string' },
  'volume-root': { type: 'string' },
  'coordinator-policy': { type: 'string' },
  'coordinator-root': { type: 'string' },
  'coordinator-measurement': { type: 'string', multiple: true },
  'coordinator-allow-unmeasured': { type: 'boolean' },
  'mesh-owner': { type: 'string' },
  'any-mesh-owner': { type: 'boolean' },
  'secret-owner': { type: 'string' },
  'log-level': { type: 'string' },
  ...CONFIG_VOLUME_FLAGS,
  help: { type: 'boolean' },
} as const;

/** Usage of `ccmesh initializer`. */
export const INITIALIZER_USAGE = `Usage:
  ccmesh initializer --coordinator HOST:PORT [--tee auto|simulated --sim-dir DIR [--host-data HEX32]]
                     [--tls-dir ${PATHS.tlsDir}] [--secret-path ${PATHS.workloadSecret}] [--mesh disabled]

The pod's init container. First installs the fail-closed inbound guard (iptables, IPv4 and IPv6), then attests
to the Coordinator's mesh API (default port 7777) and obtains the pod's mesh certificate and workload secret,
retrying with backoff until it succeeds or is stopped. The manifest's configDigests for this pod are checked
before anything is written; a mismatch exits non-zero with no secret written.
  --mesh disabled  the pod is outside the mesh: no guard, no attestation (only from the pod's args)
  --no-guard       development without root only: skip the guard (the pod is then NOT protected)
  --coordinator-policy HASH  verify the Coordinator before attesting to it: genuine SEV-SNP/TDX evidence (pinned
                   vendor roots) bound to its TLS key and a fresh nonce, HOST_DATA/MRCONFIGID[0:32] = HASH (its
                   policy), launched from an image with a --coordinator-measurement, no debug, no migration agent
  --coordinator-measurement HEX48  the Coordinator's launch measurement (SEV-SNP MEASUREMENT or TDX MRTD;
                   repeatable: any of them passes). Required with --coordinator-policy: the host chooses HOST_DATA
                   at launch, so the policy hash alone proves nothing. TDX TCB status is not evaluated here (the
                   pod has no collateral); the Coordinator's TCB is the operator's check (ccmesh verify)
  --coordinator-allow-unmeasured  INSECURE: accept a Coordinator of any image (instead of a measurement)
  --coordinator-root ARK.pem  also trust this simulated ARK for the Coordinator (development only)
  --mesh-owner HEX32  the mesh owner this pod belongs to (printed by "ccmesh manifest init" and "ccmesh set"; in the
                   workspace's mesh-owner file). Required with --coordinator-policy: a genuine Coordinator whose store
                   the host wiped and re-set serves another owner, and is refused before any evidence is sent and
                   again before credentials are accepted
  --any-mesh-owner INSECURE: accept a Coordinator serving any mesh owner (instead of --mesh-owner)
  --tls-owner UID  owner of the TLS directory and files (default as root: ${PROXY_UID}, the sidecar, which renews
                   into it; "none" leaves them to the writer)
  --secret-owner UID  owner of the workload secret (default: root, mode 0400; set it to the app's runAsUser)
  --volume-root DIR  the root of the pod's ccmesh volume (${PATHS.root} when injected): once everything is written it
                   is made mode 755 and handed to the TLS owner, so other containers' users can't rename the TLS
                   directory away (default: left as it is)
${CONFIG_VOLUME_USAGE}`;

/** Parsed initializer configuration (from pinned args only). */
export interface InitializerConfig {
  readonly coordinator: string;
  /** The pinned mesh owner: the Coordinator's NewMeshCert answer must name it (checked before anything is written). */
  readonly meshOwner?: Uint8Array;
  readonly tlsDir: string;
  readonly secretPath: string;
  /** `--mesh disabled` in the args: no guard, no attestation (a pod deliberately outside the mesh). */
  readonly meshDisabled: boolean;
  /** Longest wait between attempts. */
  readonly maxBackoffMs: number;
  /** uid that gets the TLS directory and files (the sidecar's); undefined = leave as written. */
  readonly tlsOwner?: number;
  /**
   * The root of the pod's `ccmesh` volume (`--volume-root`, `/ccmesh` when injected): after everything is written it
   * is made 0755 and handed to `tlsOwner`, so no other container's user can rename the TLS directory away.
   * Undefined = left as it is.
   */
  readonly volumeRoot?: string;
  /** uid that gets the workload secret; undefined = leave as written (root, 0400). */
  readonly secretOwner?: number;
  /**
   * Pinned config volumes the app reads only through a verified in-memory copy (`--config-volume`): their files are
   * verified and copied before anything else is written, so the pins hold for the pod's life.
   */
  readonly configCopies?: readonly ConfigCopySpec[];
}

/** How the initializer checks the Coordinator before attesting to it (`--coordinator-policy` and friends). */
export interface CoordinatorCheck {
  /** The Coordinator's policy hash, hex. */
  readonly policyHash: string;
  /** Its launch measurements (hex), or 'any' with --coordinator-allow-unmeasured. */
  readonly measurements: readonly string[] | 'any';
  /** A simulated ARK to trust as well (development only). */
  readonly simulatedRootPem?: string;
}

/** Everything `ccmesh initializer` was told: the unit's config and what the CLI composes around it. */
export interface InitializerSettings {
  readonly config: InitializerConfig;
  readonly tee: IssuerKind;
  readonly simDir?: string;
  readonly hostData?: Uint8Array;
  /** Absent: the Coordinator is not verified (development). */
  readonly coordinatorCheck?: CoordinatorCheck;
  /** --any-mesh-owner: the Coordinator's mesh owner is not checked (insecure, warned). */
  readonly anyMeshOwner: boolean;
  /** --no-guard: development without root only. */
  readonly noGuard: boolean;
  readonly logLevel: LogLevel;
}

/** Reads every flag; problems are collected on `r` (the caller's `r.finish()` reports them all). */
export function readInitializerSettings(r: FieldReader, tok: TokenisedFlags, runningAsRoot: boolean): InitializerSettings {
  const mesh = r.oneOf('mesh', ['enabled', 'disabled'] as const, 'enabled');
  const coordinator = mesh === 'disabled' ? r.raw('coordinator') : r.requiredString('coordinator', 'the Coordinator mesh API address HOST:PORT');
  // SECURITY: checked here, before the command installs the inbound guard: a typo must cost nothing (as root on a
  // developer machine the guard would cut off inbound traffic, SSH included, while retrying a bad address).
  if (coordinator !== undefined && coordinator !== '' && parseHostPort(coordinator) === undefined) {
    r.issue('coordinator', coordinator, 'the Coordinator mesh API address HOST:PORT (a DNS name or IPv4 address, or [IPv6]; port 1-65535)');
  }
  const tee = r.oneOf('tee', ISSUER_KINDS, 'auto');
  const simDir = r.raw('sim-dir');
  if (tee === 'simulated' && simDir === undefined) r.issue('sim-dir', undefined, 'the simulated platform directory with --tee simulated');
  const hostData = hexFlag(r, 'host-data', 32);
  if (hostData && tee !== 'simulated') r.issue('host-data', r.raw('host-data'), 'no --host-data unless --tee simulated (real hardware sets it at launch)');
  const maxBackoff = r.duration('max-backoff', 30_000);
  const uid = (field: string, fallback: number | undefined): number | undefined =>
    r.raw(field) === undefined ? fallback : r.integer(field, 0, 2 ** 31 - 1);
  const tlsOwner = r.raw('tls-owner') === 'none' ? undefined : uid('tls-owner', runningAsRoot ? PROXY_UID : undefined);
  const secretOwner = uid('secret-owner', undefined);
  const coordinatorPolicy = hexFlag(r, 'coordinator-policy', 32);
  const coordinatorRoot = r.raw('coordinator-root');
  if (coordinatorRoot !== undefined && !coordinatorPolicy) r.issue('coordinator-root', coordinatorRoot, 'only together with --coordinator-policy');
  const coordinatorMeasurements = measurementFlag(r, tok, 'coordinator-measurement');
  const coordinatorUnmeasured = r.raw('coordinator-allow-unmeasured') === 'true';
  const measurementsGiven = (tok.lists['coordinator-measurement']?.length ?? 0) > 0;
  if ((measurementsGiven || coordinatorUnmeasured) && !coordinatorPolicy) {
    r.issue(measurementsGiven ? 'coordinator-measurement' : 'coordinator-allow-unmeasured', undefined, 'only together with --coordinator-policy');
  } else if (coordinatorPolicy && measurementsGiven === coordinatorUnmeasured) {
    r.issue('coordinator-measurement', undefined, measurementsGiven
      ? 'either --coordinator-measurement or --coordinator-allow-unmeasured, not both'
      : 'the Coordinator\'s launch measurement with --coordinator-policy (48 bytes of hex: its SEV-SNP MEASUREMENT or TDX MRTD), or --coordinator-allow-unmeasured (insecure)');
  }
  const meshOwnerText = r.raw('mesh-owner');
  const meshOwner = meshOwnerText === undefined ? undefined : parseMeshOwnerPin(meshOwnerText);
  if (meshOwnerText !== undefined && meshOwner === undefined) r.issue('mesh-owner', meshOwnerText, '64 hex digits (the mesh owner pin)');
  const anyMeshOwner = r.raw('any-mesh-owner') === 'true';
  if ((meshOwnerText !== undefined || anyMeshOwner) && !coordinatorPolicy) {
    r.issue(meshOwnerText !== undefined ? 'mesh-owner' : 'any-mesh-owner', meshOwnerText, 'only together with --coordinator-policy (the owner is read from the Coordinator\'s verified evidence)');
  } else if (coordinatorPolicy && (meshOwnerText !== undefined) === anyMeshOwner) {
    r.issue('mesh-owner', meshOwnerText, meshOwnerText !== undefined
      ? 'either --mesh-owner or --any-mesh-owner, not both'
      : 'the mesh owner pin with --coordinator-policy (--mesh-owner HEX32, from the workspace\'s mesh-owner file), or --any-mesh-owner (insecure)');
  }
  let coordinatorRootPem: string | undefined;
  if (coordinatorRoot !== undefined) {
    try {
      const st = statSync(coordinatorRoot);
      if (!st.isFile() || st.size > 1024 * 1024) throw new Error('not a regular file of at most 1 MiB');
      coordinatorRootPem = readFileSync(coordinatorRoot, 'utf8');
    } catch (err) {
      r.issue('coordinator-root', coordinatorRoot, `a readable PEM file (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  const configCopies: ConfigCopySpec[] = readConfigVolumeFlags(r, tok);
  const logLevel = r.oneOf('log-level', ['debug', 'info', 'warn', 'error'] as const, 'info');
  const config: InitializerConfig = {
    coordinator: coordinator ?? '',
    ...(meshOwner ? { meshOwner } : {}),
    tlsDir: r.raw('tls-dir') ?? PATHS.tlsDir,
    ...(r.raw('volume-root') !== undefined ? { volumeRoot: r.raw('volume-root')! } : {}),
    secretPath: r.raw('secret-path') ?? PATHS.workloadSecret,
    meshDisabled: mesh === 'disabled',
    maxBackoffMs: maxBackoff ?? 30_000,
    ...(tlsOwner !== undefined ? { tlsOwner } : {}),
    ...(secretOwner !== undefined ? { secretOwner } : {}),
    configCopies,
  };
  return {
    config,
    tee: tee ?? 'auto',
    ...(simDir !== undefined ? { simDir } : {}),
    ...(hostData ? { hostData } : {}),
    ...(coordinatorPolicy
      ? { coordinatorCheck: { policyHash: Buffer.from(coordinatorPolicy).toString('hex'), measurements: coordinatorUnmeasured ? 'any' : coordinatorMeasurements, ...(coordinatorRootPem !== undefined ? { simulatedRootPem: coordinatorRootPem } : {}) } }
      : {}),
    anyMeshOwner,
    noGuard: r.raw('no-guard') === 'true',
    logLevel: logLevel ?? 'info',
  };
}
