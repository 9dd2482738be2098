/**
 * The Coordinator's logic, independent of gRPC: states (fresh → ready; restart → recovery → ready), manifest
 * transitions, mesh certificate issuance and renewal, recovery and its own attestation. Every refusal is a
 * {@link Refusal}; the server maps it to a status once.
 *
 * Replicas: several Coordinators may share one store (etcd). Each keeps its verified state in memory and follows
 * the store's `latest` pointer (a watch, plus a periodic read): a validly signed pointer whose chain extends the
 * transition this replica serves is loaded and served; any other — older, diverged, unsigned — is refused, counted
 * and logged, and the replica keeps serving what it had (see {@link Coordinator.#follow}).
 */
import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { CcmeshError, ConfigError, ErrorCode } from '../../lib/errors.js';
import { parsePublicKey } from '../../lib/pki/key-details.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import type { EvidenceIssuer } from '../../attestation/issuers/evidence.js';
import { formatMeshOwnerPin, NO_MESH_OWNER, parseMeshOwnerPin } from '../../lib/protocol/mesh-owner.js';
import { coordinatorReportData, meshCertReportData, operatorCertSignedData, recoverSignedData, renewKeyPossessionData, renewSignedData, setManifestSignedDigests, sha256, shareSeedAnswerReportData, shareSeedReportData, verifyBinding } from '../../lib/protocol/binding.js';
import { COORDINATOR_STATE, evidenceMessage, FRESH_EVIDENCE_REQUIRED, type RecoverRequest as WireRecoverRequest, type SetManifestRequest as WireSetManifestRequest, type GetManifestsResponse, type MeshCertResponse, type OperatorCertRequest, type OperatorCertResponse, type SetManifestResponse, type ShareSeedRequest, type ShareSeedResponse, type TrustBundleResponse, type WireEvidence } from '../../lib/protocol/messages.js';
import { readEvidence } from '../../lib/protocol/limits.js';
import { toCheckedEvidence } from '../../attestation/issuers/wire-evidence.js';
import { ephemeralKey, openPeerSeed, readP256Spki, sealPeerSeed } from '../../contract/peer-seed.js';
import { identityDifferences, identityOfOwn, identityOfWire } from '../peer/self-identity.js';
import { bytesEqual, toHex } from '../../lib/bytes.js';
import { EvidenceChecker } from '../../contract/attestation/evidence-check.js';
import type { TdxCollateralProvider } from '../../contract/attestation/tdx-collateral.js';
import type { ManifestHash, TransitionHash } from '../history/hashes.js';
import { History, HISTORY_KEYS, type LatestRead } from '../history/history.js';
import type { PolicyHash } from '../../lib/brand.js';
import { canonicalBytesOf } from '../../contract/manifest/canonical.js';
import { configDigestsFor } from '../../contract/manifest/lookup.js';
import { parseManifest } from '../../contract/manifest/parse.js';
import { manifestTrustWarnings, TRUST_WARNING_LOG } from '../../contract/manifest/trust-warnings.js';
import type { Manifest, ManifestPublicKey } from '../../contract/manifest/types.js';
import type { CoordinatorMetrics, HistoryRollbackReason, PeerRecoveryResult } from '../metrics.js';
import { createMeshCa, createRootCa, meshCaBundle } from '../pki/ca.js';
import type { IssuedCertificate } from '../pki/issuance.js';
import { issueLeaf, readLeafPolicyHash } from '../pki/leaf.js';
import { issueOperatorCert } from '../pki/operator-cert.js';
import { isOperatorSanText, MAX_OPERATOR_CERT_LIFETIME_MS, operatorIdFor } from '../../contract/operator-identity.js';
import { spiffeIdFor } from '../../contract/spiffe-id.js';
import { deriveSecrets, type DerivedSecrets, generateSalt, generateSeed } from '../pki/seed.js';
import { encryptSeedShares, seedShareMessage } from '../../contract/seed-shares.js';
import { MANIFEST_LIMITS } from '../../contract/manifest/limits.js';
import { NonceAuthority } from './single-use-nonces.js';
import type { Store } from '../store/store.js';
import { AttestLimiter, type AttestLimits, DEFAULT_NONCE_SPEND_LIMITS } from './attest-limiter.js';
import { meshOwnerOf, meshOwnerOfStored, seedshareOwnersOfStored } from '../../contract/mesh-owner.js';
import { type CaMaterial, loadCa, loadOrCreateCa, meshCaKey, ROOT_CA_KEY } from './persisted-ca.js';
import { Refusal, refuse } from './refusal.js';
import { renewalNeedsEvidence } from './revocation.js';

/** The Coordinator's lifecycle state. */
export type CoordinatorState = 'fresh' | 'recovery' | 'ready';

/** Turns manifest bytes into a {@link Manifest} or throws ConfigError (`parseManifest`; tests pass a counting spy). */
export type ManifestParser = (source: Uint8Array) => Manifest;

/** Live dependencies of the Coordinator core. */
export interface CoordinatorRuntime {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: CoordinatorMetrics;
  /** Obtains the Coordinator's own evidence. */
  readonly issuer: EvidenceIssuer;
  /** DER SPKI of the TLS key the gRPC servers present. */
  readonly tlsSpki: Uint8Array;
  /** TDX collateral for pods' quotes; without it TDX evidence passes only alternatives with allowUnevaluatedTcb. */
  readonly tdxCollateral?: TdxCollateralProvider;
  /** Default `parseManifest`. */
  readonly parseManifest?: ManifestParser;
  /** Per-client bound on nonce-consuming requests; default DEFAULT_NONCE_SPEND_LIMITS (the bench raises it). */
  readonly nonceSpendLimits?: AttestLimits;
  /** Lifetime of operator certificates (IssueOperatorCert); default and maximum MAX_OPERATOR_CERT_LIFETIME_MS (1 h). */
  readonly operatorCertLifetimeMs?: number;
  /** How often the store's `latest` is read besides the watch (default {@link DEFAULT_HISTORY_SYNC_MS}; 0 = never). */
  readonly historySyncMs?: number;
}

/** Default interval of the periodic read of `latest` that backs up the store's watch. */
export const DEFAULT_HISTORY_SYNC_MS = 10_000;

/** How long a root CA no history uses must stay unchanged before a first set replaces it (see #firstRootCa). */
export const ORPHAN_ROOT_GRACE_MS = 120_000;

interface Ready {
  readonly secrets: DerivedSecrets;
  /** Seed and salt the secrets derive from: what ShareSeed seals to an attested peer replica. */
  readonly seed: Uint8Array;
  readonly salt: Uint8Array;
  readonly manifest: Manifest;
  readonly manifestHash: ManifestHash;
  readonly transitionHash: TransitionHash;
  readonly latestRevision: number;
  readonly generation: number;
  readonly root: CaMaterial;
  readonly mesh: CaMaterial;
  readonly previousMesh: CaMaterial | undefined;
  /** Leaves of `previousMesh` renew only with fresh evidence: that generation had other reference values (revocation.ts). */
  readonly previousNeedsEvidence: boolean;
  /** The owner this Coordinator serves: the pin of its history's first manifest's keys (mesh-owner.ts). */
  readonly meshOwner: Uint8Array;
}

/** Request of SetManifest, decoded and within its field limits, with the caller's address (per-client bounds). */
export interface SetManifestRequest extends WireSetManifestRequest {
  readonly client?: string;
}

/** SHA-256 of a SetManifest request's manifest and of each policy document, computed once. */
interface SetManifestDigests {
  readonly manifest: Uint8Array;
  readonly policies: readonly Uint8Array[];
}

/** Request of Recover, decoded and within its field limits, with the caller's address (per-client bounds). */
export interface RecoverRequest extends WireRecoverRequest {
  readonly client?: string;
}

/** A ready peer replica as peer recovery reaches it (`coordinator/peer/peer-recovery.ts`; tests bend its answers). */
export interface SeedPeer {
  /** host:port, for logs. */
  readonly address: string;
  /** DER SPKI of the peer's TLS key as this replica's client pinned it (what the peer's evidence must bind). */
  readonly tlsSpki: Uint8Array;
  nonce(): Promise<Uint8Array>;
  shareSeed(req: ShareSeedRequest): Promise<ShareSeedResponse>;
}

/** Why one peer recovery attempt failed (its `result` is the label of ccmesh_coordinator_peer_recoveries_total). */
export class PeerRecoveryFailure extends Error {
  override readonly name = 'PeerRecoveryFailure';
  constructor(readonly result: Exclude<PeerRecoveryResult, 'recovered'>, message: string) {
    super(message);
  }
}

/** Peer recovery's progress, as GetManifests reports it. */
export interface PeerRecoveryStatus {
  readonly text: string;
  readonly readyPeers: number;
}

/** The Coordinator core. */
export class Coordinator {
  readonly #rt: CoordinatorRuntime;
  readonly #history: History;
  readonly #nonces: NonceAuthority;
  readonly #attestLimiter: AttestLimiter;
  readonly #nonceSpend: AttestLimiter;
  readonly #parse: ManifestParser;
  readonly #checker: EvidenceChecker;
  readonly #secretCache = new Map<string, Uint8Array>();
  #state: CoordinatorState = 'fresh';
  #ready: Ready | undefined;
  // One manifest transition or recovery at a time; issuance reads the snapshot in #ready.
  #busy: Promise<unknown> = Promise.resolve();
  #manifestsAnswer: { readonly key: string; readonly response: GetManifestsResponse } | undefined;
  #recoveryView: { readonly transitionHash: TransitionHash; readonly founders: readonly ManifestPublicKey[] } | undefined;
  /** The store's pointer this replica refused to move to (it serves its own, newer state); cleared once the store is back. */
  #refused: { readonly reason: HistoryRollbackReason; readonly id: string; readonly detail: string } | undefined;
  /** Set while a newer verified head is known but could not be loaded: readiness is off until it is. */
  #behind: string | undefined;
  #followQueued = false;
  #storeFailing = false;
  #unwatch: (() => void) | undefined;
  #syncTimer: NodeJS.Timeout | undefined;
  #peerStatus: PeerRecoveryStatus = { text: '', readyPeers: 0 };
  /** A root CA of another seed that no history uses, and since when this Coordinator has seen it unchanged. */
  #orphanRoot: { readonly revision: number; readonly sinceMs: number } | undefined;

  constructor(rt: CoordinatorRuntime) {
    this.#rt = rt;
    this.#checker = new EvidenceChecker(rt.tdxCollateral ? { tdxCollateral: rt.tdxCollateral } : {});
    this.#history = new History(rt.store);
    this.#nonces = new NonceAuthority({ clock: rt.clock });
    this.#attestLimiter = new AttestLimiter(rt.clock);
    this.#nonceSpend = new AttestLimiter(rt.clock, rt.nonceSpendLimits ?? DEFAULT_NONCE_SPEND_LIMITS);
    this.#parse = rt.parseManifest ?? parseManifest;
  }

  /**
   * Decides the starting state from the store (history present → recovery, else fresh) and starts following the
   * store's `latest`: the watch is taken before the read, so no change after the read is missed.
   */
  async start(): Promise<void> {
    this.#unwatch = this.#rt.store.watch(HISTORY_KEYS.latest, (key) => {
      if (key === HISTORY_KEYS.latest) this.#scheduleFollow();
    });
    const latest = await this.#history.readLatest();
    this.#rt.metrics.historySynced();
    this.#setState(latest ? 'recovery' : 'fresh');
    this.#rt.logger.info('coordinator state', { state: this.#state, transition: latest?.transitionHash });
    const every = this.#rt.historySyncMs ?? DEFAULT_HISTORY_SYNC_MS;
    if (every > 0) this.#syncTimer = setInterval(() => this.#scheduleFollow(), every).unref();
  }

  /** Stops following the store (before it is closed). */
  stop(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
    clearInterval(this.#syncTimer);
  }

  /** Current state. */
  get state(): CoordinatorState {
    return this.#state;
  }

  /**
   * Readiness: ready, and not knowingly behind the store (a newer verified head seen but not loaded yet). A store
   * that cannot be reached does not make a replica unready: it keeps issuing under the state it verified.
   */
  get serving(): boolean {
    return this.#state === 'ready' && this.#behind === undefined;
  }

  /** Short readiness state for the probe body: the state, or "behind" while a newer head is not loaded. */
  get readinessState(): string {
    return this.#state === 'ready' && this.#behind !== undefined ? 'behind' : this.#state;
  }

  /** A single-use nonce for the next evidence or signature (stateless: issuing one stores nothing). */
  nonce(): Uint8Array {
    return this.#nonces.issue();
  }

  /**
   * The Coordinator's evidence, binding its TLS key, the client's nonce and the mesh owner it serves (none while
   * fresh or in recovery), with that owner. Each call costs a hardware report, so `client` (the caller's address)
   * and everyone together are held to token buckets before the issuer is asked.
   */
  async attest(clientNonce: Uint8Array, client: string): Promise<{ evidence: WireEvidence; meshOwner: Uint8Array }> {
    const admission = this.#attestLimiter.admit(client);
    if (!admission.ok) {
      this.#rt.metrics.loadShed.inc({ limit: admission.limit });
      const { perClient, overall } = this.#attestLimiter.limits;
      const retry = `retry in ${(admission.retryAfterMs / 1000).toFixed(1)} s`;
      throw refuse.exhausted(admission.limit === 'attest_per_client'
        ? `too many Attest requests from this client (at most ${perClient.burst} at once, then ${perClient.perSecond} per second); ${retry}`
        : `the Coordinator is producing evidence for too many clients (at most ${overall.burst} at once, then ${overall.perSecond} per second overall); ${retry}`);
    }
    // SECURITY: the owner bound into the evidence is the one returned with it: read once.
    const meshOwner = this.#ready?.meshOwner ?? NO_MESH_OWNER;
    const ev = await this.#rt.issuer.issue(coordinatorReportData(this.#rt.tlsSpki, clientNonce, meshOwner));
    if (ev.format === 'tdx') return { evidence: { format: 'tdx', quote: ev.quote }, meshOwner };
    const c = ev.certificates;
    const vek = c.vcek ?? c.vlek;
    if (!vek || !c.ask || !c.ark) throw refuse.unavailable('this Coordinator\'s platform supplied no VCEK/ASK/ARK with its report; configure collateral fetching');
    const pem = (der: Uint8Array): string => new X509Certificate(Buffer.from(der)).toString();
    return { evidence: { format: 'snp', report: ev.report, vek, chain: new Uint8Array(Buffer.from(pem(c.ask) + pem(c.ark))) }, meshOwner };
  }

  /**
   * SetManifest: the first set creates the seed and is signed by a key of the manifest it sets (that key set becomes
   * the mesh owner); later sets need a signature of a workload owner of the current manifest.
   *
   * SECURITY: an update is authorised over the raw bytes — owner key, nonce, signature over the hashes of manifest
   * and documents — before anything parses them, and before it queues behind a transition in progress; a refused
   * update costs its hashes. The first set has no owner yet: its work is bounded by the message and manifest limits,
   * then it must be signed by a key the manifest itself names (so only that key's holder can start a history whose
   * owner pods pin), and the cross-document checks are hash lookups.
   */
  async setManifest(req: SetManifestRequest): Promise<SetManifestResponse> {
    if (this.#state === 'recovery') throw refuse.state('the Coordinator is in recovery mode: run "ccmesh recover" first');
    if (req.policies.length > MANIFEST_LIMITS.policies) throw refuse.invalid(`at most ${MANIFEST_LIMITS.policies} policy documents`);
    const digests: SetManifestDigests = { manifest: sha256(req.manifest), policies: req.policies.map(sha256) };
    const authorisedAgainst = this.#ready;
    if (authorisedAgainst) this.#authoriseOwner(authorisedAgainst.manifest, req, digests);
    return this.#exclusive(() => this.#setManifest(req, digests, authorisedAgainst));
  }

  async #setManifest(req: SetManifestRequest, digests: SetManifestDigests, authorisedAgainst: Ready | undefined): Promise<SetManifestResponse> {
    if (this.#state === 'recovery') throw refuse.state('the Coordinator is in recovery mode: run "ccmesh recover" first');
    const current = this.#ready;
    if (current !== authorisedAgainst) {
      // A transition finished while this request waited: its authorisation was against another manifest.
      if (authorisedAgainst) throw refuse.conflict('the manifest changed while this update waited; fetch it again, sign and retry');
      this.#authoriseOwner(current!.manifest, req, digests);
    }
    if (current && this.#refused) {
      throw refuse.state(`the store's history pointer does not extend what this Coordinator serves (${this.#refused.detail}); it keeps serving transition ${current.transitionHash} and accepts no update until the store holds that transition again`);
    }
    let manifest: Manifest;
    try {
      manifest = this.#parse(req.manifest);
    } catch (err) {
      if (err instanceof ConfigError) throw refuse.invalid(err.message);
      throw err;
    }
    if (!current) this.#authoriseFounder(manifest, req, digests);
    // Hash lookups both ways: O(P + D), never O(P·D). Keys of manifest.policies are lowercase hex, like toHex.
    const documents = new Map<string, Uint8Array>();
    req.policies.forEach((p, i) => documents.set(toHex(digests.policies[i]!), p));
    for (const h of documents.keys()) if (!Object.hasOwn(manifest.policies, h)) throw refuse.invalid(`policy document with SHA-256 ${h} is not named in the manifest's policies`);
    for (const h of Object.keys(manifest.policies)) if (!documents.has(h)) throw refuse.invalid(`the manifest names policy ${h} but no policy document with that hash was sent`);

    const first = !current;
    const seed = first ? generateSeed() : undefined;
    const salt = first ? generateSalt() : undefined;
    const secrets = current?.secrets ?? deriveSecrets(seed!, salt!);
    const trustDomain = manifest.trustDomain;
    if (first && (await this.#history.exists())) {
      // Another replica on this store set the first manifest; its seed is not ours, so this one can only be recovered.
      this.#setState('recovery');
      throw refuse.state('another Coordinator on this store has set the first manifest meanwhile: this one is now in recovery mode, run "ccmesh recover"');
    }
    const root = current?.root ?? (await this.#firstRootCa(secrets, trustDomain));

    for (const p of documents.values()) await this.#history.putPolicy(p);
    // History holds the canonical form, so its content address is the manifest hash users compute locally.
    const manifestHash = await this.#history.putManifest(canonicalBytesOf(manifest));
    const transitionHash = await this.#history.putTransition({ manifestHash, previousTransitionHash: current?.transitionHash ?? '' });
    const meshKey = secrets.meshCaKey(transitionHash);
    const mesh = await loadOrCreateCa(this.#rt.store, meshCaKey(transitionHash), meshKey, { kind: 'mesh', root: root.cert, generation: transitionHash }, () =>
      createMeshCa({ key: meshKey, generation: transitionHash, root: { cert: root.cert, key: root.key }, trustDomain, clock: this.#rt.clock }),
    );
    const advanced = await this.#history.advanceLatest(transitionHash, secrets.historySigningKey, current?.latestRevision ?? 0);
    if (!advanced.ok) throw refuse.conflict('the manifest history changed concurrently; fetch it again and retry');

    this.#ready = {
      secrets, seed: current?.seed ?? seed!, salt: current?.salt ?? salt!, manifest, manifestHash, transitionHash, latestRevision: advanced.revision,
      generation: (current?.generation ?? 0) + 1, root, mesh, previousMesh: current?.mesh,
      previousNeedsEvidence: current ? renewalNeedsEvidence(current.manifest, manifest) : false,
      meshOwner: current?.meshOwner ?? meshOwnerOf(manifest),
    };
    this.#setState('ready');
    this.#rt.metrics.manifestGeneration.set(this.#ready.generation);
    this.#rt.logger.info('manifest set', { manifestHash, transitionHash, generation: this.#ready.generation, first });
    this.#warnWeakAlternatives(manifest);
    const seedShares = first ? encryptSeedShares(seed!, salt!, manifest.seedshareOwnerKeys.map((k) => k.spkiHex)).map(seedShareMessage) : [];
    return { transitionHash, manifestHash, rootCa: root.certPem, meshCaBundle: this.#bundle(), seedShares, meshOwner: formatMeshOwnerPin(this.#ready.meshOwner) };
  }

  /**
   * The root CA of a first set. Another replica's first set racing this one stores its own root first (a CA for
   * another seed); that is a conflict to report, not a fault. A root CA that no history uses and that stays unchanged
   * for {@link ORPHAN_ROOT_GRACE_MS} between two first sets seen here is the leftover of a first set that crashed
   * before its history landed (its seed is lost with it): it is replaced, so such a crash does not need the store
   * cleaned by hand. A first set in progress takes seconds, so the grace keeps a racing replica's root safe.
   * Availability only: the host can wipe the store anyway.
   */
  async #firstRootCa(secrets: DerivedSecrets, trustDomain: string): Promise<CaMaterial> {
    const create = (): Promise<IssuedCertificate> => createRootCa({ key: secrets.rootCaKey, trustDomain, clock: this.#rt.clock });
    try {
      return await loadOrCreateCa(this.#rt.store, ROOT_CA_KEY, secrets.rootCaKey, { kind: 'root' }, create);
    } catch (err) {
      if (err instanceof CcmeshError) throw err;
      const entry = await this.#rt.store.get(ROOT_CA_KEY);
      const now = this.#rt.clock.nowMs();
      const seen = this.#orphanRoot;
      if (entry && seen?.revision === entry.revision && now - seen.sinceMs >= ORPHAN_ROOT_GRACE_MS && !(await this.#history.exists())) {
        const root = await create();
        const cas = await this.#rt.store.compareAndSwap(ROOT_CA_KEY, entry.revision, new Uint8Array(Buffer.from(root.certPem)));
        if (cas.ok) {
          this.#orphanRoot = undefined;
          this.#rt.logger.warn('replaced the root CA of an unfinished first set', { unchangedForMs: now - seen.sinceMs, revision: entry.revision });
          return { cert: root.cert, certPem: root.certPem, key: secrets.rootCaKey };
        }
      }
      if (entry && seen?.revision !== entry.revision) this.#orphanRoot = { revision: entry.revision, sinceMs: now };
      const waitS = Math.ceil(Math.max(0, ORPHAN_ROOT_GRACE_MS - (now - (this.#orphanRoot?.sinceMs ?? now))) / 1000);
      throw refuse.state(
        `the store already holds the root CA of another seed (another Coordinator's first set, in progress or unfinished): ${err instanceof Error ? err.message : String(err)}; ` +
          `if no other Coordinator is setting the first manifest, retry in ${waitS} s: a root CA that no history uses and that stays unchanged for ${ORPHAN_ROOT_GRACE_MS / 1000} s is then replaced`,
      );
    }
  }

  /**
   * Checks the first set's signature against a key of the manifest being set: a workload owner key, or — for a mesh
   * without any (immutable) — a seed-share owner key. SECURITY: without it, a host that wiped the store could start
   * a history under the victim owner's public keys (they are public) and so match the pods' owner pin.
   */
  #authoriseFounder(manifest: Manifest, req: SetManifestRequest, digests: SetManifestDigests): void {
    const keys = manifest.workloadOwnerKeys.length > 0 ? manifest.workloadOwnerKeys : manifest.seedshareOwnerKeys;
    const which = manifest.workloadOwnerKeys.length > 0 ? 'workloadOwnerKeys' : 'seedshareOwnerKeys';
    if (keys.length === 0) throw refuse.invalid('a mesh needs an owner: the manifest names no workloadOwnerKeys and no seedshareOwnerKeys');
    if (!req.nonce || !req.ownerKey || !req.signature) throw refuse.unauthenticated(`the first manifest must be signed (nonce, ownerKey, signature) by one of its own ${which}`, 'unauthorized');
    const owner = findKey(keys, req.ownerKey);
    if (!owner) throw refuse.denied(`ownerKey is not one of the manifest's own ${which}`, 'unauthorized');
    this.#consumeNonce(req.nonce, req.client);
    const data = setManifestSignedDigests(digests.manifest, digests.policies, req.nonce, this.#rt.tlsSpki);
    if (!verifyBinding(data, owner.key, req.signature)) throw refuse.denied('the signature over the first manifest does not verify', 'signature');
  }

  /** Checks an update's owner key, nonce and signature; nothing here looks inside the manifest or documents. */
  #authoriseOwner(current: Manifest, req: SetManifestRequest, digests: SetManifestDigests): void {
    if (current.workloadOwnerKeys.length === 0) throw refuse.denied('the current manifest has no workload owner keys: it is immutable', 'unauthorized');
    if (!req.nonce || !req.ownerKey || !req.signature) throw refuse.unauthenticated('a manifest update needs nonce, ownerKey and signature from a workload owner key', 'unauthorized');
    const owner = findKey(current.workloadOwnerKeys, req.ownerKey);
    if (!owner) throw refuse.denied('ownerKey is not one of the current manifest\'s workloadOwnerKeys', 'unauthorized');
    this.#consumeNonce(req.nonce, req.client);
    const data = setManifestSignedDigests(digests.manifest, digests.policies, req.nonce, this.#rt.tlsSpki);
    if (!verifyBinding(data, owner.key, req.signature)) throw refuse.denied('the workload owner signature does not verify', 'signature');
  }

  /**
   * GetManifests: history oldest first, policy documents, CAs. Public, and building it re-hashes and parses every
   * stored manifest, so one answer is kept per history head and state. When ready the head is the one this
   * Coordinator verified and serves (which a replica keeps when the store's pointer is rolled back under it); before
   * that, the store's (unverified) `latest`, read on every call.
   */
  async getManifests(): Promise<GetManifestsResponse> {
    const state = this.#state;
    const ready = state === 'ready' ? this.#ready : undefined;
    const latest = ready ? { transitionHash: ready.transitionHash, revision: ready.latestRevision } : await this.#history.readLatest();
    const key = `${state}\0${latest?.transitionHash ?? ''}\0${latest?.revision ?? 0}`;
    const peers = { recoveryStatus: this.#peerStatus.text, readyPeers: this.#peerStatus.readyPeers };
    if (this.#manifestsAnswer?.key === key) return { ...this.#manifestsAnswer.response, ...peers };
    const manifests: Uint8Array[] = [];
    const transitions: string[] = [];
    const policies: Record<string, Uint8Array> = {};
    if (latest) {
      for await (const { hash, transition } of this.#history.walk(latest.transitionHash)) {
        transitions.unshift(hash);
        const bytes = must(await this.#history.getManifest(transition.manifestHash), `manifest ${transition.manifestHash}`);
        manifests.unshift(bytes);
        for (const ph of Object.keys(this.#parse(bytes).policies)) {
          if (!(ph in policies)) policies[ph] = must(await this.#history.getPolicy(ph as PolicyHash), `policy ${ph}`);
        }
      }
    }
    const response: GetManifestsResponse = { manifests, transitions, policies, rootCa: ready?.root.certPem ?? '', meshCaBundle: ready ? bundleOf(ready) : '', state: COORDINATOR_STATE[state], meshOwner: ready ? formatMeshOwnerPin(ready.meshOwner) : '', ...peers };
    this.#manifestsAnswer = { key, response };
    return response;
  }

  /** GetTrustBundle: the root and current mesh CA bundle (public; sidecars poll it to learn a new mesh CA early). */
  trustBundle(): TrustBundleResponse {
    const ready = this.#requireReady();
    return { rootCa: ready.root.certPem, meshCaBundle: this.#bundle(), manifestHash: ready.manifestHash };
  }

  /** Recover: a seed-share owner hands back seed and salt; accepted only if they reproduce the history's signature. */
  recover(req: RecoverRequest): Promise<void> {
    return this.#exclusive(() => this.#recover(req));
  }

  async #recover(req: RecoverRequest): Promise<void> {
    if (this.#state !== 'recovery') throw refuse.state(`the Coordinator is ${this.#state}, not in recovery mode`);
    const unverified = await this.#history.readLatest();
    if (!unverified) throw refuse.state('no history to recover');
    const founders = await this.#recoveryOwners(unverified.transitionHash);
    const owner = findKey(founders, req.ownerKey);
    if (!owner) throw refuse.denied('ownerKey is not a seed-share owner key of the mesh\'s first manifest (the mesh owner)', 'unauthorized');
    this.#consumeNonce(req.nonce, req.client);
    if (!verifyBinding(recoverSignedData(req.seed, req.salt, req.nonce, this.#rt.tlsSpki), owner.key, req.signature)) {
      throw refuse.denied('the seed-share owner signature does not verify', 'signature');
    }
    await this.#adoptSeed(req.seed, req.salt, 'the seed-share owner');
  }

  /**
   * Recovery's last step, for a seed from a seed-share owner or from a peer replica: the seed is taken only if it
   * reproduces the store's signed `latest` (and with it the stored root and mesh CAs, `#loadVerified`). `peer`, for a
   * peer's seed: the mesh owner and the history head the peer's evidence bound; the recovered history must have that
   * owner and contain that head (SECURITY: else the host rolled `latest` back under the running peers, and this
   * replica would serve the older manifest they refuse).
   */
  async #adoptSeed(seed: Uint8Array, salt: Uint8Array, from: string, peer?: { readonly owner: Uint8Array; readonly served: TransitionHash }): Promise<void> {
    let secrets: DerivedSecrets;
    try {
      secrets = deriveSecrets(seed, salt);
    } catch (err) {
      throw refuse.invalid(err instanceof Error ? err.message : String(err));
    }
    // SECURITY: the store is host-controlled; the seed is right only if it reproduces the history signature.
    const latest = await this.#history.readLatest(createPublicKey(secrets.historySigningKey)).catch((err: unknown) => {
      if (err instanceof CcmeshError && err.code === ErrorCode.HISTORY_SIGNATURE_INVALID) return undefined;
      throw err;
    });
    if (!latest?.verified) throw refuse.denied('this seed does not match the Coordinator\'s history (the latest pointer\'s signature does not verify)', 'signature');
    const ready = await this.#loadVerified({ secrets, seed, salt }, latest);
    if (peer && !bytesEqual(ready.meshOwner, peer.owner)) {
      throw refuse.denied(`the recovered history's mesh owner ${formatMeshOwnerPin(ready.meshOwner)} is not the one the peer bound into its evidence (${formatMeshOwnerPin(peer.owner)})`, 'unauthorized');
    }
    if (peer && (await this.#stepsFrom(ready.transitionHash, peer.served)) === undefined) {
      throw refuse.denied(`the store's latest names transition ${ready.transitionHash}, whose history does not contain transition ${peer.served} that the peer serves (the store was rolled back, or is behind)`, 'signature');
    }
    this.#ready = ready;
    this.#refused = undefined;
    this.#behind = undefined;
    this.#setState('ready');
    this.#rt.metrics.manifestGeneration.set(this.#ready.generation);
    this.#rt.logger.info('coordinator recovered', { transition: latest.transitionHash, generation: this.#ready.generation, from });
    this.#warnWeakAlternatives(this.#ready.manifest);
  }

  /**
   * ShareSeed, the serving side of peer recovery: seed and salt, sealed to the requester's ephemeral key, for evidence
   * that meets the current manifest, binds that key, our nonce and our TLS key, and names a policy whose role is
   * `coordinator`. The answer carries our own evidence over our ephemeral key, the requester's key, the sealed bytes
   * and the mesh owner, so the requester can check that it talks to a replica like itself (`#recoverFromPeer`).
   */
  async shareSeed(req: { evidence: WireEvidence; publicKey: Uint8Array; nonce: Uint8Array; client?: string }): Promise<ShareSeedResponse> {
    const ready = this.#requireReady();
    this.#consumeNonce(req.nonce, req.client);
    const requester = readP256Spki(req.publicKey);
    if (!requester) throw refuse.invalid('publicKey must be an ECDH P-256 SubjectPublicKeyInfo');
    const verdict = await this.#checker.checkWithCollateral(ready.manifest, req.evidence, shareSeedReportData(req.publicKey, req.nonce, this.#rt.tlsSpki), new Date(this.#rt.clock.nowMs()));
    if (!verdict.ok) throw refuse.denied(`the requesting replica's evidence is refused: ${verdict.reasons.join('; ')}`, verdict.failure);
    // SECURITY: the seed is every secret of the mesh; of all attested workloads only a Coordinator replica gets it.
    if (verdict.peer.policy.role !== 'coordinator') throw refuse.denied(`policy ${verdict.peer.policyHash} does not have role "coordinator": only a Coordinator replica receives the seed`, 'policy');
    const { servingSpki, sealed } = sealPeerSeed(ready.seed, ready.salt, requester, req.publicKey);
    const ev = await this.#rt.issuer.issue(shareSeedAnswerReportData(servingSpki, req.publicKey, sealed, ready.meshOwner, transitionBytes(ready.transitionHash), this.#rt.tlsSpki));
    this.#rt.logger.info('shared the seed with an attested peer Coordinator replica', { policyHash: verdict.peer.policyHash, anchor: verdict.peer.anchor, peer: req.client });
    return { evidence: evidenceMessage(toCheckedEvidence(ev)), publicKey: servingSpki, sealedSeed: sealed, meshOwner: formatMeshOwnerPin(ready.meshOwner), transitionHash: ready.transitionHash };
  }

  /** Peer recovery's progress for GetManifests (set by `coordinator/peer/peer-recovery.ts`). */
  reportPeerRecovery(status: PeerRecoveryStatus): void {
    this.#peerStatus = status;
  }

  /**
   * Peer recovery, the requesting side: asks `peer` for the seed and recovers with it. Throws
   * {@link PeerRecoveryFailure} for an answer it does not trust, and the peer's own refusal as the client reports it.
   *
   * SECURITY: the peer's answer is trusted only if its evidence (a) is genuine and meets the reference values of the
   * store's manifest, (b) binds the peer's ephemeral key, this request's ephemeral key (fresh, so nothing replays), the
   * sealed bytes, the mesh owner it names and the TLS key this replica's client pinned (no relay), and (c) states this
   * replica's own identity — measurement and policy, and for simulated evidence its root — read from this replica's own
   * evidence (self-identity.ts): the store is the host's, so its manifest alone could name anything. Then the seed must
   * reproduce the signed `latest` and its history's owner must be the bound one (`#adoptSeed`).
   */
  async recoverFromPeer(peer: SeedPeer): Promise<void> {
    if (this.#state !== 'recovery') return;
    const unverified = await this.#history.readLatest();
    if (!unverified) throw new PeerRecoveryFailure('seed_mismatch', 'the store holds no history to recover');
    const transition = must(await this.#history.getTransition(unverified.transitionHash), `transition ${unverified.transitionHash}`);
    const manifest = this.#parse(must(await this.#history.getManifest(transition.manifestHash), `manifest ${transition.manifestHash}`));
    const mine = ephemeralKey();
    const nonce = await peer.nonce();
    const own = await this.#rt.issuer.issue(shareSeedReportData(mine.spki, nonce, peer.tlsSpki));
    const answer = await peer.shareSeed({ evidence: evidenceMessage(toCheckedEvidence(own)), publicKey: mine.spki, nonce });
    const bad = (why: string): never => {
      throw new PeerRecoveryFailure('bad_answer', `peer ${peer.address}: ${why}`);
    };
    const owner = parseMeshOwnerPin(answer.meshOwner) ?? bad(`mesh_owner ${JSON.stringify(answer.meshOwner)} is not a mesh owner pin`);
    const served = /^[0-9a-f]{64}$/.test(answer.transitionHash ?? '') ? (answer.transitionHash as TransitionHash) : bad(`transition_hash ${JSON.stringify(answer.transitionHash)} is not a transition hash`);
    const servingSpki = new Uint8Array(answer.publicKey ?? []);
    const sealed = new Uint8Array(answer.sealedSeed ?? []);
    let evidence: WireEvidence;
    try {
      evidence = readEvidence('ShareSeedResponse.evidence', answer.evidence ?? bad('no evidence'));
    } catch (err) {
      if (err instanceof PeerRecoveryFailure) throw err;
      return bad(err instanceof Error ? err.message : String(err));
    }
    const verdict = await this.#checker.checkWithCollateral(manifest, evidence, shareSeedAnswerReportData(servingSpki, mine.spki, sealed, owner, transitionBytes(served), peer.tlsSpki), new Date(this.#rt.clock.nowMs()));
    if (!verdict.ok) throw new PeerRecoveryFailure('untrusted_peer', `peer ${peer.address}: its evidence is refused: ${verdict.reasons.join('; ')}`);
    let differences: string[];
    try {
      const simulated = manifest.referenceValues.simulated.find((r) => `simulated:${r.name}` === verdict.peer.anchor);
      differences = identityDifferences(identityOfOwn(own), identityOfWire(evidence, simulated ? new X509Certificate(simulated.arkPem) : undefined), verdict.peer.anchor.startsWith('simulated:'));
    } catch (err) {
      return bad(`its evidence can't be read: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (differences.length > 0) throw new PeerRecoveryFailure('untrusted_peer', `peer ${peer.address} is not a replica of this Coordinator: ${differences.join('; ')}`);
    const opened = openPeerSeed(sealed, servingSpki, mine);
    if (!opened.ok) return bad(opened.reason);
    try {
      await this.#exclusive(async () => {
        if (this.#state === 'recovery') await this.#adoptSeed(opened.value.seed, opened.value.salt, `peer ${peer.address}`, { owner, served });
      });
    } catch (err) {
      if (err instanceof Refusal) throw new PeerRecoveryFailure('seed_mismatch', `peer ${peer.address}: ${err.message}`);
      throw err;
    }
  }

  /**
   * The state at the verified pointer `latest`: its manifest, the root CA and the mesh CAs of it and of the transition
   * before it (stored certificates, used only if they are the CAs these seed-derived keys make), the revocation
   * decision, the generation and the mesh owner (the first manifest's, reached through the hash chain).
   */
  async #loadVerified(keys: { readonly secrets: DerivedSecrets; readonly seed: Uint8Array; readonly salt: Uint8Array }, latest: LatestRead): Promise<Ready> {
    const { secrets, seed, salt } = keys;
    const transition = must(await this.#history.getTransition(latest.transitionHash), `transition ${latest.transitionHash}`);
    const manifestBytes = must(await this.#history.getManifest(transition.manifestHash), `manifest ${transition.manifestHash}`);
    const current = this.#parse(manifestBytes);
    const root = await loadCa(this.#rt.store, ROOT_CA_KEY, secrets.rootCaKey, { kind: 'root' });
    if (!root) throw refuse.state('the store has no root CA certificate');
    const mesh = await loadOrCreateCa(this.#rt.store, meshCaKey(latest.transitionHash), secrets.meshCaKey(latest.transitionHash), { kind: 'mesh', root: root.cert, generation: latest.transitionHash }, () =>
      createMeshCa({ key: secrets.meshCaKey(latest.transitionHash), generation: latest.transitionHash, root: { cert: root.cert, key: root.key }, trustDomain: current.trustDomain, clock: this.#rt.clock }),
    );
    const prev = transition.previousTransitionHash;
    const previousMesh = prev ? await loadCa(this.#rt.store, meshCaKey(prev), secrets.meshCaKey(prev), { kind: 'mesh', root: root.cert, generation: prev }) : undefined;
    const previousNeedsEvidence = prev ? await this.#previousNeedsEvidence(prev, current) : false;
    let generation = 0;
    let genesis = transition;
    for await (const step of this.#history.walk(latest.transitionHash)) {
      generation++;
      genesis = step.transition;
    }
    // The first manifest names the owner; the chain from the signed latest pointer authenticates it.
    const meshOwner = meshOwnerOfStored(must(await this.#history.getManifest(genesis.manifestHash), `manifest ${genesis.manifestHash}`));
    return { secrets, seed, salt, manifest: current, manifestHash: transition.manifestHash, transitionHash: latest.transitionHash, latestRevision: latest.revision, generation, root, mesh, previousMesh, previousNeedsEvidence, meshOwner };
  }

  /**
   * After recovery: whether leaves of generation `prev` need fresh evidence under `current` (revocation.ts). Its
   * manifest is reached through the chain from the verified latest pointer (content addressed); one that no longer
   * parses counts as changed, so recovery never fails on it and never lets its leaves renew on old evidence.
   */
  async #previousNeedsEvidence(prev: TransitionHash, current: Manifest): Promise<boolean> {
    const transition = must(await this.#history.getTransition(prev), `transition ${prev}`);
    const bytes = must(await this.#history.getManifest(transition.manifestHash), `manifest ${transition.manifestHash}`);
    try {
      return renewalNeedsEvidence(this.#parse(bytes), current);
    } catch (err) {
      if (err instanceof ConfigError) return true;
      throw err;
    }
  }

  /**
   * Who may recover: the seed-share owners of the history's **first** manifest (the mesh owner, `mesh-owner.ts`),
   * found by walking back from the unverified latest pointer (its signature is checked once a seed arrives). Recover
   * is unauthenticated until then, so the walk is done once per head.
   */
  async #recoveryOwners(transitionHash: TransitionHash): Promise<readonly ManifestPublicKey[]> {
    if (this.#recoveryView?.transitionHash === transitionHash) return this.#recoveryView.founders;
    let genesis: TransitionHash | undefined;
    let manifestHash: ManifestHash | undefined;
    for await (const step of this.#history.walk(transitionHash)) {
      genesis = step.hash;
      manifestHash = step.transition.manifestHash;
    }
    if (genesis === undefined || manifestHash === undefined) throw refuse.state('no history to recover');
    let founders: ManifestPublicKey[];
    try {
      founders = seedshareOwnersOfStored(must(await this.#history.getManifest(manifestHash), `manifest ${manifestHash}`));
    } catch (err) {
      throw refuse.state(`the stored history's first manifest can't name its owner: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.#recoveryView = { transitionHash, founders };
    return founders;
  }

  /** Queues one {@link #follow} behind any transition or recovery in progress (coalescing bursts of triggers). */
  #scheduleFollow(): void {
    if (this.#followQueued) return;
    this.#followQueued = true;
    void this.#exclusive(async () => {
      this.#followQueued = false;
      await this.#follow();
    }).then(
      () => {
        if (this.#storeFailing) this.#rt.logger.info('store reachable again: following its history');
        this.#storeFailing = false;
      },
      (err: unknown) => {
        // Logged once per outage: the periodic read repeats every few seconds.
        if (!this.#storeFailing) this.#rt.logger.warn('could not read the store to follow its history; serving what this Coordinator verified last', { error: err instanceof Error ? err.message : String(err) });
        this.#storeFailing = true;
      },
    );
  }

  /**
   * Brings this replica to the store's `latest`, forward only.
   *
   * SECURITY: the store is the host's. A pointer is taken only if its signature verifies under this mesh's history key
   * and its chain of transitions passes through the one this replica serves (it extends what the replica knows). An
   * older pointer (an ancestor of ours: a replayed rollback), one on another branch (a signed pointer of a losing or
   * forged write), one that does not verify, and a removed pointer are refused: counted in
   * ccmesh_coordinator_history_rollback_refusals_total, logged at error, and the replica keeps serving its state. A fresh
   * replica that sees a history appear (another replica's first set) goes to recovery: it has no seed to check it.
   */
  async #follow(): Promise<void> {
    const ready = this.#state === 'ready' ? this.#ready : undefined;
    if (!ready) {
      const latest = await this.#history.readLatest();
      this.#rt.metrics.historySynced();
      if (this.#state === 'fresh' && latest) {
        this.#setState('recovery');
        this.#rt.logger.warn('another Coordinator on this store set the first manifest: this one waits in recovery mode for "ccmesh recover"', { transition: latest.transitionHash });
      }
      return;
    }
    let latest: LatestRead | undefined;
    try {
      latest = await this.#history.readLatest(createPublicKey(ready.secrets.historySigningKey));
    } catch (err) {
      if (!(err instanceof CcmeshError) || (err.code !== ErrorCode.HISTORY_SIGNATURE_INVALID && err.code !== ErrorCode.STORE_CORRUPT)) throw err;
      this.#rt.metrics.historySynced();
      return this.#refuseHead(ready, 'unverified', 'unverified', err.message);
    }
    this.#rt.metrics.historySynced();
    if (!latest) return this.#refuseHead(ready, 'older', 'removed', 'the history pointer was removed from the store');
    if (latest.transitionHash === ready.transitionHash) {
      // Our own write, or the store back at our head: the revision is what a later compare-and-swap must name.
      if (latest.revision !== ready.latestRevision) this.#ready = { ...ready, latestRevision: latest.revision };
      if (this.#refused) this.#rt.logger.info('the store holds this Coordinator\'s history head again', { transition: ready.transitionHash });
      this.#refused = undefined;
      this.#behind = undefined;
      return;
    }
    const id = `${latest.transitionHash}@${latest.revision}`;
    if (this.#refused?.id === id) return; // decided already: the periodic read does not walk the history again
    let ahead: number | undefined;
    try {
      ahead = await this.#stepsFrom(latest.transitionHash, ready.transitionHash);
      if (ahead === undefined) {
        const older = (await this.#stepsFrom(ready.transitionHash, latest.transitionHash)) !== undefined;
        return this.#refuseHead(ready, older ? 'older' : 'diverged', id, older
          ? `the store's latest names transition ${latest.transitionHash}, an ancestor of ${ready.transitionHash} (rolled back)`
          : `the store's latest names transition ${latest.transitionHash}, whose history does not contain ${ready.transitionHash} (another branch)`);
      }
    } catch (err) {
      if (!(err instanceof CcmeshError) || err.code !== ErrorCode.STORE_CORRUPT) throw err;
      return this.#refuseHead(ready, 'unverified', id, `the history behind transition ${latest.transitionHash} can't be walked: ${err.message}`);
    }
    try {
      const next = await this.#loadVerified(ready, latest);
      this.#ready = next;
      this.#refused = undefined;
      this.#behind = undefined;
      this.#rt.metrics.manifestGeneration.set(next.generation);
      this.#rt.logger.info('followed the history to a newer manifest', { transitionHash: next.transitionHash, manifestHash: next.manifestHash, generation: next.generation, steps: ahead });
      this.#warnWeakAlternatives(next.manifest);
    } catch (err) {
      this.#behind = `transition ${latest.transitionHash} could not be loaded: ${err instanceof Error ? err.message : String(err)}`;
      throw err;
    }
  }

  /** Transitions from `head` back to `ancestor` (0 when equal), or undefined when `ancestor` is not in its history. */
  async #stepsFrom(head: TransitionHash, ancestor: TransitionHash): Promise<number | undefined> {
    let steps = 0;
    for await (const step of this.#history.walk(head)) {
      if (step.hash === ancestor) return steps;
      steps++;
    }
    return undefined;
  }

  /** Refuses the store's pointer: counted and logged once per pointer; the replica keeps serving `ready`. */
  #refuseHead(ready: Ready, reason: HistoryRollbackReason, id: string, detail: string): void {
    if (this.#refused?.id === id && this.#refused.reason === reason) return;
    this.#refused = { reason, id, detail };
    this.#rt.metrics.historyRollbackRefusals.inc({ reason });
    this.#rt.logger.error('refused the store\'s history pointer: this Coordinator never moves back; it keeps serving its verified state', { reason, detail, serving: ready.transitionHash, generation: ready.generation });
  }

  /** Logs each reference-value alternative that weakens attestation on purpose (allowUnmeasured, allowUnevaluatedTcb). */
  #warnWeakAlternatives(manifest: Manifest): void {
    for (const w of manifestTrustWarnings(manifest)) this.#rt.logger.warn(TRUST_WARNING_LOG[w.kind], { alternative: w.alternative });
  }

  /** NewMeshCert: evidence binding the pod's key and our nonce → leaf, CA bundle, workload secret. */
  async newMeshCert(req: { evidence: WireEvidence; publicKey: Uint8Array; nonce: Uint8Array; client?: string }): Promise<MeshCertResponse> {
    const ready = this.#requireReady();
    const started = performance.now();
    this.#consumeNonce(req.nonce, req.client);
    const podKey = parseP256Spki(req.publicKey);
    const verdict = await this.#checker.checkWithCollateral(ready.manifest, req.evidence, meshCertReportData(req.publicKey, req.nonce, this.#rt.tlsSpki), new Date(this.#rt.clock.nowMs()));
    if (!verdict.ok) throw refuse.denied(`evidence refused: ${verdict.reasons.join('; ')}`, verdict.failure);
    const { policy, policyHash } = verdict.peer;
    const leaf = await this.#issue(ready, podKey, policy.sans, policy.workloadSecretId, policyHash);
    this.#rt.metrics.certificatesIssued.inc({ kind: 'new' });
    this.#rt.metrics.issuanceDuration.observe({ kind: 'new' }, (performance.now() - started) / 1000);
    return {
      certChain: leaf + ready.mesh.certPem,
      meshCaBundle: this.#bundle(),
      rootCa: ready.root.certPem,
      workloadSecret: this.#workloadSecret(ready, policy.workloadSecretId),
      workloadSecretId: policy.workloadSecretId,
      configDigests: Object.fromEntries(Object.entries(configDigestsFor(ready.manifest, policyHash)).map(([mount, files]) => [mount, { files }])),
      meshOwner: formatMeshOwnerPin(ready.meshOwner),
    };
  }

  /**
   * RenewMeshCert: a still-valid leaf signs for a new key; its policy must still be in the current manifest. A leaf of
   * the previous mesh CA whose generation had other reference values also needs fresh `evidence` (as for NewMeshCert,
   * bound to the new key) that meets the current manifest and names the leaf's policy.
   */
  async renewMeshCert(req: { certChain: string; publicKey: Uint8Array; nonce: Uint8Array; signature: Uint8Array; newKeySignature: Uint8Array; evidence?: WireEvidence; client?: string }): Promise<MeshCertResponse> {
    const ready = this.#requireReady();
    const started = performance.now();
    this.#consumeNonce(req.nonce, req.client);
    const newKey = parseP256Spki(req.publicKey);
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(req.certChain);
    } catch {
      throw refuse.invalid('certChain does not start with a readable certificate');
    }
    // SECURITY: an operator certificate is never a workload identity: it renews nothing (it also lacks the policy hash).
    if (isOperatorSanText(leaf.subjectAltName)) throw refuse.denied('the presented certificate is an operator certificate: operator certificates are never renewed; ask IssueOperatorCert for a new one', 'unauthorized');
    const now = this.#rt.clock.nowMs();
    const issuedBy = [ready.mesh, ready.previousMesh].find((ca) => ca !== undefined && leaf.checkIssued(ca.cert) && leaf.verify(ca.cert.publicKey));
    if (!issuedBy) throw refuse.unauthenticated('the presented leaf was not issued by the current or previous mesh CA', 'unauthorized');
    if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) throw refuse.unauthenticated('the presented leaf is not valid now (expired leaves must attest again with NewMeshCert)', 'unauthorized');
    if (!verifyBinding(renewSignedData(req.publicKey, req.nonce, this.#rt.tlsSpki), leaf.publicKey, req.signature)) {
      throw refuse.denied('the renewal signature does not verify with the presented leaf\'s key', 'signature');
    }
    // SECURITY: the new key must sign for itself. Otherwise a pod could renew its own leaf for another pod's public
    // key (taken from that pod's request by the host), and the host could give the victim a leaf of the wrong identity.
    if (!verifyBinding(renewKeyPossessionData(req.publicKey, req.nonce, this.#rt.tlsSpki), newKey, req.newKeySignature)) {
      throw refuse.denied('the new key did not sign for itself (proof of possession)', 'signature');
    }
    const policyHash = readLeafPolicyHash(leaf);
    const policy = policyHash ? ready.manifest.policies[policyHash as keyof Manifest['policies']] : undefined;
    if (!policyHash || !policy) throw refuse.denied(`policy ${policyHash ?? '(none)'} of the presented leaf is no longer in the manifest`, 'policy');
    // SECURITY: the revocation bound. Without it a leaf renews forever on the evidence it first showed, so raising a
    // TCB or dropping a measurement would never evict a running pod. Evidence sent unasked is judged all the same.
    if (req.evidence) {
      const verdict = await this.#checker.checkWithCollateral(ready.manifest, req.evidence, meshCertReportData(req.publicKey, req.nonce, this.#rt.tlsSpki), new Date(now));
      if (!verdict.ok) throw refuse.denied(`evidence refused: ${verdict.reasons.join('; ')}`, verdict.failure);
      if (verdict.peer.policyHash !== policyHash) throw refuse.denied(`the evidence names policy ${verdict.peer.policyHash}, not the presented leaf's policy ${policyHash}`, 'policy');
    } else if (issuedBy === ready.previousMesh && ready.previousNeedsEvidence) {
      throw refuse.state(`${FRESH_EVIDENCE_REQUIRED}: the presented leaf is from the previous manifest generation, whose reference values differ from the current manifest's; renew with evidence bound to the new key (or restart the pod to attest again)`);
    }
    const pem = await this.#issue(ready, newKey, policy.sans, policy.workloadSecretId, policyHash);
    this.#rt.metrics.certificatesIssued.inc({ kind: 'renew' });
    this.#rt.metrics.issuanceDuration.observe({ kind: 'renew' }, (performance.now() - started) / 1000);
    return { certChain: pem + ready.mesh.certPem, meshCaBundle: this.#bundle(), rootCa: ready.root.certPem };
  }

  /**
   * IssueOperatorCert: a workload owner key of the current manifest signs for an operator key, over a single-use nonce
   * and this Coordinator's TLS key; the answer is a short-lived client certificate whose only SAN is the operator URI.
   * SECURITY: the same authorisation as a manifest update (the key must be in the *current* manifest's
   * workloadOwnerKeys; an immutable manifest has none, so it has no operators either), checked before anything is
   * issued; the nonce is consumed before the signature is checked, so neither a good nor a bad request replays.
   */
  async issueOperatorCert(req: OperatorCertRequest & { readonly client?: string }): Promise<OperatorCertResponse> {
    const ready = this.#requireReady();
    const count = this.#rt.metrics.operatorCerts;
    try {
      const owner = findKey(ready.manifest.workloadOwnerKeys, req.ownerKey);
      if (!owner) throw refuse.denied('ownerKey is not one of the current manifest\'s workloadOwnerKeys: only a workload owner may have operator certificates issued', 'unauthorized');
      this.#consumeNonce(req.nonce, req.client);
      if (!verifyBinding(operatorCertSignedData(req.publicKey, req.nonce, this.#rt.tlsSpki), owner.key, req.signature)) {
        throw refuse.denied('the workload owner signature over the operator key does not verify', 'signature');
      }
      const operatorKey = parseP256Spki(req.publicKey);
      const operatorId = operatorIdFor(ready.manifest.trustDomain, new Uint8Array(Buffer.from(owner.spkiHex, 'hex')));
      const cert = issueOperatorCert({
        publicKey: operatorKey,
        operatorId,
        lifetimeMs: this.#rt.operatorCertLifetimeMs ?? MAX_OPERATOR_CERT_LIFETIME_MS,
        meshCa: { cert: ready.mesh.cert, key: ready.mesh.key },
        clock: this.#rt.clock,
      });
      count.inc({ result: 'issued' });
      this.#rt.logger.info('operator certificate issued', { operator: operatorId, notAfter: cert.cert.validTo, client: req.client });
      return { certChain: cert.certPem + ready.mesh.certPem, meshCaBundle: this.#bundle(), rootCa: ready.root.certPem, operatorId, meshOwner: formatMeshOwnerPin(ready.meshOwner) };
    } catch (err) {
      count.inc({ result: err instanceof Refusal && err.failure === 'unauthorized' ? 'not_owner' : err instanceof Refusal && err.failure === 'signature' ? 'bad_signature' : err instanceof Refusal && err.failure === 'nonce' ? 'bad_nonce' : 'refused' });
      throw err;
    }
  }

  async #issue(ready: Ready, key: KeyObject, sans: readonly string[], workloadSecretId: string, policyHash: string): Promise<string> {
    const leaf = await issueLeaf({
      publicKey: key,
      sans,
      spiffeId: spiffeIdFor(ready.manifest.trustDomain, workloadSecretId),
      policyHash,
      lifetimeMs: ready.manifest.meshCert.leafLifetimeMs,
      meshCa: { cert: ready.mesh.cert, key: ready.mesh.key },
      clock: this.#rt.clock,
    });
    return leaf.certPem;
  }

  /** The workload secret, derived once per id and seed (HKDF per request would cost more than the lookup). */
  #workloadSecret(ready: Ready, id: string): Uint8Array {
    const key = `${ready.transitionHash}\0${id}`;
    let v = this.#secretCache.get(key);
    if (v === undefined) {
      v = ready.secrets.workloadSecret(id);
      if (this.#secretCache.size > 10_000) this.#secretCache.clear();
      this.#secretCache.set(key, v);
    }
    return v;
  }

  #bundle(): string {
    return bundleOf(this.#ready!);
  }

  #requireReady(): Ready {
    if (this.#state !== 'ready' || !this.#ready) {
      throw refuse.unavailable(this.#state === 'recovery' ? 'the Coordinator is in recovery mode and issues nothing until recovered' : 'no manifest has been set yet');
    }
    return this.#ready;
  }

  #consumeNonce(nonce: Uint8Array, client: string | undefined): void {
    if (client !== undefined) {
      // SECURITY: bounds how much of the used-nonce set one client can fill (DEFAULT_NONCE_SPEND_LIMITS).
      const admission = this.#nonceSpend.admit(client);
      if (!admission.ok) {
        this.#rt.metrics.loadShed.inc({ limit: 'nonce_per_client' });
        const { burst, perSecond } = this.#nonceSpend.limits.perClient;
        throw refuse.exhausted(`too many nonce-consuming requests from this client (at most ${burst} at once, then ${perSecond} per second); retry in ${(admission.retryAfterMs / 1000).toFixed(1)} s`);
      }
    }
    const r = this.#nonces.consume(nonce);
    if (r.ok) return;
    if (r.reason === 'busy') {
      // The replay set is full; the nonce stays unused, so the same request may simply be retried.
      this.#rt.metrics.loadShed.inc({ limit: 'consumed_nonces' });
      throw refuse.exhausted('the Coordinator is tracking too many used nonces right now; retry in a few seconds');
    }
    throw refuse.denied(r.reason === 'expired' ? 'the nonce has expired; request a new one' : 'unknown or already used nonce (replay?)', 'nonce');
  }

  #setState(s: CoordinatorState): void {
    this.#state = s;
    for (const name of ['fresh', 'recovery', 'ready'] as const) this.#rt.metrics.state.set({ state: name }, name === s ? 1 : 0);
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(fn, fn);
    this.#busy = run.catch(() => undefined);
    return run;
  }
}

/** A transition hash (64 hex digits) as the 32 bytes a binding takes. */
function transitionBytes(hash: TransitionHash): Uint8Array {
  return new Uint8Array(Buffer.from(hash, 'hex'));
}

function bundleOf(r: Ready): string {
  return meshCaBundle(r.mesh.cert, r.previousMesh?.cert);
}

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw refuse.state(`the store is missing ${what}; it was damaged or belongs to another Coordinator`);
  return value;
}

function findKey(keys: readonly ManifestPublicKey[], spkiHex: string): ManifestPublicKey | undefined {
  const want = spkiHex.toLowerCase();
  return keys.find((k) => k.spkiHex === want);
}

function parseP256Spki(spki: Uint8Array): KeyObject {
  let parsed;
  try {
    // SECURITY: read by ccmesh before OpenSSL: a malformed EC point (the point at infinity) would abort the process.
    parsed = parsePublicKey(spki);
  } catch (err) {
    throw refuse.invalid(`publicKey is not a well-formed DER SubjectPublicKeyInfo: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (parsed.details.type !== 'ec' || parsed.details.namedCurve !== 'prime256v1') throw refuse.invalid('publicKey must be an ECDSA P-256 key');
  return parsed.key;
}
