/**
 * The default source: no network. Verification must work offline with collateral supplied alongside the
 * evidence, so fetching is something an operator turns on, never a silent fallback. The error says what was
 * missing, how to supply it and where the vendor publishes it, so an air-gapped operator can fetch it by hand.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import {
  amdChainRequest,
  amdCrlRequest,
  amdVekRequest,
  type CollateralRequest,
  describeRequest,
  intelPckCrlRequest,
  intelQeIdentityRequest,
  intelRootCrlRequest,
  intelTcbInfoRequest,
} from './collateral-request.js';
import type { AmdProduct, AmdSigner, AmdTcb, CollateralSource, IntelPckCa, WithIssuerChain } from './collateral-source.js';
import { type CollateralEndpoints, collateralUrl, defaultCollateralEndpoints } from './collateral-urls.js';

/** Refuses every request with CCMESH_ERR_ATTEST_FETCH_DISABLED and instructions for offline collateral. */
export class DisabledCollateralSource implements CollateralSource {
  readonly #endpoints: CollateralEndpoints;

  /** `endpoints` only shape the download hint in the message; nothing is ever contacted. */
  constructor(endpoints: CollateralEndpoints = defaultCollateralEndpoints) {
    this.#endpoints = endpoints;
  }

  amdVek(product: AmdProduct, chipId: Uint8Array, tcb: AmdTcb): Promise<Uint8Array> {
    return this.#refuse(() => amdVekRequest(product, chipId, tcb));
  }

  amdChain(product: AmdProduct, signer: AmdSigner): Promise<string> {
    return this.#refuse(() => amdChainRequest(product, signer));
  }

  amdCrl(product: AmdProduct): Promise<Uint8Array> {
    return this.#refuse(() => amdCrlRequest(product));
  }

  intelTdxTcbInfo(fmspcHex: string): Promise<WithIssuerChain<string>> {
    return this.#refuse(() => intelTcbInfoRequest(fmspcHex));
  }

  intelQeIdentity(): Promise<WithIssuerChain<string>> {
    return this.#refuse(() => intelQeIdentityRequest());
  }

  intelPckCrl(ca: IntelPckCa): Promise<WithIssuerChain<Uint8Array>> {
    return this.#refuse(() => intelPckCrlRequest(ca));
  }

  intelRootCrl(): Promise<Uint8Array> {
    return this.#refuse(() => intelRootCrlRequest());
  }

  async #refuse(build: () => CollateralRequest): Promise<never> {
    // An invalid request (e.g. a masked chip id) throws its own, more precise error here.
    const req = build();
    throw new CcmeshError(ErrorCode.ATTEST_FETCH_DISABLED, disabledMessage(req, collateralUrl(req, this.#endpoints)));
  }
}

/** The explanation carried by the refusal of `req`, which the vendor publishes at `url`. */
export function disabledMessage(req: CollateralRequest, url: string): string {
  const what = describeRequest(req);
  const how = req.kind.startsWith('amd-')
    ? 'pass it with the evidence (the SNP extended report certificate table or auxblob carries the VCEK/VLEK, ASK and ARK) or as files'
    : 'pass the TCB info, QE identity, their issuer chain and the CRLs as files alongside the quote';
  return (
    `${what} is not available and fetching attestation collateral over the network is disabled (the default). ` +
    `Supply it offline: ${how}; or point the collateral cache at a directory filled earlier; ` +
    `or enable fetching explicitly. The vendor publishes it at ${url}`
  );
}
