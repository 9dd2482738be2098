/**
 * Test PKI for the proxy tests: a root and mesh CA made with the Coordinator's own issuance code, leaves with
 * chosen SANs, and helpers that write a TLS directory in the layout of docs/design.md §5. Used by tests only.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock, systemClock, type Clock } from '../../lib/clock.js';
import { PATHS } from '../../lib/pod-layout.js';
import { createMeshCa, createRootCa } from '../../coordinator/pki/ca.js';
import type { IssuedCertificate, SigningCa } from '../../coordinator/pki/issuance.js';
import { issueLeaf } from '../../coordinator/pki/leaf.js';
import type { CredentialFiles } from '../credentials/generation.js';

const p256 = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

/**
 * A root with one or more mesh CAs. CAs are backdated a day so expired leaves can be issued under them, unless
 * `caClock` says otherwise (a CA dated later than another mesh's, for example).
 */
export class TestMesh {
  readonly root: IssuedCertificate & SigningCa;
  readonly meshCas: (IssuedCertificate & SigningCa)[] = [];
  readonly #caClock: Clock;

  private constructor(root: IssuedCertificate & SigningCa, caClock: Clock) {
    this.root = root;
    this.#caClock = caClock;
  }

  static async create(trustDomain = 'ccmesh.local', caClock: Clock = new FixedClock(Date.now() - 24 * 3600_000)): Promise<TestMesh> {
    const key = p256();
    const root = await createRootCa({ key, trustDomain, clock: caClock });
    const m = new TestMesh({ ...root, key }, caClock);
    await m.addMeshCa();
    return m;
  }

  /** Adds a new mesh CA (a manifest transition); the newest is first in {@link bundle}. */
  async addMeshCa(): Promise<IssuedCertificate & SigningCa> {
    const key = p256();
    const ca = await createMeshCa({ key, generation: `gen${this.meshCas.length}`, root: this.root, trustDomain: 'ccmesh.local', clock: this.#caClock });
    const full = { ...ca, key };
    this.meshCas.unshift(full);
    return full;
  }

  /** Mesh CA bundle PEM, newest first. */
  bundle(): string {
    return this.meshCas.map((c) => c.certPem).join('');
  }

  /** A leaf with `sans`, from the newest mesh CA unless `ca` is given; `clock`/`lifetimeMs` for expired ones. */
  async leaf(sans: string[], opts: { ca?: SigningCa; clock?: Clock; lifetimeMs?: number; workload?: string } = {}): Promise<{ key: KeyObject; files: CredentialFiles }> {
    const key = p256();
    const ca = opts.ca ?? this.meshCas[0]!;
    const leaf = await issueLeaf({
      publicKey: key,
      sans,
      spiffeId: `spiffe://ccmesh.local/${opts.workload ?? sans[0] ?? 'w'}`,
      policyHash: 'ab'.repeat(32),
      lifetimeMs: opts.lifetimeMs ?? 3600_000,
      meshCa: ca,
      clock: opts.clock ?? systemClock,
    });
    return {
      key,
      files: {
        key: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
        chain: leaf.certPem + ca.cert.toString(),
        meshCaBundle: this.bundle(),
        rootCa: this.root.certPem,
      },
    };
  }
}

/** Writes `files` into `dir` (made when absent) and returns it. */
export function writeTlsDir(files: CredentialFiles, dir = mkdtempSync(join(tmpdir(), 'ccmesh-tls-'))): string {
  writeFileSync(join(dir, PATHS.keyFile), files.key, { mode: 0o600 });
  writeFileSync(join(dir, PATHS.chainFile), files.chain);
  writeFileSync(join(dir, PATHS.meshCaFile), files.meshCaBundle);
  writeFileSync(join(dir, PATHS.rootCaFile), files.rootCa);
  return dir;
}

/**
 * `cert` with another subject public key swapped into its DER: issuer, subject and key identifiers stay those of the
 * original, so only the signature (which no longer verifies) tells it apart — what a forger of a CA name gets.
 */
export function withSwappedKey(cert: X509Certificate, key: KeyObject = p256()): X509Certificate {
  const der = Buffer.from(cert.raw);
  const old = cert.publicKey.export({ type: 'spki', format: 'der' });
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const at = der.indexOf(old);
  if (at < 0 || der.indexOf(old, at + 1) >= 0 || spki.length !== old.length) throw new Error('withSwappedKey: the key does not occur once or differs in length');
  spki.copy(der, at);
  return new X509Certificate(der);
}
