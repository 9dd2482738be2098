/**
 * Where attestation collateral comes from. A verifier asks a {@link CollateralSource} for the AMD VCEK, AMD
 * chains and CRLs, and Intel TCB info, QE identity and CRLs; implementations fetch them over HTTP, serve them
 * from a disk cache or refuse (the default). Every source returns the vendor's bytes unchanged: integrity comes
 * from the verifier checking signatures up to pinned roots, never from how the bytes travelled.
 */

/** AMD SEV-SNP product lines that AMD KDS serves. */
export type AmdProduct = 'milan' | 'genoa' | 'turin';

/** Which AMD endorsement key signs the report: the per-chip VCEK or the per-cloud-provider VLEK. */
export type AmdSigner = 'vcek' | 'vlek';

/** SPL components of a REPORTED_TCB; `fmc` exists (and is required) on Turin only. */
export interface AmdTcb {
  readonly bootloader: number;
  readonly tee: number;
  readonly snp: number;
  readonly microcode: number;
  readonly fmc?: number;
}

/** Intel PCK CA that issued a PCK certificate, and hence which PCK CRL applies. */
export type IntelPckCa = 'platform' | 'processor';

/** An Intel PCS response together with the PEM issuer chain Intel sends in a response header. */
export interface WithIssuerChain<T> {
  /** The response body exactly as served (TCB info / QE identity signatures cover these exact bytes). */
  readonly body: T;
  /** PEM certificates from the issuer-chain header, URL-decoded: signer first, Intel SGX Root CA last. */
  readonly issuerChain: string;
}

/** Supplies attestation collateral; every method rejects with a CcmeshError when it cannot. */
export interface CollateralSource {
  /** VCEK certificate (DER) of one chip at one TCB. Turin: only the first 8 bytes of `chipId` and `tcb.fmc` count. */
  amdVek(product: AmdProduct, chipId: Uint8Array, tcb: AmdTcb): Promise<Uint8Array>;
  /** PEM bundle ASK+ARK (`vcek`) or ASVK+ARK (`vlek`) of one product. */
  amdChain(product: AmdProduct, signer: AmdSigner): Promise<string>;
  /** CRL (DER) issued by the ARK of one product. */
  amdCrl(product: AmdProduct): Promise<Uint8Array>;
  /** TDX TCB info JSON for an FMSPC (12 hex digits) with its `TCB-Info-Issuer-Chain`. */
  intelTdxTcbInfo(fmspcHex: string): Promise<WithIssuerChain<string>>;
  /** TDX QE identity JSON with its `SGX-Enclave-Identity-Issuer-Chain`. */
  intelQeIdentity(): Promise<WithIssuerChain<string>>;
  /** PCK CRL (DER) of the platform or processor CA with its `SGX-PCK-CRL-Issuer-Chain`. */
  intelPckCrl(ca: IntelPckCa): Promise<WithIssuerChain<Uint8Array>>;
  /** CRL (DER) of the Intel SGX Root CA. */
  intelRootCrl(): Promise<Uint8Array>;
}
