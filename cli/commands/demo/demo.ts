/**
 * `ccmesh demo`: a finite, readable run of the whole mesh on one machine. A Coordinator on a simulated SEV-SNP
 * platform, `manifest init` + `set`, two pods (initializer, sidecar, app), N requests over mTLS, one plaintext
 * attempt refused, a metrics excerpt, clean shutdown. As root each participant gets a network namespace and the
 * sidecars capture traffic with iptables; otherwise everything runs on loopback without capture, and it says so.
 * Everything it runs is the real `ccmesh` binary. Exit 0 only when every check passed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessExecutor } from '../../../iptables/executor.js';
import { CcmeshError, ErrorCode } from '../../../lib/errors.js';
import { freePorts } from '../../../lib/net/free-ports.js';
import { EXIT } from '../../../lib/exit-codes.js';
import { PORTS } from '../../../lib/mesh-ports.js';
import { readCommandFlags, wantsHelp } from '../../flags.js';
import type { CliIo } from '../../io.js';
import { Children, type Child } from './processes.js';
import { Report } from './report.js';
import { type DemoContext, type DemoPorts, plaintextAttempt, sendRequests, setManifest, showMetrics, startCoordinator, startPod, StepFailed } from './steps.js';
import { chooseMode, type DemoMode, loopbackTopology, netnsToolProblem, netnsTopology, removeLeftovers, type Topology } from './topology.js';

const FLAGS = { mode: { type: 'string' }, requests: { type: 'string' }, help: { type: 'boolean' } } as const;

/** Usage of `ccmesh demo`. */
export const DEMO_USAGE = `Usage:
  ccmesh demo [--mode netns|loopback] [--requests 20]

Runs a small mesh on this machine and shows each step: a Coordinator on a simulated SEV-SNP platform (temp dir),
"manifest init" + "set", pods "backend" and "frontend" (initializer, sidecar, app), N requests frontend → backend
over mTLS, a plaintext attempt that is refused, a metrics excerpt, then a clean shutdown. Exits 0 only if every
check passed.
  --mode netns     network namespaces + iptables capture (needs root, ip, iptables, ip6tables); the default as root
  --mode loopback  everything on 127.0.0.1 without traffic capture; the default otherwise
  --requests N     requests from frontend to backend (default 20)
`;

/** The port numbers of a run. */
async function choosePorts(mode: DemoMode): Promise<DemoPorts> {
  if (mode === 'netns') {
    // Every participant has its own namespace, so the well-known ports are free.
    return { coordUser: PORTS.coordinatorUser, coordMesh: PORTS.coordinatorMesh, coordMetrics: PORTS.coordinatorMetrics, backendApp: 8080, backendReach: 8080, backendAdmin: PORTS.sidecarAdmin, frontendAdmin: PORTS.sidecarAdmin, frontendEgress: 9080 };
  }
  // Loopback is shared with whatever else runs here: ask the kernel for free ports.
  const p = await freePorts(8);
  return { coordUser: p[0]!, coordMesh: p[1]!, coordMetrics: p[2]!, backendApp: p[3]!, backendReach: p[4]!, backendAdmin: p[5]!, frontendAdmin: p[6]!, frontendEgress: p[7]! };
}

/** Runs the demo. */
export async function demoCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(DEMO_USAGE);
    return EXIT.ok;
  }
  const { r } = readCommandFlags('demo', argv, FLAGS);
  // No --mode: chosen by what this machine allows (chooseMode).
  const forced = r.raw('mode') === undefined ? undefined : r.oneOf('mode', ['netns', 'loopback'] as const);
  const requests = r.integer('requests', 1, 10_000, 20)!;
  r.finish();

  const exec = new ProcessExecutor({ timeoutMs: 10_000 });
  const choice = await chooseMode(forced, { isRoot: process.getuid?.() === 0, toolProblem: () => netnsToolProblem(exec) });
  if ('error' in choice) throw new CcmeshError(ErrorCode.USAGE, choice.error);

  io.stdout(`ccmesh demo — a Coordinator and two pods on this machine (steps: [elapsed | step time])\n`);
  const report = new Report(io);
  const kids = new Children(io.signal);
  const tmp = mkdtempSync(join(tmpdir(), 'ccmesh-demo-'));
  let topo: Topology = loopbackTopology();
  const children: Child[] = [];
  /** Stops every child, checks the long-lived ones exited 0, deletes the namespaces and the temp dir. */
  const cleanup = async (): Promise<{ line: string; bad: string[] }> => {
    const stopped = await kids.stopAll();
    const bad: string[] = [];
    for (const c of children) {
      const code = await c.exited;
      if (code !== 0) bad.push(`${c.name} exited with ${code}`);
    }
    await topo.destroy();
    rmSync(tmp, { recursive: true, force: true });
    const ns = topo.namespaces.length > 0 ? `deleted namespaces ${topo.namespaces.join(', ')}, ` : '';
    return { line: `stopped ${stopped} process${stopped === 1 ? '' : 'es'} with SIGTERM (${bad.length === 0 ? 'all exited 0' : bad.join(', ')}), ${ns}removed ${tmp}`, bad };
  };

  let interrupted = false;
  const onAbort = (): void => void (interrupted = true);
  io.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (choice.mode === 'netns') {
      const leftovers = await removeLeftovers(exec);
      topo = await netnsTopology(exec);
      report.step(`mode: ${choice.why}`, [
        ...(leftovers.length > 0 ? [`removed leftovers of an earlier run: ${leftovers.join(', ')}`] : []),
        `namespaces ${topo.namespaces.join(', ')}; bridge 198.19.100.0/24 + fd00:ccd::/64`,
      ]);
    } else {
      report.step(`mode: ${choice.why}`);
    }
    const ctx: DemoContext = { topo, kids, report, tmp, ports: await choosePorts(topo.mode), requests, signal: io.signal };
    children.push(await startCoordinator(ctx));
    await setManifest(ctx);
    const backend = await startPod(ctx, 'backend');
    children.push(backend.sidecar, ...(backend.app ? [backend.app] : []));
    const frontend = await startPod(ctx, 'frontend');
    children.push(frontend.sidecar);
    await sendRequests(ctx, backend.app);
    await plaintextAttempt(ctx, backend.app);
    await showMetrics(ctx);
  } catch (err) {
    // After Ctrl-C the step that was cut short fails too; the interruption itself is the one thing to report.
    if (!interrupted && err instanceof StepFailed) report.check(false, err.message, err.detail || undefined);
    else if (!interrupted) report.check(false, `unexpected error: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
    report.check(!interrupted, 'the run was interrupted (SIGINT/SIGTERM); stopping everything');
    const { line, bad } = await cleanup();
    report.step(`shutdown: ${line}`);
    report.check(bad.length === 0, 'every process exits 0 on SIGTERM');
  }
  if (report.failures.length === 0) {
    io.stdout(`\nDemo passed: every check passed (${(report.elapsedMs() / 1000).toFixed(1)} s, ${topo.mode} mode).\n`);
    return EXIT.ok;
  }
  io.stdout(`\nDemo FAILED: ${report.failures.length} check(s) failed:\n${report.failures.map((f) => `  - ${f}`).join('\n')}\n`);
  return EXIT.internal;
}
