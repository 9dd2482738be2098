/**
 * The initializer (init container): install the inbound guard FIRST, then obtain the mesh identity with retries
 * until success or shutdown, check the pinned config volumes (writing the verified bytes into the in-memory copies
 * the app reads), and only then write certificates and the workload secret; last, close the `ccmesh` volume's root
 * to other containers (`--volume-root`). A failure anywhere leaves the pod closed (guard in place) and without
 * secrets, or without a started sidecar.
 */
import { webcrypto } from 'node:crypto';
import type { EvidenceIssuer } from '../attestation/issuers/evidence.js';
import { CcmeshError, describeError, ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { applyConfigPins } from './config-copy.js';
import type { InitializerConfig } from './config.js';
import { writeCredentials } from './credentials.js';
import { type CoordinatorVerifier, obtainMeshCert } from './obtain.js';
import { closeVolumeRoot } from './volume-root.js';

/** Live handles of the initializer. */
export interface InitializerRuntime {
  readonly issuer: () => Promise<EvidenceIssuer>;
  /** When set, every attempt first verifies the Coordinator's own evidence (pinned policy hash) and refuses a fake one. */
  readonly verifyCoordinator?: CoordinatorVerifier;
  /** Installs the fail-closed inbound guard (iptables); undefined only in tests without privileges. */
  readonly installGuard: (() => Promise<void>) | undefined;
  /**
   * Installs the TPROXY policy routing the sidecar's capture needs (`ip rule`/`ip route`), which the non-root sidecar
   * cannot add itself; runs right after the guard. Undefined in tests without privileges.
   */
  readonly installRouting?: () => Promise<void>;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

/** Runs the initializer to completion; resolves with the paths written, rejects if it gave up or was stopped. */
export async function runInitializer(cfg: InitializerConfig, rt: InitializerRuntime): Promise<string[]> {
  const written = await obtainAndWrite(cfg, rt);
  // SECURITY: last, once nothing else is written there: from now on only the sidecar (and root with CAP_FOWNER or
  // CAP_DAC_OVERRIDE) may rename or create in the volume root. A failure is not retried: the pod does not start.
  if (cfg.volumeRoot !== undefined && written.length > 0) {
    await closeVolumeRoot(cfg.volumeRoot, cfg.tlsOwner);
    rt.logger.info('pod volume root closed to other containers', { dir: cfg.volumeRoot, owner: cfg.tlsOwner });
  }
  return written;
}

/** Guard, identity, config pins, credentials: everything before the volume root is closed. */
async function obtainAndWrite(cfg: InitializerConfig, rt: InitializerRuntime): Promise<string[]> {
  const log = rt.logger;
  if (cfg.meshDisabled) {
    log.warn('mesh disabled by the pod\'s args: no guard, no attestation, no credentials');
    return [];
  }
  // SECURITY: the guard goes in before anything else; no secret may exist on a pod that is reachable unprotected.
  if (rt.installGuard) {
    await rt.installGuard();
    log.info('inbound guard installed');
    if (rt.installRouting) {
      await rt.installRouting();
      log.info('policy routing for the sidecar\'s capture installed');
    }
  } else {
    log.warn('no guard installer configured (tests only)');
  }
  const issuer = await rt.issuer();
  const sleep = rt.sleep ?? defaultSleep;
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    if (rt.signal?.aborted) throw new CcmeshError(ErrorCode.COORDINATOR_UNREACHABLE, 'stopped before obtaining a mesh identity');
    try {
      const { key, response } = await obtainMeshCert(cfg.coordinator, issuer, rt.signal, rt.verifyCoordinator, cfg.meshOwner);
      const digests = Object.fromEntries(Object.entries(response.configDigests ?? {}).map(([mount, pinned]) => [mount, { ...pinned.files }]));
      // Verified and copied before any credential exists: a mismatch or a failed copy leaves the pod without secrets.
      const config = await applyConfigPins(digests, cfg.configCopies ?? []);
      for (const mount of config.checkedOnly) log.warn('config mount verified at startup only: the app reads the host-synced volume, which the host can change later', { mount });
      const written = await writeCredentials(cfg.tlsDir, cfg.secretPath, {
        key,
        certChain: response.certChain,
        meshCaBundle: response.meshCaBundle,
        rootCa: response.rootCa,
        workloadSecret: new Uint8Array(response.workloadSecret!),
      }, { ...(cfg.tlsOwner !== undefined ? { tls: cfg.tlsOwner } : {}), ...(cfg.secretOwner !== undefined ? { secret: cfg.secretOwner } : {}) });
      log.info('mesh identity obtained', { attempt, workloadSecretId: response.workloadSecretId, files: written, configMountsChecked: Object.keys(digests).length, configCopies: config.copied });
      return written;
    } catch (err) {
      // SECURITY: a mismatch, an unpinned copy or a failed copy is not retried; the pod stays closed without secrets.
      if (err instanceof CcmeshError && (err.code === ErrorCode.CONFIG_DIGEST_MISMATCH || err.code === ErrorCode.CONFIG_COPY_FAILED)) throw err;
      const wait = Math.round(delay * (0.75 + (webcrypto.getRandomValues(new Uint32Array(1))[0]! / 2 ** 32) * 0.5));
      log.warn('attestation attempt failed', { attempt, reason: describeError(err), retryInMs: wait });
      await sleep(wait, rt.signal);
      delay = Math.min(delay * 2, cfg.maxBackoffMs);
    }
  }
}
