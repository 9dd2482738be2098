/**
 * The PCK certificate chain a quote carries (leaf → PCK Platform/Processor CA → Intel SGX Root CA), checked
 * against pinned anchors with {@link checkChain}.
 *
 * Chain work is split so a long-lived verifier can cache it: parsing, the SGX extensions and the time-independent
 * checks (names, signatures, CA flags, the pinned root) depend only on the chain bytes and the anchors, so they
 * are cached by SHA-256 of the chain; validity windows and CRL freshness depend on the verification time and are
 * evaluated on every call (cheap comparisons; CRL signature results are cached per CRL object).
 */
import { createHash, type X509Certificate } from 'node:crypto';
import { bytesEqual } from '../../lib/bytes.js';
import { describeError } from '../../lib/errors.js';
import { checkChain } from '../x509/chain.js';
import { type Crl, crlSignedBy, isRevoked } from '../x509/crl.js';
import { parseCertificates } from '../x509/pem.js';
import { certCommonName, subjectDerOf } from './names.js';
import { type PckExtensions, parsePckExtensions } from './pck-extensions.js';

/** One certificate of a path with the role named in reasons. */
export interface PathEntry {
  readonly cert: X509Certificate;
  readonly role: string;
}

/** A certificate path from a leaf to a root, with the DER subject names for matching CRL issuers exactly. */
export interface CertPath {
  readonly path: readonly PathEntry[];
  readonly subjects: readonly Uint8Array[];
}

/** A parsed PCK chain. */
export interface PckChain extends CertPath {
  /** SHA-256 (hex) of the chain bytes as carried in the quote. */
  readonly hash: string;
  /** leaf, CA, root. */
  readonly path: readonly [PathEntry, PathEntry, PathEntry];
  readonly extensions: PckExtensions | undefined;
  /** Why the extensions could not be read, when they could not. */
  readonly extensionError: string | undefined;
}

/** Parses the PEM chain from a quote (trailing NUL and text between blocks ignored). Throws Error. */
export function parsePckChain(pem: Uint8Array): PckChain {
  const certs = parseCertificates(pem, 'PCK certificate chain');
  if (certs.length !== 3) throw new Error(`PCK certificate chain has ${certs.length} certificates, expected 3 (PCK, PCK CA, root)`);
  const [leaf, ca, root] = certs as [X509Certificate, X509Certificate, X509Certificate];
  const caCn = certCommonName(ca);
  const caRole = caCn === 'Intel SGX PCK Platform CA' ? 'PCK Platform CA' : caCn === 'Intel SGX PCK Processor CA' ? 'PCK Processor CA' : 'PCK CA';
  let extensions: PckExtensions | undefined;
  let extensionError: string | undefined;
  try {
    extensions = parsePckExtensions(new Uint8Array(leaf.raw));
  } catch (err) {
    extensionError = describeError(err);
  }
  return {
    hash: createHash('sha256').update(pem).digest('hex'),
    path: [
      { cert: leaf, role: 'PCK' },
      { cert: ca, role: caRole },
      { cert: root, role: 'Intel SGX Root CA' },
    ],
    subjects: certs.map((c) => subjectDerOf(c)),
    extensions,
    extensionError,
  };
}

/** Bounded memo of chain work (and of collateral signature results); one per verifier. */
export class PckChainCache {
  readonly #max: number;
  readonly #chains = new Map<string, PckChain>();
  readonly #structural = new WeakMap<CertPath, Map<string, readonly string[] | null>>();
  readonly #signerPaths = new WeakMap<X509Certificate, Map<string, CertPath>>();
  readonly #crlSig = new WeakMap<Crl, Map<string, boolean>>();
  readonly #docSig = new WeakMap<object, Map<string, boolean>>();

  constructor(maxEntries = 256) {
    this.#max = Math.max(1, maxEntries);
  }

  /** The parsed chain for `pem`, from the cache when seen before. Throws like {@link parsePckChain}. */
  chain(pem: Uint8Array): PckChain {
    const hash = createHash('sha256').update(pem).digest('hex');
    const hit = this.#chains.get(hash);
    if (hit) {
      // Refresh recency: Map iteration order is insertion order, so the first key is the least recently used.
      this.#chains.delete(hash);
      this.#chains.set(hash, hit);
      return hit;
    }
    const parsed = parsePckChain(pem);
    this.#chains.set(hash, parsed);
    if (this.#chains.size > this.#max) this.#chains.delete(this.#chains.keys().next().value!);
    return parsed;
  }

  /** The path signer → root as a {@link CertPath}, memoised per certificate object (for the TCB signer). */
  signerPath(signer: X509Certificate, signerRole: string, root: X509Certificate, rootRole: string): CertPath {
    let byRoot = this.#signerPaths.get(signer);
    if (!byRoot) this.#signerPaths.set(signer, (byRoot = new Map()));
    const key = `${root.fingerprint256}|${signerRole}|${rootRole}`;
    let p = byRoot.get(key);
    if (!p) {
      p = { path: [{ cert: signer, role: signerRole }, { cert: root, role: rootRole }], subjects: [subjectDerOf(signer), subjectDerOf(root)] };
      byRoot.set(key, p);
    }
    return p;
  }

  /** Time-independent reasons for `chain` under `anchors`, or null when they can't be separated from time. */
  structural(chain: CertPath, anchors: readonly X509Certificate[]): readonly string[] | null {
    const key = anchors.map((a) => a.fingerprint256).join('|');
    let byAnchors = this.#structural.get(chain);
    if (!byAnchors) this.#structural.set(chain, (byAnchors = new Map()));
    if (byAnchors.has(key)) return byAnchors.get(key)!;
    // Check at an instant inside every certificate's validity window, so no validity reason can appear; when
    // the windows don't overlap there is no such instant and the caller checks everything at its own time.
    const from = Math.max(...chain.path.map((p) => new Date(p.cert.validFrom).getTime()));
    const to = Math.min(...chain.path.map((p) => new Date(p.cert.validTo).getTime()));
    const result = Number.isFinite(from) && Number.isFinite(to) && from <= to ? checkChain({ path: chain.path, anchors, at: new Date(from) }) : null;
    byAnchors.set(key, result);
    return result;
  }

  /** `check()` memoised per collateral document object and signer: signatures don't depend on time. */
  documentSigned(doc: object, signer: X509Certificate, check: () => boolean): boolean {
    let bySigner = this.#docSig.get(doc);
    if (!bySigner) this.#docSig.set(doc, (bySigner = new Map()));
    const hit = bySigner.get(signer.fingerprint256);
    if (hit !== undefined) return hit;
    const ok = check();
    bySigner.set(signer.fingerprint256, ok);
    return ok;
  }

  /** Whether `crl` verifies with `issuer`'s key, memoised per CRL object. */
  crlSigned(crl: Crl, issuer: X509Certificate): boolean {
    let byIssuer = this.#crlSig.get(crl);
    if (!byIssuer) this.#crlSig.set(crl, (byIssuer = new Map()));
    const hit = byIssuer.get(issuer.fingerprint256);
    if (hit !== undefined) return hit;
    let ok: boolean;
    try {
      ok = crlSignedBy(crl, issuer.publicKey);
    } catch {
      ok = false; // the issuer's key bytes don't decode (Node decodes lazily, in the getter)
    }
    byIssuer.set(issuer.fingerprint256, ok);
    return ok;
  }
}

/** Inputs of {@link checkCertPath}. */
export interface CertPathCheck {
  readonly anchors: readonly X509Certificate[];
  readonly at: Date;
  /** CRLs whose issuer is in the path (root CRL, PCK CA CRL); each applies to the certificate its issuer signed. */
  readonly crls: readonly Crl[];
}

/** All reasons the path (a PCK chain, or the TCB signer → root) is unacceptable at `at` (empty = valid). */
export function checkCertPath(chain: CertPath, input: CertPathCheck, cache: PckChainCache): string[] {
  const { at } = input;
  const structural = cache.structural(chain, input.anchors);
  const reasons = structural ? [...structural] : checkChain({ path: chain.path, anchors: input.anchors, at });
  for (const { cert, role } of chain.path) {
    const notBefore = new Date(cert.validFrom);
    const notAfter = new Date(cert.validTo);
    // An unreadable date would make every comparison false, i.e. "valid": refuse instead.
    if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) {
      reasons.push(`${role} certificate validity dates are unreadable`);
      continue;
    }
    if (structural) {
      // Same wording as checkChain, which produced these itself in the uncached branch above.
      if (at < notBefore) reasons.push(`${role} certificate is not valid before ${notBefore.toISOString()} (checked at ${at.toISOString()})`);
      if (at > notAfter) reasons.push(`${role} certificate expired at ${notAfter.toISOString()} (checked at ${at.toISOString()})`);
    }
  }
  for (const crl of input.crls) {
    // The CRL's issuer must sign something in this path: the CA (for the leaf) or the root (for the CA).
    const i = chain.subjects.findIndex((s, idx) => idx > 0 && bytesEqual(s, crl.issuerDer));
    if (i < 1) {
      reasons.push(`a supplied CRL is not issued by any CA in the path to the ${chain.path[chain.path.length - 1]?.role ?? 'root'}`);
      continue;
    }
    const issuer = chain.path[i]!;
    const subject = chain.path[i - 1]!;
    if (!cache.crlSigned(crl, issuer.cert)) {
      reasons.push(`CRL of the ${issuer.role} does not verify with its key`);
      continue;
    }
    if (at < crl.thisUpdate) reasons.push(`CRL of the ${issuer.role} is not valid before ${crl.thisUpdate.toISOString()} (checked at ${at.toISOString()})`);
    if (crl.nextUpdate && at > crl.nextUpdate) {
      reasons.push(`CRL of the ${issuer.role} is stale: its nextUpdate was ${crl.nextUpdate.toISOString()} (checked at ${at.toISOString()})`);
    }
    if (isRevoked(crl, subject.cert)) reasons.push(`${subject.role} certificate (serial ${subject.cert.serialNumber}) is revoked by the ${issuer.role} CRL`);
  }
  return reasons;
}
