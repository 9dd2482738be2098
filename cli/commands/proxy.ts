/**
 * `ccmesh proxy`: parse flags → build the runtime → start the sidecar → wait for SIGINT/SIGTERM → drain → exit.
 * Configuration errors exit 64 with every problem listed; a failed startup stage exits 1. With `--workers N` (N > 1)
 * the same command is the cluster primary, and `cluster.fork()` re-runs it (same argv) as each worker
 * (`proxy/cluster.ts`). In capture mode the workers own the transparent listeners and the primary applies,
 * verifies and watches the rules only after every worker listens.
 */
import cluster from 'node:cluster';
import type { EvidenceIssuer } from '../../attestation/issuers/evidence.js';
import { systemClock } from '../../lib/clock.js';
import { createRegistry } from '../../lib/metrics.js';
import { createLogger } from '../../lib/log.js';
import type { MeshClient } from '../../proxy/credentials/renewal.js';
import { EXIT } from '../../lib/exit-codes.js';
import type { Logger } from '../../lib/log.js';
import { PROXY_FLAGS, PROXY_USAGE, readProxyConfig, type RenewalTeeConfig } from '../../proxy/config.js';
import { ProcessExecutor } from '../../iptables/executor.js';
import { serveWorker, WORKER_ROOT_ENV, WorkerPool } from '../../proxy/cluster.js';
import { startProxy } from '../../proxy/unit.js';
import { readCommandFlags, wantsHelp } from '../flags.js';
import type { CliIo } from '../io.js';
import { buildCaptureHooks, readCaptureConfig } from './proxy-capture.js';
import { forbidDumpsOrWarn } from '../../lib/process/dumpable.js';

/**
 * The mesh-API client, imported on first use: gRPC, protobuf and the service definitions are about 130 modules and
 * several MB of heap that a sidecar without `--coordinator` never needs, and one with it needs first at its first
 * renewal or trust-bundle poll (docs/proxy.md, "Memory").
 */
function coordinatorConnector(address: string): () => Promise<MeshClient> {
  return async () => {
    const [{ PinnedClient }, { MeshApi }] = await Promise.all([import('../../lib/protocol/client.js'), import('../../lib/protocol/services.js')]);
    return PinnedClient.connect(address, MeshApi);
  };
}

/** Runs the sidecar until the process is signalled. */
export async function proxyCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(PROXY_USAGE);
    return EXIT.ok;
  }
  const { tok, r } = readCommandFlags('proxy', argv, PROXY_FLAGS);
  const cfg = readProxyConfig(r, tok.lists);
  const capture = cfg.noIptables ? undefined : readCaptureConfig(r, tok.values);
  r.finish();
  // Draining may take --drain; the pool's workers get 2 s more, and the process ends at the latest 5 s after that.
  io.drainWithin?.(cfg.drainMs + 5000);
  const logger = createLogger({ component: 'proxy', level: cfg.logLevel, sink: (line) => io.stderr(line + '\n') });
  await forbidDumpsOrWarn(logger);
  const coordinator = cfg.coordinator;
  const address = coordinator ? (coordinator.host.includes(':') ? `[${coordinator.host}]:${coordinator.port}` : `${coordinator.host}:${coordinator.port}`) : undefined;
  const renewalIssuer = cfg.renewalTee ? renewalIssuerFactory(cfg.renewalTee, logger) : undefined;
  if (cfg.workers > 1 && cluster.isWorker) {
    // A worker: the listeners only (transparent ones in capture mode, with no rule stages), with its own credential
    // watch; admin, renewal, rules and the ready file are the primary's. It drains on SIGTERM (sent by the primary)
    // or when the primary is gone.
    const registry = createRegistry({ processMetrics: true, defaultLabels: { component: 'proxy' } });
    const rootFingerprint = process.env[WORKER_ROOT_ENV];
    const running = await startProxy({ ...cfg, coordinator: undefined, readyFile: undefined }, { clock: systemClock, logger, registry, worker: true, ...(rootFingerprint ? { rootFingerprint } : {}) });
    serveWorker(registry);
    await untilSignalled(io.signal, true);
    await running.drain();
    // The IPC channel would keep the worker's event loop alive; drained means done.
    if (process.connected) process.disconnect();
    return EXIT.ok;
  }
  if (cfg.workers > 1) {
    // The primary: no listeners of its own; forks the workers as a startup stage and serves the aggregated admin.
    // In capture mode it then runs the rule stages (apply, verify, drop pre-existing, lift guard, watchdog).
    if (capture) {
      // IP_TRANSPARENT must sit on the listening socket each worker accepts from; with the default round-robin the
      // primary would accept on a socket no worker can mark, so every worker shares the one socket (SCHED_NONE).
      cluster.schedulingPolicy = cluster.SCHED_NONE;
    }
    const registry = createRegistry({ processMetrics: true, defaultLabels: { component: 'proxy' } });
    const pool = new WorkerPool(cfg.workers, logger);
    const running = await startProxy({ ...cfg, inbound: [], egress: [], transparent: undefined, transparentOutbound: undefined }, {
      clock: systemClock,
      logger,
      registry,
      ...(address ? { connectCoordinator: coordinatorConnector(address) } : {}),
      ...(renewalIssuer ? { renewalIssuer } : {}),
      ...(capture ? { hooks: buildCaptureHooks(capture, new ProcessExecutor(), logger) } : {}),
      // SECURITY: every worker (replacements too) must start from the root the primary pinned.
      workersStage: (store) => pool.start({ [WORKER_ROOT_ENV]: store.pinnedRoot.fingerprint256 }),
      extraNotReady: () => pool.notReadyReason(),
      metricsSource: { metrics: () => pool.metrics(registry), contentType: registry.contentType },
    }).catch(async (err: unknown) => {
      await pool.stop(1000);
      throw err;
    });
    await untilSignalled(io.signal, false);
    await Promise.all([pool.stop(cfg.drainMs + 2000), running.drain()]);
    return EXIT.ok;
  }
  const running = await startProxy(cfg, {
    clock: systemClock,
    logger,
    ...(address ? { connectCoordinator: coordinatorConnector(address) } : {}),
    ...(renewalIssuer ? { renewalIssuer } : {}),
    ...(capture ? { hooks: buildCaptureHooks(capture, new ProcessExecutor(), logger) } : {}),
  });
  await untilSignalled(io.signal, false);
  await running.drain();
  return EXIT.ok;
}

/**
 * The renewal evidence issuer of `--tee`, built like the initializer's (on first use: most renewals need none). The
 * attestation code (X.509 and ASN.1 libraries, the native FFI of the TEE devices) is imported then, not at start.
 */
function renewalIssuerFactory(tee: RenewalTeeConfig, logger: Logger): () => Promise<EvidenceIssuer> {
  return async () => {
    const [{ createIssuer }, { SimulatedSnpIssuer }] = await Promise.all([import('../../attestation/issuers/select.js'), import('../../attestation/simulated/snp-issuer.js')]);
    return createIssuer(tee.kind, {}, { logger, simulated: () => SimulatedSnpIssuer.load(tee.simDir!, tee.hostData ? { hostData: tee.hostData } : {}) });
  };
}

/** Resolves on SIGINT/SIGTERM (`signal`), and in a cluster worker also when the primary went away. */
function untilSignalled(signal: AbortSignal | undefined, worker: boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    if (worker) process.once('disconnect', () => resolve());
    if (!signal || signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
