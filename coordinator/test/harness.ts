/**
 * In-process Coordinator test harness (used by tests only): a simulated platform, owner keys, a manifest, a
 * Coordinator on loopback ports over a file store, and a "pod" that attests through the mesh API.
 */
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initSimulatedPlatform, type SimulatedPlatform } from '../../attestation/simulated/platform.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import type { EvidenceIssuer } from '../../attestation/issuers/evidence.js';
import { type Clock, systemClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { meshCertReportData, recoverSignedData, renewKeyPossessionData, renewSignedData, signBinding } from '../../lib/protocol/binding.js';
import { CcmeshError } from '../../lib/errors.js';
import { signedSetManifestRequest } from '../../lib/protocol/signed-set.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import type { MeshApiMethods, MeshCertResponse, NewMeshCertRequest, RecoverRequest, RenewMeshCertRequest, SetManifestRequest, UserApiMethods } from '../../lib/protocol/messages.js';
import { MeshApi, UserApi } from '../../lib/protocol/services.js';
import { toWireEvidence } from '../../attestation/issuers/wire-evidence.js';
import type { ManifestParser } from '../core/coordinator.js';
import { buildManifestDocument } from '../../contract/manifest/document.js';
import { FileStore } from '../store/file-store.js';
import type { Store } from '../store/store.js';
import { type RunningCoordinator, startCoordinator } from '../unit.js';
import type { PeerRecoveryConfig } from '../peer/peer-recovery.js';

/** The harness's coordinator policy document. */
const COORDINATOR_DOC = 'coordinator policy v1';

/** SHA-256 hex. */
export const sha256hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/**
 * Asserts that `call` was refused with gRPC status `code` and details that start with `detail` (the Coordinator's
 * own message, so only the one refusal under test matches).
 */
export async function refused(t: { ok(v: unknown, m: string): unknown; match(a: string, b: RegExp, m: string): unknown }, call: Promise<unknown>, code: string, detail: RegExp, what: string): Promise<void> {
  const err = await call.then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof CcmeshError, `${what}: refused`);
  t.match((err as Error | undefined)?.message ?? '', new RegExp(`^\\w+: ${code}: ${detail.source}`), what);
}

/** What a test may swap in the Coordinator's runtime (all optional; kept across restarts). */
export interface HarnessOptions {
  readonly clock?: Clock;
  /** Wraps the Coordinator's own (simulated) evidence issuer, e.g. to count issuances. */
  readonly wrapIssuer?: (issuer: EvidenceIssuer) => EvidenceIssuer;
  /** The manifest parser the Coordinator calls, e.g. a counting wrapper around `parseManifest`. */
  readonly parseManifest?: ManifestParser;
  /** Opens the store of each start (default: the file store in dir/store); replica tests share one etcd. */
  readonly openStore?: () => Promise<Store>;
  /** The Coordinator's periodic read of `latest` (default the production interval). */
  readonly historySyncMs?: number;
  /** The simulated platform's own HOST_DATA is the coordinator policy's hash (for `ccmesh coordinator --sim-dir`). */
  readonly platformIsCoordinator?: boolean;
  /** The simulated platform's certificates are valid from this time (default: now), for a Coordinator clock set back. */
  readonly platformNotBefore?: Date;
}

/** What one replica may differ in (startReplica). */
export interface ReplicaOptions {
  /** Its evidence issuer (default: the platform, HOST_DATA of the coordinator policy). */
  readonly issuer?: EvidenceIssuer;
  /** Peer recovery (`--peers`). */
  readonly peerRecovery?: PeerRecoveryConfig;
}

/** Everything a Coordinator test needs. */
export class Harness {
  readonly dir: string;
  readonly platform: SimulatedPlatform;
  readonly owner = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  readonly seedshare = generateKeyPairSync('rsa', { modulusLength: 3072 });
  readonly coordinatorDoc = new Uint8Array(Buffer.from(COORDINATOR_DOC));
  readonly podDoc = new Uint8Array(Buffer.from('pod web policy v1'));
  readonly options: HarnessOptions;
  coordinator: RunningCoordinator | undefined;
  /** Further Coordinators started with {@link startReplica}; closed by {@link close}. */
  readonly replicas: RunningCoordinator[] = [];

  private constructor(dir: string, platform: SimulatedPlatform, options: HarnessOptions) {
    this.dir = dir;
    this.platform = platform;
    this.options = options;
  }

  /** Makes a temp dir and a simulated platform (RSA-2048 for speed). */
  static async create(options: HarnessOptions = {}): Promise<Harness> {
    const dir = mkdtempSync(join(tmpdir(), 'ccmesh-coord-'));
    const hostData = options.platformIsCoordinator ? { hostData: createHash('sha256').update(COORDINATOR_DOC).digest() } : {};
    const notBefore = options.platformNotBefore ? { notBefore: options.platformNotBefore } : {};
    return new Harness(dir, await initSimulatedPlatform(join(dir, 'platform'), { rsaBits: 2048, ...hostData, ...notBefore }), options);
  }

  spkiHex(k: KeyObject): string {
    return Buffer.from((k.type === 'public' ? k : createPublicKey(k)).export({ type: 'spki', format: 'der' })).toString('hex');
  }

  /** A manifest document trusting the simulated root, with the coordinator and web policies plus `extra`. */
  manifest(extraPolicies: string[] = [], sans = ['web', 'web.default.svc'], opts: { extraMeasurements?: readonly string[]; extraCoordinatorPolicies?: readonly string[] } = {}): Uint8Array {
    const doc = buildManifestDocument({
      workloadOwnerKeys: [this.spkiHex(this.owner.publicKey)],
      seedshareOwnerKeys: [this.spkiHex(this.seedshare.publicKey)],
      simulatedArkPem: this.platform.ark.toString(),
      simulatedSnp: { measurements: [this.platform.config.measurement, ...(opts.extraMeasurements ?? [])] },
      policies: [
        { policyHash: sha256hex(this.coordinatorDoc), role: 'coordinator', sans: ['coordinator'], workloadSecretId: 'coordinator' },
        { policyHash: sha256hex(this.podDoc), sans, workloadSecretId: 'apps/v1/Deployment/default/web' },
        ...extraPolicies.map((h) => ({ policyHash: h, workloadSecretId: `extra-${h.slice(0, 6)}` })),
        ...(opts.extraCoordinatorPolicies ?? []).map((h) => ({ policyHash: h, role: 'coordinator' as const, sans: [`coordinator-${h.slice(0, 6)}`], workloadSecretId: `coordinator-${h.slice(0, 6)}` })),
      ],
    });
    return new Uint8Array(Buffer.from(JSON.stringify(doc)));
  }

  /** Starts (or restarts) the Coordinator on loopback ports over its store (the file store in dir/store by default). */
  async start(): Promise<RunningCoordinator> {
    this.coordinator = await this.#run(await this.#openStore());
    return this.coordinator;
  }

  /** Starts one more Coordinator on the same platform, over `store` (default: another handle on the harness's store). */
  async startReplica(store?: Store, opts: ReplicaOptions = {}): Promise<RunningCoordinator> {
    const replica = await this.#run(store ?? (await this.#openStore()), opts);
    this.replicas.push(replica);
    return replica;
  }

  async #openStore(): Promise<Store> {
    return this.options.openStore ? this.options.openStore() : FileStore.open(join(this.dir, 'store'));
  }

  async #run(store: Store, opts: ReplicaOptions = {}): Promise<RunningCoordinator> {
    const issuer = opts.issuer ?? new SimulatedSnpIssuer(this.platform, { hostData: Buffer.from(sha256hex(this.coordinatorDoc), 'hex') });
    const { wrapIssuer, parseManifest, clock, historySyncMs } = this.options;
    return startCoordinator(
      { host: '127.0.0.1', userPort: 0, meshPort: 0, metricsPort: 0 },
      {
        store,
        issuer: wrapIssuer ? wrapIssuer(issuer) : issuer,
        clock: clock ?? systemClock,
        logger: createLogger({ component: 'coordinator', level: 'error', sink: () => undefined }),
        ...(parseManifest ? { parseManifest } : {}),
        ...(historySyncMs !== undefined ? { historySyncMs } : {}),
        ...(opts.peerRecovery ? { peerRecovery: opts.peerRecovery } : {}),
      },
    );
  }

  async user(): Promise<PinnedClient<UserApiMethods>> {
    return PinnedClient.connect(`127.0.0.1:${this.coordinator!.userPort}`, UserApi);
  }

  async mesh(): Promise<PinnedClient<MeshApiMethods>> {
    return PinnedClient.connect(`127.0.0.1:${this.coordinator!.meshPort}`, MeshApi);
  }

  /** A started Coordinator with a user-API and a mesh-API client, all closed at the test's teardown. */
  static async started(t: { teardown(fn: () => unknown): void }, options: HarnessOptions = {}): Promise<{ h: Harness; user: PinnedClient<UserApiMethods>; mesh: PinnedClient<MeshApiMethods> }> {
    const h = await Harness.create(options);
    t.teardown(() => h.close());
    await h.start();
    const user = await h.user();
    const mesh = await h.mesh();
    t.teardown(() => {
      user.close();
      mesh.close();
    });
    return { h, user, mesh };
  }

  /**
   * Restarts the Coordinator on the same store (it comes back in recovery) and opens a new user-API and mesh-API
   * client, closed at the test's teardown; close the old clients first.
   */
  async restarted(t: { teardown(fn: () => unknown): void }): Promise<{ user: PinnedClient<UserApiMethods>; mesh: PinnedClient<MeshApiMethods> }> {
    await this.coordinator!.close();
    await this.start();
    const clients = { user: await this.user(), mesh: await this.mesh() };
    t.teardown(() => {
      clients.user.close();
      clients.mesh.close();
    });
    return clients;
  }

  /** Owner-signed SetManifest request for an update. */
  async signedSet(user: PinnedClient<UserApiMethods>, manifest: Uint8Array, policies: Uint8Array[], key: KeyObject = this.owner.privateKey): Promise<SetManifestRequest> {
    return signedSetManifestRequest(user, manifest, policies, key);
  }

  /** Recover request signed by `key` (default the manifest's seed-share owner). */
  async recoverRequest(user: PinnedClient<UserApiMethods>, seed: Uint8Array, salt: Uint8Array, key: KeyObject = this.seedshare.privateKey): Promise<RecoverRequest> {
    const nonce = await user.nonce();
    return { seed, salt, nonce, ownerKey: this.spkiHex(key), signature: signBinding(recoverSignedData(seed, salt, nonce, user.spki), key) };
  }

  /**
   * A RenewMeshCert request presenting `certChain` for a fresh P-256 key (or `newKey`), signed by `signer` (the holder
   * of the leaf's key) over the new key, a fresh Coordinator nonce and the Coordinator's TLS key.
   */
  async renewRequest(mesh: PinnedClient<MeshApiMethods>, certChain: string, signer: KeyObject, opts: { newKey?: KeyObject; possessionKey?: KeyObject } = {}): Promise<{ request: RenewMeshCertRequest; key: KeyObject }> {
    const key = opts.newKey ?? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const spki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
    const nonce = await mesh.nonce();
    const signature = signBinding(renewSignedData(spki, nonce, mesh.spki), signer);
    // A key type the protocol doesn't take (Ed25519) can't make this signature; the Coordinator refuses it earlier.
    const prover = opts.possessionKey ?? key;
    const newKeySignature = prover.asymmetricKeyType === 'ed25519' ? new Uint8Array(64) : signBinding(renewKeyPossessionData(spki, nonce, mesh.spki), prover);
    return { request: { certChain, publicKey: spki, nonce, signature, newKeySignature }, key };
  }

  /** A pod's NewMeshCert request; overrides let attack tests bend one part. */
  async podRequest(mesh: PinnedClient<MeshApiMethods>, opts: { hostDataDoc?: Uint8Array; bindKey?: KeyObject; bindCoordinatorSpki?: Uint8Array; platform?: SimulatedPlatform; nonce?: Uint8Array; measurement?: Uint8Array } = {}) {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = new Uint8Array(key.publicKey.export({ type: 'spki', format: 'der' }));
    const nonce = opts.nonce ?? (await mesh.nonce());
    const bindSpki = opts.bindKey ? new Uint8Array(createPublicKey(opts.bindKey).export({ type: 'spki', format: 'der' })) : spki;
    const issuer = new SimulatedSnpIssuer(opts.platform ?? this.platform, { hostData: Buffer.from(sha256hex(opts.hostDataDoc ?? this.podDoc), 'hex'), ...(opts.measurement ? { measurement: opts.measurement } : {}) });
    const ev = await issuer.issue(meshCertReportData(bindSpki, nonce, opts.bindCoordinatorSpki ?? mesh.spki));
    const request: NewMeshCertRequest = { evidence: toWireEvidence(ev), publicKey: spki, nonce };
    return { key, spki, nonce, request };
  }

  /** Runs NewMeshCert for a fresh pod key. */
  async newPodCert(mesh: PinnedClient<MeshApiMethods>): Promise<{ key: ReturnType<typeof generateKeyPairSync>; res: MeshCertResponse }> {
    const { key, request } = await this.podRequest(mesh);
    return { key, res: await mesh.call('NewMeshCert', request) };
  }

  async close(): Promise<void> {
    for (const r of this.replicas.splice(0)) await r.close();
    await this.coordinator?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
