/** Errors and size bounds shared by the Coordinator's gRPC edge and its clients. */

/** A field-level problem with a message (the Coordinator answers INVALID_ARGUMENT with its text). */
export class WireError extends Error {
  override readonly name = 'WireError';
}

/** Largest UserAPI request the Coordinator accepts (a manifest and its policy documents). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * Largest MeshAPI request the Coordinator accepts: evidence (at most ~82 KiB) and a leaf chain (at most 64 Ki
 * characters) fit several times over, so a pod-reachable port holds far less per request than the UserAPI.
 */
export const MAX_MESH_REQUEST_BYTES = 512 * 1024;

/**
 * Largest MeshAPI answer a pod reads: a leaf, the CA bundle, the root, the workload secret and the config digests of
 * one policy (bounded by the 1 MiB manifest) — so a host answering in the Coordinator's place can't make a sidecar
 * decode megabytes.
 */
export const MAX_MESH_ANSWER_BYTES = 2 * 1024 * 1024;

/**
 * Largest UserAPI answer a client reads: `GetManifests` returns the whole history (every manifest and policy ever
 * set), which outgrows MAX_MESSAGE_BYTES after a few updates with large policies, and `set`, `verify` and `recover`
 * all start with it. Pods use only the MeshAPI and keep the smaller bound.
 */
export const MAX_HISTORY_ANSWER_BYTES = 64 * 1024 * 1024;
