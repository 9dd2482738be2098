/**
 * Why an attestation-gated request was refused: a closed set, shared by the evidence check that decides it, the
 * Coordinator's refusals and its metrics label (`ccmesh_coordinator_attestation_failures_total{reason}`).
 */
export type AttestationFailure = 'nonce' | 'malformed' | 'evidence' | 'binding' | 'policy' | 'reference' | 'signature' | 'unauthorized' | 'state';
