/**
 * Node/V8 flags the sidecar runs with wherever ccmesh starts it: the injected container's `NODE_OPTIONS`
 * (k8s/inject/parts.ts), the demo's sidecars and the benchmark's ccmesh peers. They cannot be set from inside the
 * process (V8 sizes its heap at start-up), so they travel with the launcher.
 *
 * `--max-semi-space-size=1` (MB; Node 20's default grows the young generation to 16 MB per semi-space): a sidecar
 * allocates a Buffer per read and a write request per write, and with a large young generation tens of MB of them
 * (and the native memory behind them) wait for the next scavenge. Measured side by side (bench/RESULTS.md): peak RSS
 * under keep-alive 84 → 70 MB, new connections 112 → 94 MB, bulk 131–143 → 95–108 MB per sidecar, CPU per
 * request and per MiB within the run-to-run spread.
 */
export const SIDECAR_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=1']);
