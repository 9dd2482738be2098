/**
 * The benchmark command line: `[--quick] [--only proxy,attestation,coordinator,replicas] [--peers a,b] [--scenarios a,b]
 * [--node PATH] [--node-flags "FLAGS"] [--profile DIR] [--out DIR]`.
 */

/** Benchmark groups `--only` selects. */
export const GROUPS = ['proxy', 'attestation', 'coordinator', 'replicas'] as const;

/** One benchmark group. */
export type BenchGroup = (typeof GROUPS)[number];

/** Parsed flags. */
export interface BenchArgs {
  readonly quick: boolean;
  readonly only: readonly BenchGroup[];
  /** Implementations of the proxy path to run; undefined = all. */
  readonly peers?: readonly string[];
  /** Proxy scenarios to run; undefined = all. */
  readonly scenarios?: readonly string[];
  /** How the ccmesh sidecars are launched (runtime, node flags, CPU profiles). */
  readonly launch: SidecarLaunch;
  readonly out?: string;
  readonly help: boolean;
}

/** How the benchmark starts the ccmesh sidecars: which node binary, with which node flags, profiled or not. */
export interface SidecarLaunch {
  /** A node binary other than the harness's own (`process.execPath`), e.g. another major to compare runtimes. */
  readonly node?: string;
  /** Node/V8 flags put before the script (`--max-semi-space-size=2 --optimize-for-size`). */
  readonly nodeFlags: readonly string[];
  /** Write a V8 CPU profile per sidecar process into this directory (`--cpu-prof`; summarise with bench/profile-summary). */
  readonly profileDir?: string;
}

/** Usage text. */
export const BENCH_USAGE = `Usage: npm run bench -- [--quick] [--only ${GROUPS.join('|')}[,…]] [--peers direct,haproxy,nginx,ccmesh] [--scenarios ID,…]
                        [--node PATH] [--node-flags "FLAGS"] [--profile DIR] [--out DIR]
  --quick   short runs (proxy: 3 × 2 s per implementation and scenario; micro-benchmarks: 3 × 0.5 s rounds)
  --only    run only these groups (default: all); replicas needs an etcd binary (skipped without one)
  --peers   proxy implementations to run (default: all; direct is the reference for ratios, haproxy for the headline)
  --scenarios  proxy scenarios to run by id (default: all; ids in bench/proxy/scenarios.ts)
  --node       node binary for the ccmesh sidecars (default: the one running the benchmark)
  --node-flags node/V8 flags for the ccmesh sidecars, space-separated in one argument
  --profile    write a CPU profile (.cpuprofile) per ccmesh sidecar into DIR; summarise with
               node dist/bench/profile-summary.js DIR
  --out     output directory (default: bench/out)
`;

/** Parses argv; returns every problem at once. */
export function parseBenchArgs(argv: readonly string[], knownPeers: readonly string[], knownScenarios: readonly string[] = []): { args: BenchArgs; problems: string[] } {
  const problems: string[] = [];
  let quick = false;
  let help = false;
  let only: BenchGroup[] = [...GROUPS];
  let peers: string[] | undefined;
  let out: string | undefined;
  let scenarios: string[] | undefined;
  let node: string | undefined;
  let profileDir: string | undefined;
  let nodeFlags: string[] = [];
  const value = (flag: string, v: string | undefined, what: string): string | undefined => {
    if (v === undefined || v.startsWith('--')) {
      problems.push(`${flag}: expected ${what}`);
      return undefined;
    }
    return v;
  };
  const list = (flag: string, value: string | undefined, allowed: readonly string[]): string[] | undefined => {
    if (value === undefined || value.startsWith('--')) {
      problems.push(`${flag}: expected a comma-separated list of ${allowed.join(', ')}`);
      return undefined;
    }
    const items = value.split(',').filter(Boolean);
    const bad = items.filter((x) => !allowed.includes(x));
    if (bad.length > 0 || items.length === 0) problems.push(`${flag}: unknown ${bad.join(', ') || '(empty)'}; expected ${allowed.join(', ')}`);
    return items;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--help' || a === '-h') help = true;
    else if (a === '--only') only = (list('--only', argv[++i], GROUPS) ?? only) as BenchGroup[];
    else if (a === '--peers') peers = list('--peers', argv[++i], knownPeers);
    else if (a === '--scenarios') scenarios = list('--scenarios', argv[++i], knownScenarios);
    else if (a === '--out') out = value('--out', argv[++i], 'a directory');
    else if (a === '--node') node = value('--node', argv[++i], 'a node binary');
    else if (a === '--profile') profileDir = value('--profile', argv[++i], 'a directory');
    else if (a === '--node-flags') {
      // One argument holding flags (it starts with "--" itself, so no value() check).
      const v = argv[++i];
      if (v === undefined || v.trim() === '') problems.push('--node-flags: expected node flags, e.g. "--max-semi-space-size=2"');
      else {
        nodeFlags = v.trim().split(/\s+/);
        const bad = nodeFlags.filter((f) => !f.startsWith('--'));
        if (bad.length > 0) problems.push(`--node-flags: "${bad.join(' ')}" is not a flag; expected flags starting with "--"`);
      }
    } else problems.push(`unknown argument "${a}"`);
  }
  const launch: SidecarLaunch = { nodeFlags, ...(node !== undefined ? { node } : {}), ...(profileDir !== undefined ? { profileDir } : {}) };
  return { args: { quick, only, ...(peers ? { peers } : {}), ...(scenarios ? { scenarios } : {}), launch, ...(out !== undefined ? { out } : {}), help }, problems };
}
