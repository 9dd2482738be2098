/**
 * The shared serving CA (`--ca-secret`): one Secret that every injector replica reads, and the rotation of its CA
 * across replicas that agree only through the Secret's resourceVersion. States of the Secret:
 *
 *   steady:  ca.crt/ca.key = C            [previous-ca.crt = P]   caBundle ⊇ C (+ P)
 *   staged:  ca.crt/ca.key = C, next-ca.crt/next-ca.key = N      caBundle ⊇ N + C
 *   promoted (steady again): ca.crt/ca.key = N, previous-ca.crt = C
 *
 * A replica stages N when C is past 2/3 of its life, promotes once it serves a leaf of N; both writes are a PUT at the
 * resourceVersion read, so of replicas racing exactly one wins and the others (HTTP 409) re-read and adopt its
 * write. A replica serves a leaf of a CA other than the one it serves now only after it has itself seen that CA in the
 * published caBundle for the propagation delay (its own clock measures only that interval, so skew between replicas
 * does not matter). The caBundle is merged, never overwritten: a replica adds every CA of its view and the one it
 * serves, and drops only CAs that have expired or are older than its view's previous CA — so a replica with an old
 * view never drops a newer CA — and patches only if the bundle is still what it read (compare-and-swap).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { CcmeshError, ErrorCode, describeError } from '../../lib/errors.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import type { CaBundleMerge } from './ca-bundle.js';
import type { KubeClient, VersionedSecret } from './kube-client.js';
import { createServingCa, dueForRenewal, issueServingLeaf, TLS_DIR_FILES, type SelfManagedCa, type ServingCredentials } from './serving-cert.js';

/** Keys of the shared CA Secret besides {@link TLS_DIR_FILES}: the staged next CA and the retired one still trusted. */
export const SHARED_CA_FILES = Object.freeze({ nextCa: 'next-ca.crt', nextCaKey: 'next-ca.key', previousCa: 'previous-ca.crt' });

/** The shared CA Secret, parsed: the CAs a replica may serve from and the one it must keep trusted. */
export interface SharedCaView {
  /** The Secret's resourceVersion when read: the precondition of the next write. */
  readonly resourceVersion: string | undefined;
  readonly current: SelfManagedCa;
  /** Staged by a replica, published next to `current`, served after the propagation delay. */
  readonly next: SelfManagedCa | undefined;
  /** The CA `current` replaced (PEM): stays in the caBundle until the next rotation is staged. */
  readonly previous: string | undefined;
  /** The Secret's data as read, rewritten on stage and promotion. */
  readonly data: Readonly<Record<string, string>>;
  /** Its metadata as read, written back unchanged. */
  readonly metadata: VersionedSecret['metadata'];
}

function caPair(data: Readonly<Record<string, string>>, certKey: string, keyKey: string): SelfManagedCa {
  const certPem = data[certKey]!;
  const keyPem = data[keyKey];
  if (keyPem === undefined) throw new Error(`${certKey} without ${keyKey}`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`${certKey} is not a certificate: ${describeError(err)}`);
  }
  if (!cert.ca) throw new Error(`${certKey} is not a CA certificate`);
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new Error(`${keyKey} is not a private key: ${describeError(err)}`);
  }
  if (!matches) throw new Error(`${keyKey} is not the key of ${certKey}`);
  return { certPem, keyPem };
}

/**
 * Parses the shared CA Secret; undefined for one without `ca.key` (made by an earlier ccmesh: never rotated).
 * Throws INPUT_MALFORMED naming the Secret and the key when a CA, key or previous CA is unusable.
 */
export function parseSharedCaSecret(secret: VersionedSecret, where: string): SharedCaView | undefined {
  const { data, resourceVersion, metadata } = secret;
  if (data[TLS_DIR_FILES.caKey] === undefined) return undefined;
  try {
    if (data[TLS_DIR_FILES.ca] === undefined) throw new Error(`${TLS_DIR_FILES.caKey} without ${TLS_DIR_FILES.ca}`);
    const current = caPair(data, TLS_DIR_FILES.ca, TLS_DIR_FILES.caKey);
    const next = data[SHARED_CA_FILES.nextCa] !== undefined ? caPair(data, SHARED_CA_FILES.nextCa, SHARED_CA_FILES.nextCaKey) : undefined;
    if (next === undefined && data[SHARED_CA_FILES.nextCaKey] !== undefined) throw new Error(`${SHARED_CA_FILES.nextCaKey} without ${SHARED_CA_FILES.nextCa}`);
    const previous = data[SHARED_CA_FILES.previousCa];
    if (previous !== undefined) {
      try {
        if (!new X509Certificate(previous).ca) throw new Error('not a CA certificate');
      } catch (err) {
        throw new Error(`${SHARED_CA_FILES.previousCa}: ${describeError(err)}`);
      }
    }
    return { resourceVersion, current, next, previous, data, metadata };
  } catch (err) {
    throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `the webhook serving CA in ${where} is unusable: ${describeError(err)}`, { cause: err });
  }
}

/** The certificates of a PEM bundle, in order; text that is not a certificate is left out. */
function certificatesOf(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)) {
    try {
      out.push(new X509Certificate(m[0]));
    } catch {
      // Not ours to repair, and not trusted by anyone if it does not parse: drop it.
    }
  }
  return out;
}

/**
 * The caBundle a replica publishes: the CAs it must keep trusted (`keep`: its view's and the one it serves) plus
 * every CA already published that has not expired and is not older than `retiredBefore` (its view's previous CA;
 * none: nothing is retired). Newest first, one copy each, so replicas with one view publish identical bytes.
 */
export function mergeCaBundle(publishedPem: string | undefined, keep: readonly string[], retiredBefore: string | undefined, nowMs: number): string {
  const cutoff = retiredBefore !== undefined ? Date.parse(new X509Certificate(retiredBefore).validFrom) : -Infinity;
  const byFingerprint = new Map<string, X509Certificate>();
  for (const c of keep.flatMap(certificatesOf)) byFingerprint.set(c.fingerprint256, c);
  for (const c of certificatesOf(publishedPem ?? '')) {
    if (Date.parse(c.validTo) <= nowMs || Date.parse(c.validFrom) < cutoff) continue;
    if (!byFingerprint.has(c.fingerprint256)) byFingerprint.set(c.fingerprint256, c);
  }
  return [...byFingerprint.values()]
    .sort((a, b) => Date.parse(b.validFrom) - Date.parse(a.validFrom) || a.fingerprint256.localeCompare(b.fingerprint256))
    .map((c) => c.toString().trimEnd() + '\n')
    .join('');
}

/** Where the shared CA lives and how it rotates. */
export interface SharedCaConfig {
  readonly namespace: string;
  readonly secret: string;
  /** DNS names of the serving leaf. */
  readonly names: readonly string[];
  readonly caLifetimeMs: number;
  readonly leafLifetimeMs: number;
  readonly propagationMs: number;
}

/** What the rotation acts through. */
export interface SharedCaRuntime {
  readonly kube: Pick<KubeClient, 'getSecret' | 'replaceSecret'>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Publishes the caBundle the merge makes of the published one; resolves once the API server holds it. */
  publish(merge: CaBundleMerge): Promise<void>;
  /** Starts serving `creds`. */
  serve(creds: ServingCredentials): void;
  /** Counts a leaf renewed from the CA served (metrics). */
  renewed?(): void;
  /** Counts a switch to the Secret's new CA (metrics). */
  rotated?(): void;
}

/**
 * One replica's part in the shared CA's rotation, run every rotation check interval: `check` reads the Secret and
 * acts on it; `renewLeaf` needs no API call and runs on its own, so a slow or unreachable API server, which holds up
 * `check`, never lets the served leaf expire.
 */
export interface SharedCaRotation {
  check(): Promise<void>;
  renewLeaf(): Promise<void>;
  /** The bundle merge for the current view (startup publishes it). */
  merge(): CaBundleMerge;
}

/**
 * Starts this replica's rotation state from the view it started with, serving `creds` (a leaf of `view.current`).
 */
export function createSharedCaRotation(config: SharedCaConfig, rt: SharedCaRuntime, start: { view: SharedCaView; creds: ServingCredentials }): SharedCaRotation {
  const where = `secret ${config.namespace}/${config.secret}`;
  const log = rt.logger;
  let view = start.view;
  let serving: SelfManagedCa = view.current;
  let creds = start.creds;
  /** The CA this replica will switch to, and when it first saw it in the published caBundle (its own clock). */
  let pending: { readonly ca: SelfManagedCa; readonly publishedAtMs: number } | undefined;

  const merge = (): CaBundleMerge => {
    const v = view;
    const keep = [v.next?.certPem, v.current.certPem, v.previous, serving.certPem].filter((p): p is string => p !== undefined);
    return (published) => mergeCaBundle(published, keep, v.previous, rt.clock.nowMs());
  };

  /** The Secret now; undefined (logged) when it can't be read or used: the replica keeps what it has. */
  async function read(): Promise<SharedCaView | undefined> {
    let got;
    try {
      got = await rt.kube.getSecret(config.namespace, config.secret);
    } catch (err) {
      log.warn('could not read the shared serving CA secret; keeping the current credentials', { secret: where, error: describeError(err) });
      return undefined;
    }
    if (got === undefined) {
      log.error('the shared serving CA secret is gone; keeping the current credentials (a restarted replica makes a new one)', { secret: where });
      return undefined;
    }
    try {
      const parsed = parseSharedCaSecret(got, where);
      if (parsed === undefined) log.error('the shared serving CA secret lost its ca.key; keeping the current credentials', { secret: where });
      return parsed;
    } catch (err) {
      // Someone edited it to something unusable: refuse it, keep serving (the current leaf and CA stay valid).
      log.error('the shared serving CA secret is unusable; keeping the current credentials', { secret: where, error: describeError(err) });
      return undefined;
    }
  }

  /** A PUT of `data` at the view's resourceVersion; on a conflict (another replica wrote first) the re-read view. */
  async function write(data: Record<string, string>, step: 'staged' | 'promoted'): Promise<SharedCaView | undefined> {
    const { resourceVersion } = view;
    if (resourceVersion === undefined || !(await rt.kube.replaceSecret(config.namespace, config.secret, data, { ...view, resourceVersion }))) {
      log.info('another replica wrote the shared serving CA secret first; adopting its write', { secret: where, step });
      return read();
    }
    log.info('shared serving CA secret written', { secret: where, step });
    return read();
  }

  /** The CA of the leaf served or being issued: a renewal started meanwhile issues from it, not from the old one. */
  let target: SelfManagedCa = serving;
  let generation = 0;
  /** Issues a leaf of `ca` and serves it, unless a switch started later finished first (then that one stands). */
  async function switchTo(ca: SelfManagedCa): Promise<void> {
    target = ca;
    const gen = ++generation;
    const leaf = await issueServingLeaf(ca, config.names, rt.clock, config.leafLifetimeMs);
    if (gen !== generation) return;
    rt.serve(leaf);
    serving = ca;
    creds = leaf;
  }

  async function renewLeaf(): Promise<void> {
    if (!dueForRenewal(creds.certPem, rt.clock.nowMs())) return;
    await switchTo(target);
    rt.renewed?.();
    log.info('serving certificate renewed', { secret: where });
  }

  async function check(): Promise<void> {
    const fresh = await read();
    if (fresh !== undefined) {
      view = fresh;
      // Stage: the current CA is past 2/3 of its life and nobody staged a successor yet.
      if (view.next === undefined && dueForRenewal(view.current.certPem, rt.clock.nowMs())) {
        const next = await createServingCa(rt.clock, config.caLifetimeMs);
        const data: Record<string, string> = { ...view.data, [SHARED_CA_FILES.nextCa]: next.certPem, [SHARED_CA_FILES.nextCaKey]: next.keyPem };
        // The previous CA leaves with this rotation: every replica has served the current one since the last.
        delete data[SHARED_CA_FILES.previousCa];
        view = (await write(data, 'staged')) ?? view;
      }
      // Before any switch: the caBundle holds every CA of the view (the merge never drops one a replica serves).
      await rt.publish(merge());
      const want = view.next ?? view.current;
      if (want.certPem === serving.certPem || want.certPem === target.certPem) {
        pending = undefined;
      } else {
        if (pending?.ca.certPem !== want.certPem) pending = { ca: want, publishedAtMs: rt.clock.nowMs() };
        if (rt.clock.nowMs() >= pending.publishedAtMs + config.propagationMs) {
          await switchTo(want);
          rt.rotated?.();
          log.info('serving CA rotated: serving a leaf of the shared secret\'s new CA', { secret: where });
        }
      }
      // Promote: this replica serves the staged CA, so it has been trusted for the propagation delay.
      if (view.next !== undefined && view.next.certPem === serving.certPem) {
        const data: Record<string, string> = {
          ...view.data,
          [TLS_DIR_FILES.ca]: view.next.certPem,
          [TLS_DIR_FILES.caKey]: view.next.keyPem,
          [SHARED_CA_FILES.previousCa]: view.current.certPem,
          [TLS_DIR_FILES.cert]: creds.certPem,
          [TLS_DIR_FILES.key]: creds.keyPem,
        };
        delete data[SHARED_CA_FILES.nextCa];
        delete data[SHARED_CA_FILES.nextCaKey];
        view = (await write(data, 'promoted')) ?? view;
      }
    }
  }

  return { check, renewLeaf, merge };
}
