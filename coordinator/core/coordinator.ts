/**
 * The Coordinator's logic, independent of gRPC: states (fresh → ready; restart → recovery → ready), manifest
 * transitions, mesh certificate issuance and renewal, recovery and its own attestation. Every refusal is a
 * {@link Refusal}; the server maps it to a status once.
 */
import { createPublicKey, type KeyObject, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { CcmeshError, ConfigError, ErrorCode } from '../../lib/errors.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import type { EvidenceIssuer } from '../../attestation/issuers/evidence.js';
import { coordinatorReportData, meshCertReportData, recoverSignedData, renewSignedData, setManifestSignedData, sha256 } from '../../lib/protocol/binding.js';
import type { GetManifestsResponse, MeshCertResponse, SetManifestResponse, TrustBundleResponse, WireEvidence } from '../../lib/protocol/messages.js';
import { toHex } from '../../lib/bytes.js';
import { EvidenceChecker } from '../attestation/evidence-check.js';
import type { ManifestHash, TransitionHash } from '../history/hashes.js';
import { History } from '../history/history.js';
import type { PolicyHash } from '../../lib/brand.js';
import { canonicalBytesOf } from '../manifest/canonical.js';
import { configDigestsFor } from '../manifest/lookup.js';
import { parseManifest } from '../manifest/parse.js';
import type { Manifest, ManifestPublicKey } from '../manifest/types.js';
import type { CoordinatorMetrics } from '../metrics.js';
import { createMeshCa, createRootCa, meshCaBundle } from '../pki/ca.js';
import { issueLeaf, readLeafPolicyHash } from '../pki/leaf.js';
import { spiffeIdFor } from '../pki/spiffe-id.js';
import { deriveSecrets, type DerivedSecrets, generateSalt, generateSeed } from '../pki/seed.js';
import { encryptSeedShares } from '../pki/seed-shares.js';
import { NonceStore } from '../protocol/nonces.js';
import type { Store } from '../store/store.js';
import { type CaMaterial, loadCa, loadOrCreateCa, meshCaKey, ROOT_CA_KEY } from './persisted-ca.js';
import { refuse } from './refusal.js';

/** The Coordinator's lifecycle state. */
export type CoordinatorState = 'fresh' | 'recovery' | 'ready';

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
}

interface Ready {
  readonly secrets: DerivedSecrets;
  readonly manifest: Manifest;
  readonly manifestHash: ManifestHash;
  readonly transitionHash: TransitionHash;
  readonly latestRevision: number;
  readonly generation: number;
  readonly root: CaMaterial;
  readonly mesh: CaMaterial;
  readonly previousMesh: CaMaterial | undefined;
}

/** Request of SetManifest, decoded. */
export interface SetManifestRequest {
  readonly manifest: Uint8Array;
  readonly policies: readonly Uint8Array[];
  readonly nonce?: Uint8Array;
  readonly ownerKey?: string;
  readonly signature?: Uint8Array;
}

/** Request of Recover, decoded. */
export interface RecoverRequest {
  readonly seed: Uint8Array;
  readonly salt: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ownerKey: string;
  readonly signature: Uint8Array;
}

/** The Coordinator core. */
export class Coordinator {
  readonly #rt: CoordinatorRuntime;
  readonly #history: History;
  readonly #nonces: NonceStore;
  readonly #checker = new EvidenceChecker();
  readonly #secretCache = new Map<string, string>();
  #state: CoordinatorState = 'fresh';
  #ready: Ready | undefined;
  // One manifest transition or recovery at a time; issuance reads the snapshot in #ready.
  #busy: Promise<unknown> = Promise.resolve();

  constructor(rt: CoordinatorRuntime) {
    this.#rt = rt;
    this.#history = new History(rt.store);
    this.#nonces = new NonceStore({ clock: rt.clock });
  }

  /** Decides the starting state from the store: history present → recovery, else fresh. */
  async start(): Promise<void> {
    const latest = await this.#history.readLatest();
    this.#setState(latest ? 'recovery' : 'fresh');
    this.#rt.logger.info('coordinator state', { state: this.#state, transition: latest?.transitionHash });
  }

  /** Current state. */
  get state(): CoordinatorState {
    return this.#state;
  }

  /** A single-use nonce for the next evidence or signature. */
  nonce(): Uint8Array {
    return this.#nonces.issue();
  }

  /** The Coordinator's evidence, binding its TLS key and the client's nonce. */
  async attest(clientNonce: Uint8Array): Promise<WireEvidence> {
    const ev = await this.#rt.issuer.issue(coordinatorReportData(this.#rt.tlsSpki, clientNonce));
    if (ev.format === 'tdx') return { format: 'tdx', quote: ev.quote };
    const c = ev.certificates;
    const vek = c.vcek ?? c.vlek;
    if (!vek || !c.ask || !c.ark) throw refuse.unavailable('this Coordinator\'s platform supplied no VCEK/ASK/ARK with its report; configure collateral fetching');
    const pem = (der: Uint8Array): string => new X509Certificate(Buffer.from(der)).toString();
    return { format: 'snp', report: ev.report, vek, chain: new Uint8Array(Buffer.from(pem(c.ask) + pem(c.ark))) };
  }

  /** SetManifest: the first set creates the seed; later sets need a workload owner's signature. */
  setManifest(req: SetManifestRequest): Promise<SetManifestResponse> {
    return this.#exclusive(() => this.#setManifest(req));
  }

  async #setManifest(req: SetManifestRequest): Promise<SetManifestResponse> {
    if (this.#state === 'recovery') throw refuse.state('the Coordinator is in recovery mode: run "ccmesh recover" first');
    let manifest: Manifest;
    try {
      manifest = parseManifest(req.manifest);
    } catch (err) {
      if (err instanceof ConfigError) throw refuse.invalid(err.message);
      throw err;
    }
    const policyHashes = new Set(Object.keys(manifest.policies));
    const docHashes = req.policies.map((p) => toHex(sha256(p)));
    for (const h of docHashes) if (!policyHashes.has(h)) throw refuse.invalid(`policy document with SHA-256 ${h} is not named in the manifest's policies`);
    for (const h of policyHashes) if (!docHashes.includes(h)) throw refuse.invalid(`the manifest names policy ${h} but no policy document with that hash was sent`);

    const current = this.#ready;
    if (current) this.#authoriseOwner(current.manifest, req);

    const first = !current;
    const seed = first ? generateSeed() : undefined;
    const salt = first ? generateSalt() : undefined;
    const secrets = current?.secrets ?? deriveSecrets(seed!, salt!);
    const trustDomain = manifest.trustDomain;
    const root = current?.root ?? (await loadOrCreateCa(this.#rt.store, ROOT_CA_KEY, secrets.rootCaKey, () => createRootCa({ key: secrets.rootCaKey, trustDomain, clock: this.#rt.clock })));

    for (const p of req.policies) await this.#history.putPolicy(p);
    // History holds the canonical form, so its content address is the manifest hash users compute locally.
    const manifestHash = await this.#history.putManifest(canonicalBytesOf(manifest));
    const transitionHash = await this.#history.putTransition({ manifestHash, previousTransitionHash: current?.transitionHash ?? '' });
    const meshKey = secrets.meshCaKey(transitionHash);
    const mesh = await loadOrCreateCa(this.#rt.store, meshCaKey(transitionHash), meshKey, () =>
      createMeshCa({ key: meshKey, generation: transitionHash, root: { cert: root.cert, key: root.key }, trustDomain, clock: this.#rt.clock }),
    );
    const advanced = await this.#history.advanceLatest(transitionHash, secrets.historySigningKey, current?.latestRevision ?? 0);
    if (!advanced.ok) throw refuse.conflict('the manifest history changed concurrently; fetch it again and retry');

    this.#ready = {
      secrets, manifest, manifestHash, transitionHash, latestRevision: advanced.revision,
      generation: (current?.generation ?? 0) + 1, root, mesh, previousMesh: current?.mesh,
    };
    this.#setState('ready');
    this.#rt.metrics.manifestGeneration.set(this.#ready.generation);
    this.#rt.logger.info('manifest set', { manifestHash, transitionHash, generation: this.#ready.generation, first });
    const seedShares = first ? encryptSeedShares(seed!, salt!, manifest.seedshareOwnerKeys.map((k) => k.spkiHex)) : [];
    return { transitionHash, manifestHash, rootCa: root.certPem, meshCaBundle: this.#bundle(), seedShares };
  }

  #authoriseOwner(current: Manifest, req: SetManifestRequest): void {
    if (current.workloadOwnerKeys.length === 0) throw refuse.denied('the current manifest has no workload owner keys: it is immutable', 'unauthorized');
    if (!req.nonce || !req.ownerKey || !req.signature) throw refuse.unauthenticated('a manifest update needs nonce, ownerKey and signature from a workload owner key', 'unauthorized');
    const owner = findKey(current.workloadOwnerKeys, req.ownerKey);
    if (!owner) throw refuse.denied('ownerKey is not one of the current manifest\'s workloadOwnerKeys', 'unauthorized');
    this.#consumeNonce(req.nonce);
    const data = setManifestSignedData(req.manifest, req.policies, req.nonce, this.#rt.tlsSpki);
    if (!safeVerify('sha256', data, owner.key, req.signature)) throw refuse.denied('the workload owner signature does not verify', 'signature');
  }

  /** GetManifests: history oldest first, policy documents, CAs. */
  async getManifests(): Promise<GetManifestsResponse> {
    const latest = await this.#history.readLatest(this.#ready ? createPublicKey(this.#ready.secrets.historySigningKey) : undefined);
    const manifests: string[] = [];
    const transitions: string[] = [];
    const policies: Record<string, string> = {};
    if (latest) {
      for await (const { hash, transition } of this.#history.walk(latest.transitionHash)) {
        transitions.unshift(hash);
        const bytes = must(await this.#history.getManifest(transition.manifestHash), `manifest ${transition.manifestHash}`);
        manifests.unshift(Buffer.from(bytes).toString('base64'));
        for (const ph of Object.keys(parseManifest(bytes).policies)) {
          if (!(ph in policies)) policies[ph] = Buffer.from(must(await this.#history.getPolicy(ph as PolicyHash), `policy ${ph}`)).toString('base64');
        }
      }
    }
    return { manifests, transitions, policies, rootCa: this.#ready?.root.certPem ?? '', meshCaBundle: this.#ready ? this.#bundle() : '', state: this.#state };
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
    const unverifiedTransition = must(await this.#history.getTransition(unverified.transitionHash), `transition ${unverified.transitionHash}`);
    const manifest = parseManifest(must(await this.#history.getManifest(unverifiedTransition.manifestHash), `manifest ${unverifiedTransition.manifestHash}`));
    const owner = findKey(manifest.seedshareOwnerKeys, req.ownerKey);
    if (!owner) throw refuse.denied('ownerKey is not one of the manifest\'s seedshareOwnerKeys', 'unauthorized');
    this.#consumeNonce(req.nonce);
    if (!safeVerify('sha256', recoverSignedData(req.seed, req.salt, req.nonce, this.#rt.tlsSpki), owner.key, req.signature)) {
      throw refuse.denied('the seed-share owner signature does not verify', 'signature');
    }
    let secrets: DerivedSecrets;
    try {
      secrets = deriveSecrets(req.seed, req.salt);
    } catch (err) {
      throw refuse.invalid(err instanceof Error ? err.message : String(err));
    }
    // SECURITY: the store is host-controlled; the seed is right only if it reproduces the history signature.
    const latest = await this.#history.readLatest(createPublicKey(secrets.historySigningKey)).catch((err: unknown) => {
      if (err instanceof CcmeshError && err.code === ErrorCode.HISTORY_SIGNATURE_INVALID) return undefined;
      throw err;
    });
    if (!latest?.verified) throw refuse.denied('this seed does not match the Coordinator\'s history (the latest pointer\'s signature does not verify)', 'signature');
    const transition = must(await this.#history.getTransition(latest.transitionHash), `transition ${latest.transitionHash}`);
    const manifestBytes = must(await this.#history.getManifest(transition.manifestHash), `manifest ${transition.manifestHash}`);
    const current = parseManifest(manifestBytes);
    const root = await loadCa(this.#rt.store, ROOT_CA_KEY, secrets.rootCaKey);
    if (!root) throw refuse.state('the store has no root CA certificate');
    const mesh = await loadOrCreateCa(this.#rt.store, meshCaKey(latest.transitionHash), secrets.meshCaKey(latest.transitionHash), () =>
      createMeshCa({ key: secrets.meshCaKey(latest.transitionHash), generation: latest.transitionHash, root: { cert: root.cert, key: root.key }, trustDomain: current.trustDomain, clock: this.#rt.clock }),
    );
    const prev = transition.previousTransitionHash;
    const previousMesh = prev ? await loadCa(this.#rt.store, meshCaKey(prev), secrets.meshCaKey(prev)) : undefined;
    let generation = 0;
    for await (const _ of this.#history.walk(latest.transitionHash)) generation++;
    this.#ready = { secrets, manifest: current, manifestHash: transition.manifestHash, transitionHash: latest.transitionHash, latestRevision: latest.revision, generation, root, mesh, previousMesh };
    this.#setState('ready');
    this.#rt.metrics.manifestGeneration.set(generation);
    this.#rt.logger.info('coordinator recovered', { transition: latest.transitionHash, generation });
  }

  /** NewMeshCert: evidence binding the pod's key and our nonce → leaf, CA bundle, workload secret. */
  async newMeshCert(req: { evidence: WireEvidence; publicKey: Uint8Array; nonce: Uint8Array }): Promise<MeshCertResponse> {
    const ready = this.#requireReady();
    const started = performance.now();
    this.#consumeNonce(req.nonce);
    const podKey = parseP256Spki(req.publicKey);
    const verdict = this.#checker.check(ready.manifest, req.evidence, meshCertReportData(req.publicKey, req.nonce, this.#rt.tlsSpki), new Date(this.#rt.clock.nowMs()));
    if (!verdict.ok) throw refuse.denied(`evidence refused: ${verdict.reasons.join('; ')}`, verdict.failure);
    const { policy, policyHash } = verdict.peer;
    const leaf = await this.#issue(ready, podKey, policy.sans, policy.workloadSecretId, policyHash);
    this.#rt.metrics.certificatesIssued.inc({ kind: 'new' });
    this.#rt.metrics.issuanceSeconds.observe({ kind: 'new' }, (performance.now() - started) / 1000);
    return {
      certChain: leaf + ready.mesh.certPem,
      meshCaBundle: this.#bundle(),
      rootCa: ready.root.certPem,
      workloadSecret: this.#workloadSecret(ready, policy.workloadSecretId),
      workloadSecretId: policy.workloadSecretId,
      configDigests: configDigestsFor(ready.manifest, policyHash),
    };
  }

  /** RenewMeshCert: a still-valid leaf signs for a new key; its policy must still be in the current manifest. */
  async renewMeshCert(req: { certChain: string; publicKey: Uint8Array; nonce: Uint8Array; signature: Uint8Array }): Promise<MeshCertResponse> {
    const ready = this.#requireReady();
    const started = performance.now();
    this.#consumeNonce(req.nonce);
    const newKey = parseP256Spki(req.publicKey);
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(req.certChain);
    } catch {
      throw refuse.invalid('certChain does not start with a readable certificate');
    }
    const now = this.#rt.clock.nowMs();
    const issuedByUs = [ready.mesh, ready.previousMesh].some((ca) => ca !== undefined && leaf.checkIssued(ca.cert) && leaf.verify(ca.cert.publicKey));
    if (!issuedByUs) throw refuse.unauthenticated('the presented leaf was not issued by the current or previous mesh CA', 'unauthorized');
    if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) throw refuse.unauthenticated('the presented leaf is not valid now (expired leaves must attest again with NewMeshCert)', 'unauthorized');
    if (!safeVerify('sha256', renewSignedData(req.publicKey, req.nonce, this.#rt.tlsSpki), leaf.publicKey, req.signature)) {
      throw refuse.denied('the renewal signature does not verify with the presented leaf\'s key', 'signature');
    }
    const policyHash = readLeafPolicyHash(leaf);
    const policy = policyHash ? ready.manifest.policies[policyHash as keyof Manifest['policies']] : undefined;
    if (!policyHash || !policy) throw refuse.denied(`policy ${policyHash ?? '(none)'} of the presented leaf is no longer in the manifest`, 'policy');
    const pem = await this.#issue(ready, newKey, policy.sans, policy.workloadSecretId, policyHash);
    this.#rt.metrics.certificatesIssued.inc({ kind: 'renew' });
    this.#rt.metrics.issuanceSeconds.observe({ kind: 'renew' }, (performance.now() - started) / 1000);
    return { certChain: pem + ready.mesh.certPem, meshCaBundle: this.#bundle(), rootCa: ready.root.certPem };
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

  /** Base64 workload secret, derived once per id and seed (HKDF per request would cost more than the lookup). */
  #workloadSecret(ready: Ready, id: string): string {
    const key = `${ready.transitionHash}\0${id}`;
    let v = this.#secretCache.get(key);
    if (v === undefined) {
      v = Buffer.from(ready.secrets.workloadSecret(id)).toString('base64');
      if (this.#secretCache.size > 10_000) this.#secretCache.clear();
      this.#secretCache.set(key, v);
    }
    return v;
  }

  #bundle(): string {
    const r = this.#ready!;
    return meshCaBundle(r.mesh.cert, r.previousMesh?.cert);
  }

  #requireReady(): Ready {
    if (this.#state !== 'ready' || !this.#ready) {
      throw refuse.unavailable(this.#state === 'recovery' ? 'the Coordinator is in recovery mode and issues nothing until recovered' : 'no manifest has been set yet');
    }
    return this.#ready;
  }

  #consumeNonce(nonce: Uint8Array): void {
    const r = this.#nonces.consume(nonce);
    if (!r.ok) throw refuse.denied(r.reason === 'expired' ? 'the nonce has expired; request a new one' : 'unknown or already used nonce (replay?)', 'nonce');
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

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw refuse.state(`the store is missing ${what}; it was damaged or belongs to another Coordinator`);
  return value;
}

function findKey(keys: readonly ManifestPublicKey[], spkiHex: string): ManifestPublicKey | undefined {
  const want = spkiHex.toLowerCase();
  return keys.find((k) => k.spkiHex === want);
}

function safeVerify(alg: string, data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  try {
    return cryptoVerify(key.asymmetricKeyType === 'rsa' ? alg : alg, data, key.asymmetricKeyType === 'rsa' ? { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 } : key, signature);
  } catch {
    // A key of the wrong kind or a malformed signature is "does not verify".
    return false;
  }
}

function parseP256Spki(spki: Uint8Array): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    throw refuse.invalid('publicKey is not a DER SubjectPublicKeyInfo');
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw refuse.invalid('publicKey must be an ECDSA P-256 key');
  return key;
}
