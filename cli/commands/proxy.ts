/**
 * `ccmesh proxy`: parse flags → build the runtime → start the sidecar → wait for SIGINT/SIGTERM → drain → exit.
 * Configuration errors exit 64 with every problem listed; a failed startup stage exits 1.
 */
import { systemClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { PinnedClient } from '../../lib/protocol/client.js';
import { MeshApi } from '../../lib/protocol/services.js';
import { EXIT } from '../../lib/well-known.js';
import { PROXY_FLAGS, PROXY_USAGE, readProxyConfig } from '../../proxy/src/config.js';
import { ProcessExecutor } from '../../iptables/executor.js';
import { startProxy } from '../../proxy/src/unit.js';
import { readCommandFlags, wantsHelp } from '../flags.js';
import type { CliIo } from '../io.js';
import { buildCaptureHooks, readCaptureConfig } from './proxy-capture.js';

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
  const logger = createLogger({ component: 'proxy', level: cfg.logLevel, sink: (line) => io.stderr(line + '\n') });
  const coordinator = cfg.coordinator;
  const address = coordinator ? (coordinator.host.includes(':') ? `[${coordinator.host}]:${coordinator.port}` : `${coordinator.host}:${coordinator.port}`) : undefined;
  const running = await startProxy(cfg, {
    clock: systemClock,
    logger,
    ...(address ? { connectCoordinator: () => PinnedClient.connect(address, MeshApi) } : {}),
    ...(capture ? { hooks: buildCaptureHooks(capture, new ProcessExecutor(), logger) } : {}),
  });
  await new Promise<void>((resolve) => {
    if (!io.signal || io.signal.aborted) return resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await running.drain();
  return EXIT.ok;
}
