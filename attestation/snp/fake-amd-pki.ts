/**
 * Test double for AMD's key infrastructure: a self-made ARK → ASK / ASVK → VCEK / VLEK hierarchy with AMD's names,
 * RSASSA-PSS (SHA-384, salt 48) and VCEK extensions, plus a report builder that signs like the firmware. No public
 * v3+/v5, Genoa, Turin or VLEK report exists, so the verifier's product- and key-kind-specific paths are exercised
 * with these (and must be run with the fake ARK as anchor: the real pinned ARKs never trust them).
 * Used only by tests; RSA-2048 keeps key generation fast.
 */
import 'reflect-metadata';
import { KeyObject, sign, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { productLabel, type SnpProduct } from './product.js';
import { SNP_REPORT_SIZE, SNP_SIGNED_LENGTH } from './report.js';
import { AMD_OID_ARC, type VekSplName } from './vek.js';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const RSA_PSS = { name: 'RSA-PSS', hash: 'SHA-384', saltLength: 48 };
const SPL_ARC: Record<VekSplName, string> = {
  blSPL: '3.1', teeSPL: '3.2', snpSPL: '3.3', spl_4: '3.4', spl_5: '3.5', spl_6: '3.6', spl_7: '3.7', ucodeSPL: '3.8', fmcSPL: '3.9',
};

/** DER INTEGER of a small non-negative number. */
export function derInteger(n: number): Uint8Array {
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return new Uint8Array([0x02, bytes.length, ...bytes]);
}

/** DER IA5String (short form only). */
export function derIa5(s: string): Uint8Array {
  return new Uint8Array([0x16, s.length, ...Buffer.from(s, 'latin1')]);
}

function dn(cn: string): string {
  return `CN=${cn}, O=Advanced Micro Devices, L=Santa Clara, ST=CA, C=US, OU=Engineering`;
}

async function rsaKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(
    { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-384' },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
}

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
    private readonly arkSigner: { cert: x509.X509Certificate; keys: CryptoKeyPair },
    private readonly ask: { cert: x509.X509Certificate; keys: CryptoKeyPair },
    private readonly asvk: { cert: x509.X509Certificate; keys: CryptoKeyPair },
  ) {}

  /** Generates ARK, ASK and ASVK for `product` (valid 2020–2050). */
  static async create(product: SnpProduct): Promise<FakeAmdPki> {
    const label = productLabel(product);
    const notBefore = new Date('2020-01-01T00:00:00Z');
    const notAfter = new Date('2050-01-01T00:00:00Z');
    const caExt = (): x509.Extension[] => [new x509.BasicConstraintsExtension(true, undefined, true)];
    const arkKeys = await rsaKeys();
    const ark = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '010000', name: dn(`ARK-${label}`), notBefore, notAfter, keys: arkKeys, signingAlgorithm: RSA_PSS, extensions: caExt(),
    });
    const intermediate = async (cn: string, serial: string): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair }> => {
      const keys = await rsaKeys();
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial, subject: dn(cn), issuer: ark.subject, notBefore, notAfter,
        publicKey: keys.publicKey, signingKey: arkKeys.privateKey, signingAlgorithm: RSA_PSS, extensions: caExt(),
      });
      return { cert, keys };
    };
    const ask = await intermediate(`SEV-${label}`, '010001');
    const asvk = await intermediate(`SEV-VLEK-${label}`, '010101');
    const bundle = (mid: x509.X509Certificate): Uint8Array => new Uint8Array(Buffer.from(`${mid.toString('pem')}\n${ark.toString('pem')}\n`));
    return new FakeAmdPki(product, new X509Certificate(Buffer.from(ark.rawData)), bundle(ask.cert), bundle(asvk.cert), { cert: ark, keys: arkKeys }, ask, asvk);
  }

  /** Issues an ARK-signed CRL (DER), optionally revoking the ASK or ASVK, as AMD's KDS `crl` endpoint does. */
  async issueArkCrl(opts: { revoke?: 'ask' | 'asvk'; thisUpdate?: Date; nextUpdate?: Date } = {}): Promise<Uint8Array> {
    const revoked = opts.revoke === 'ask' ? this.ask : opts.revoke === 'asvk' ? this.asvk : undefined;
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.arkSigner.cert.subject,
      thisUpdate: opts.thisUpdate ?? new Date('2024-06-01T00:00:00Z'),
      nextUpdate: opts.nextUpdate ?? new Date('2026-06-01T00:00:00Z'),
      signingAlgorithm: RSA_PSS,
      signingKey: this.arkSigner.keys.privateKey,
      entries: revoked ? [{ serialNumber: revoked.cert.serialNumber, revocationDate: new Date('2024-05-01T00:00:00Z') }] : [],
    });
    return new Uint8Array(crl.rawData);
  }

  /** Issues a VCEK or VLEK with AMD's extensions (serial 0, EC P-384 key). */
  async issueVek(opts: FakeVekOptions): Promise<FakeVek> {
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const useAsvk = (opts.kind === 'vlek') !== (opts.wrongIssuer ?? false);
    const issuer = useAsvk ? this.asvk : this.ask;
    const ext = (arc: string, value: Uint8Array): x509.Extension => new x509.Extension(`${AMD_OID_ARC}.${arc}`, false, value);
    const extensions = [ext('1', derInteger(this.product === 'turin' ? 1 : 0))];
    if (opts.productName !== null) extensions.push(ext('2', derIa5(opts.productName ?? productLabel(this.product))));
    for (const [name, value] of Object.entries(opts.spls ?? {}) as [VekSplName, number][]) extensions.push(ext(SPL_ARC[name], derInteger(value)));
    if (opts.hwId) extensions.push(ext('4', opts.hwId));
    if (opts.cspId !== undefined) extensions.push(ext('5', derIa5(opts.cspId)));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: '00',
      subject: dn(opts.kind === 'vlek' ? 'SEV-VLEK' : 'SEV-VCEK'),
      issuer: issuer.cert.subject,
      notBefore: opts.notBefore ?? new Date('2024-01-01T00:00:00Z'),
      notAfter: opts.notAfter ?? new Date('2031-01-01T00:00:00Z'),
      publicKey: keys.publicKey,
      signingKey: issuer.keys.privateKey,
      signingAlgorithm: RSA_PSS,
      extensions,
    });
    return { der: new Uint8Array(cert.rawData), privateKey: KeyObject.from(keys.privateKey) };
  }
}

/** Fields of a fake report; anything left out is zero (REPORT_ID_MA defaults to all ff, SIGNATURE_ALGO to 1). */
export interface FakeReportFields {
  readonly version?: number;
  readonly guestSvn?: number;
  readonly policy?: bigint;
  readonly vmpl?: number;
  readonly signatureAlgo?: number;
  readonly currentTcb?: bigint;
  readonly platformInfo?: bigint;
  readonly signerInfo?: number;
  readonly reportData?: Uint8Array;
  readonly measurement?: Uint8Array;
  readonly hostData?: Uint8Array;
  readonly reportIdMa?: Uint8Array;
  readonly reportedTcb?: bigint;
  readonly cpuid?: readonly [number, number, number];
  readonly chipId?: Uint8Array;
  readonly committedTcb?: bigint;
  readonly launchTcb?: bigint;
  readonly launchMitVector?: bigint;
  readonly currentMitVector?: bigint;
}

/** Lays out a report and, given a key, signs bytes 0x000–0x29F as the firmware does (little-endian R and S). */
export function buildFakeReport(f: FakeReportFields, key?: KeyObject): Uint8Array {
  const b = new Uint8Array(SNP_REPORT_SIZE);
  const dv = new DataView(b.buffer);
  dv.setUint32(0x000, f.version ?? 2, true);
  dv.setUint32(0x004, f.guestSvn ?? 0, true);
  dv.setBigUint64(0x008, f.policy ?? 0x30000n, true);
  dv.setUint32(0x030, f.vmpl ?? 0, true);
  dv.setUint32(0x034, f.signatureAlgo ?? 1, true);
  dv.setBigUint64(0x038, f.currentTcb ?? f.reportedTcb ?? 0n, true);
  dv.setBigUint64(0x040, f.platformInfo ?? 0n, true);
  dv.setUint32(0x048, f.signerInfo ?? 0, true);
  if (f.reportData) b.set(f.reportData, 0x050);
  if (f.measurement) b.set(f.measurement, 0x090);
  if (f.hostData) b.set(f.hostData, 0x0c0);
  b.set(f.reportIdMa ?? new Uint8Array(32).fill(0xff), 0x160);
  dv.setBigUint64(0x180, f.reportedTcb ?? 0n, true);
  if (f.cpuid) b.set(f.cpuid, 0x188);
  if (f.chipId) b.set(f.chipId, 0x1a0);
  dv.setBigUint64(0x1e0, f.committedTcb ?? f.reportedTcb ?? 0n, true);
  dv.setBigUint64(0x1f0, f.launchTcb ?? f.reportedTcb ?? 0n, true);
  if (f.launchMitVector !== undefined) dv.setBigUint64(0x1f8, f.launchMitVector, true);
  if (f.currentMitVector !== undefined) dv.setBigUint64(0x200, f.currentMitVector, true);
  if (key) {
    const sig = sign('sha384', b.subarray(0, SNP_SIGNED_LENGTH), { key, dsaEncoding: 'ieee-p1363' });
    b.set(Uint8Array.from(sig.subarray(0, 48)).reverse(), 0x2a0);
    b.set(Uint8Array.from(sig.subarray(48, 96)).reverse(), 0x2e8);
  }
  return b;
}
