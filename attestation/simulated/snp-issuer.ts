/**
 * The simulated issuer: SNP v3 reports laid out and signed exactly as the firmware does, by the simulated
 * platform's VCEK. Development and tests only — `--tee auto` never chooses it, and a verifier accepts its
 * evidence only when given the simulated ARK explicitly.
 */
import { randomBytes } from 'node:crypto';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { type Evidence, type EvidenceIssuer, REPORT_DATA_LENGTH } from '../issuers/evidence.js';
import type { SnpProduct } from '../snp/product.js';
import { buildSnpReport } from '../snp/report-writer.js';
import { encodeTcb } from '../snp/tcb.js';
import { parseCertificates } from '../x509/pem.js';
import { configBytes, loadSimulatedPlatform, type SimulatedPlatform } from './platform.js';

/** CPUID family / model / stepping a v3 report carries for each product. */
const CPUID: Record<SnpProduct, readonly [number, number, number]> = {
  milan: [0x19, 0x01, 0x01],
  genoa: [0x19, 0x11, 0x01],
  turin: [0x1a, 0x02, 0x00],
};

/** PLATFORM_INFO: SMT enabled and TSME enabled, as on a typical host. */
const PLATFORM_INFO = 0x3n;

/** Per-issuer overrides of the platform's defaults. */
export interface SimulatedIssuerOptions {
  /** MEASUREMENT (48 bytes) instead of the platform default. */
  readonly measurement?: Uint8Array;
  /** HOST_DATA (32 bytes) instead of the platform default: the pod's policy hash. */
  readonly hostData?: Uint8Array;
}

/** Issues simulated SNP evidence from a {@link SimulatedPlatform}. */
export class SimulatedSnpIssuer implements EvidenceIssuer {
  readonly name = 'simulated';
  readonly #platform: SimulatedPlatform;
  readonly #measurement: Uint8Array;
  readonly #hostData: Uint8Array;
  readonly #certificates: { vcek: Uint8Array; ask: Uint8Array; ark: Uint8Array };

  constructor(platform: SimulatedPlatform, opts: SimulatedIssuerOptions = {}) {
    this.#platform = platform;
    this.#measurement = opts.measurement ?? configBytes(platform.config.measurement);
    this.#hostData = opts.hostData ?? configBytes(platform.config.hostData);
    if (this.#measurement.length !== 48) throw new CcmeshError(ErrorCode.USAGE, `simulated MEASUREMENT must be 48 bytes, got ${this.#measurement.length}`);
    if (this.#hostData.length !== 32) throw new CcmeshError(ErrorCode.USAGE, `simulated HOST_DATA must be 32 bytes, got ${this.#hostData.length}`);
    const [ask, ark] = parseCertificates(platform.chainPem, 'simulated cert_chain.pem');
    this.#certificates = { vcek: platform.vcekDer, ask: new Uint8Array(ask!.raw), ark: new Uint8Array(ark!.raw) };
  }

  /** Loads the platform in `dir` and builds an issuer over it. */
  static async load(dir: string, opts: SimulatedIssuerOptions = {}): Promise<SimulatedSnpIssuer> {
    return new SimulatedSnpIssuer(await loadSimulatedPlatform(dir), opts);
  }

  /** The platform this issuer signs for. */
  get platform(): SimulatedPlatform {
    return this.#platform;
  }

  issue(reportData: Uint8Array): Promise<Evidence> {
    if (reportData.length !== REPORT_DATA_LENGTH) {
      return Promise.reject(new CcmeshError(ErrorCode.USAGE, `report data must be exactly ${REPORT_DATA_LENGTH} bytes, got ${reportData.length}`));
    }
    const c = this.#platform.config;
    const tcb = encodeTcb(c.reportedTcb, c.product);
    const report = buildSnpReport(
      {
        version: 3,
        policy: BigInt(`0x${c.policy}`),
        vmpl: 0,
        currentTcb: tcb,
        reportedTcb: tcb,
        committedTcb: tcb,
        launchTcb: tcb,
        platformInfo: PLATFORM_INFO,
        signerInfo: 0, // VCEK, chip key not masked, no author key
        reportData,
        measurement: this.#measurement,
        hostData: this.#hostData,
        reportId: new Uint8Array(randomBytes(32)),
        cpuid: CPUID[c.product],
        chipId: configBytes(c.chipId),
        currentVersion: [21, 55, 1],
      },
      this.#platform.vcekKey,
    );
    return Promise.resolve({ format: 'snp', report, certificates: this.#certificates, source: 'simulated' });
  }
}
