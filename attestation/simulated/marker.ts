/** How simulated certificates mark themselves; a tiny module so verifiers can recognise them without loading PKI code. */

/** Organization name of every simulated certificate: impossible to mistake for AMD's. */
export const SIMULATED_ORGANIZATION = 'ccmesh SIMULATED TEE - NOT AMD - NO SECURITY';
