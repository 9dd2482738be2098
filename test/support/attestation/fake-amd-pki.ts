/**
 * Test double for AMD's key infrastructure: a self-made ARK → ASK / ASVK → VCEK / VLEK hierarchy built with the
 * same certificate code as the simulated TEE, plus CRLs. No public v3+/v5, Genoa, Turin or VLEK report exists, so
 * the verifier's product- and key-kind-specific paths are exercised with these (and must be run with the fake ARK
 * as anchor: the real pinned ARKs never trust them). Used only by tests; RSA-2048 keeps key generation fast.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { x509 } from '../../../lib/pki/x509.js';
import {
  AMD_RSA_PSS,
  createArk,
  createIntermediate,
  createVek,
  type CryptoKeyPair,
  generateAmdRsaKeys,
  generateVekKeys,
  toKeyObject,
  toNodeCertificate,
} from '../../../attestation/simulated/amd-certificates.js';
import type { SnpProduct } from '../../../attestation/snp/product.js';
import type { VekSplName } from '../../../attestation/snp/vek.js';

export { derIa5, derInteger } from '../../../attestation/simulated/amd-certificates.js';
export { buildSnpReport as buildFakeReport, type SnpReportFields as FakeReportFields } from '../../../attestation/snp/report-writer.js';

/** Options for one fake VEK. */
export interface FakeVekOptions {
  readonly kind: 'vcek' | 'vlek';
  /** productName extension; default the product label. `null` leaves it out. */
  readonly productName?: string | null;
  readonly spls?: Partial<Record<VekSplName, number>>;
  readonly hwId?: Uint8Array;
  readonly cspId?: string;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Sign with the other intermediate (a VCEK under the ASVK, or the reverse). */
  readonly wrongIssuer?: boolean;
}

/** A fake VEK: its DER and the private key the "firmware" signs reports with. */
export interface FakeVek {
  readonly der: Uint8Array;
  readonly privateKey: KeyObject;
}

type Signer = { cert: x509.X509Certificate; keys: CryptoKeyPair };

/** A fake AMD hierarchy for one product. */
export class FakeAmdPki {
  private constructor(
    readonly product: SnpProduct,
    /** The fake ARK, to pass as the verifier's anchor. */
    readonly ark: X509Certificate,
    /** ASK + ARK bundle (PEM). */
    readonly vcekChain: Uint8Array,
    /** ASVK + ARK bundle (PEM). */
    readonly vlekChain: Uint8Array,
    private readonly arkSigner: Signer,
    private readonly ask: Signer,
    private readonly asvk: Signer,
  ) {}

  /** Generates ARK, ASK and ASVK for `product` (valid 2020–2050). */
  static async create(product: SnpProduct): Promise<FakeAmdPki> {
    const validity = { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2050-01-01T00:00:00Z') };
    const arkKeys = await generateAmdRsaKeys(2048);
    const ark = { cert: await createArk(product, arkKeys, validity), keys: arkKeys };
    const intermediate = async (kind: 'ask' | 'asvk'): Promise<Signer> => {
      const keys = await generateAmdRsaKeys(2048);
      return { cert: await createIntermediate(product, kind, keys, ark, validity), keys };
    };
    const ask = await intermediate('ask');
    const asvk = await intermediate('asvk');
    const bundle = (mid: x509.X509Certificate): Uint8Array => new Uint8Array(Buffer.from(`${mid.toString('pem')}\n${ark.cert.toString('pem')}\n`));
    return new FakeAmdPki(product, toNodeCertificate(ark.cert), bundle(ask.cert), bundle(asvk.cert), ark, ask, asvk);
  }

  /** Issues an ARK-signed CRL (DER), optionally revoking the ASK or ASVK, as AMD's KDS `crl` endpoint does. */
  async issueArkCrl(opts: { revoke?: 'ask' | 'asvk'; thisUpdate?: Date; nextUpdate?: Date } = {}): Promise<Uint8Array> {
    const revoked = opts.revoke === 'ask' ? this.ask : opts.revoke === 'asvk' ? this.asvk : undefined;
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.arkSigner.cert.subject,
      thisUpdate: opts.thisUpdate ?? new Date('2024-06-01T00:00:00Z'),
      nextUpdate: opts.nextUpdate ?? new Date('2026-06-01T00:00:00Z'),
      signingAlgorithm: AMD_RSA_PSS,
      signingKey: this.arkSigner.keys.privateKey,
      entries: revoked ? [{ serialNumber: revoked.cert.serialNumber, revocationDate: new Date('2024-05-01T00:00:00Z') }] : [],
    });
    return new Uint8Array(crl.rawData);
  }

  /** Issues a VCEK or VLEK with AMD's extensions (serial 0, EC P-384 key). */
  async issueVek(opts: FakeVekOptions): Promise<FakeVek> {
    const keys = await generateVekKeys();
    const useAsvk = (opts.kind === 'vlek') !== (opts.wrongIssuer ?? false);
    const cert = await createVek(
      { kind: opts.kind, product: this.product, ...(opts.productName !== undefined ? { productName: opts.productName } : {}), ...(opts.spls ? { spls: opts.spls } : {}), ...(opts.hwId ? { hwId: opts.hwId } : {}), ...(opts.cspId !== undefined ? { cspId: opts.cspId } : {}) },
      keys.publicKey,
      useAsvk ? this.asvk : this.ask,
      { notBefore: opts.notBefore ?? new Date('2024-01-01T00:00:00Z'), notAfter: opts.notAfter ?? new Date('2031-01-01T00:00:00Z') },
    );
    return { der: new Uint8Array(cert.rawData), privateKey: toKeyObject(keys.privateKey) };
  }
}
