/**
 * What a guest-side issuer hands back: the evidence bytes plus whatever collateral the platform gave with them, in
 * the shapes `attest verify` and the Coordinator consume. An issuer never verifies; it only obtains.
 */

/** Length of the caller data bound into evidence (SNP REPORT_DATA, TDX REPORTDATA). */
export const REPORT_DATA_LENGTH = 64;

/** Certificates an SNP platform supplied with a report (extended report / configfs-tsm auxblob), DER each. */
export interface SnpCertificates {
  readonly vcek?: Uint8Array;
  readonly vlek?: Uint8Array;
  /** ASK (for a VCEK) or ASVK (for a VLEK). */
  readonly ask?: Uint8Array;
  readonly ark?: Uint8Array;
}

/** Evidence from one issuance. */
export type Evidence =
  | {
      readonly format: 'snp';
      /** The 1184-byte ATTESTATION_REPORT. */
      readonly report: Uint8Array;
      /** Certificates the platform supplied (may be empty: then the verifier needs them from KDS or a cache). */
      readonly certificates: SnpCertificates;
      /** Where it came from, for logs: "configfs-tsm", "sev-guest", "simulated". */
      readonly source: string;
    }
  | {
      readonly format: 'tdx';
      /** A DCAP quote (v4/v5) carrying its PCK chain. */
      readonly quote: Uint8Array;
      readonly source: string;
    };

/** Obtains evidence binding 64 bytes of caller data. */
export interface EvidenceIssuer {
  /** Short name for logs and errors ("configfs-tsm", "sev-guest", "simulated"). */
  readonly name: string;
  /** Issues evidence whose report data equals `reportData` (exactly 64 bytes). */
  issue(reportData: Uint8Array, signal?: AbortSignal): Promise<Evidence>;
}
