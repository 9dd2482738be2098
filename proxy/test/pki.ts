/**
 * Test PKI for the proxy tests: a root and mesh CA made with the Coordinator's own issuance code, leaves with
 * chosen SANs, and helpers that write a TLS directory in the layout of DESIGN §5. Used by tests only.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock, systemClock, type Clock } from '../../lib/clock.js';
import { PATHS } from '../../lib/well-known.js';
import { createMeshCa, createRootCa } from '../../coordinator/pki/ca.js';
import type { IssuedCertificate, SigningCa } from '../../coordinator/pki/issuance.js';
import { issueLeaf } from '../../coordinator/pki/leaf.js';
import type { CredentialFiles } from '../src/credentials/generation.js';

const p256 = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

/** A root with one or more mesh CAs. CAs are backdated a day so expired leaves can be issued under them. */
export class TestMesh {
  readonly root: IssuedCertificate & SigningCa;
  readonly meshCas: (IssuedCertificate & SigningCa)[] = [];

  private constructor(root: IssuedCertificate & SigningCa) {
    this.root = root;
  }

  static async create(trustDomain = 'ccmesh.local'): Promise<TestMesh> {
    const clock = new FixedClock(Date.now() - 24 * 3600_000);
    const key = p256();
    const root = await createRootCa({ key, trustDomain, clock });
    const m = new TestMesh({ ...root, key });
    await m.addMeshCa();
    return m;
  }

  /** Adds a new mesh CA (a manifest transition); the newest is first in {@link bundle}. */
  async addMeshCa(): Promise<IssuedCertificate & SigningCa> {
    const key = p256();
    const ca = await createMeshCa({ key, generation: `gen${this.meshCas.length}`, root: this.root, trustDomain: 'ccmesh.local', clock: new FixedClock(Date.now() - 24 * 3600_000) });
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
