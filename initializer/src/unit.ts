/**
 * The initializer (init container): install the inbound guard FIRST, then obtain the mesh identity with retries
 * until success or shutdown, check the pinned config volumes (writing the verified bytes into the in-memory copies
 * the app reads), and only then write certificates and the workload secret. A failure anywhere leaves the pod
 * closed (guard in place) and without secrets.
 */
import { webcrypto } from 'node:crypto';
import type { EvidenceIssuer } from '../../attestation/issuers/evidence.js';
import { CcmeshError, describeError, ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { applyConfigPins, type ConfigCopySpec } from './config-copy.js';
import { writeCredentials } from './credentials.js';
import { type CoordinatorVerifier, obtainMeshCert } from './obtain.js';

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
  /** uid that gets the workload secret; undefined = leave as written (root, 0400). */
  readonly secretOwner?: number;
  /**
   * Pinned config volumes the app reads only through a verified in-memory copy (`--config-volume`): their files are
   * verified and copied before anything else is written, so the pins hold for the pod's life.
   */
  readonly configCopies?: readonly ConfigCopySpec[];
}

/** Live handles of the initializer. */
export interface InitializerRuntime {
  readonly issuer: () => Promise<EvidenceIssuer>;
  /** When set, every attempt first verifies the Coordinator's own evidence (pinned policy hash) and refuses a fake one. */
  readonly verifyCoordinator?: CoordinatorVerifier;
  /** Installs the fail-closed inbound guard (iptables); undefined only in tests without privileges. */
  readonly installGuard: (() => Promise<void>) | undefined;
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
  const log = rt.logger;
  if (cfg.meshDisabled) {
    log.warn('mesh disabled by the pod\'s args: no guard, no attestation, no credentials');
    return [];
  }
  // SECURITY: the guard goes in before anything else; no secret may exist on a pod that is reachable unprotected.
  if (rt.installGuard) {
    await rt.installGuard();
    log.info('inbound guard installed');
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
      const digests = response.configDigests ?? {};
      // Verified and copied before any credential exists: a mismatch or a failed copy leaves the pod without secrets.
      const config = await applyConfigPins(digests, cfg.configCopies ?? []);
      for (const mount of config.checkedOnly) log.warn('config mount verified at startup only: the app reads the host-synced volume, which the host can change later', { mount });
      const written = await writeCredentials(cfg.tlsDir, cfg.secretPath, {
        key,
        certChain: response.certChain,
        meshCaBundle: response.meshCaBundle,
        rootCa: response.rootCa,
        workloadSecret: new Uint8Array(Buffer.from(response.workloadSecret!, 'base64')),
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
