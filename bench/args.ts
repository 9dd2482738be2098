/** The benchmark command line: `[--quick] [--only proxy,attestation,coordinator,replicas] [--peers a,b] [--out DIR]`. */

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
  readonly out?: string;
  readonly help: boolean;
}

/** Usage text. */
export const BENCH_USAGE = `Usage: npm run bench -- [--quick] [--only ${GROUPS.join('|')}[,…]] [--peers direct,haproxy,nginx,ccmesh] [--out DIR]
  --quick   short runs (proxy: 3 × 2 s per implementation and scenario; micro-benchmarks: 3 × 0.5 s rounds)
  --only    run only these groups (default: all); replicas needs an etcd binary (skipped without one)
  --peers   proxy implementations to run (default: all; direct is the reference for ratios, haproxy for the headline)
  --out     output directory (default: bench/out)
`;

/** Parses argv; returns every problem at once. */
export function parseBenchArgs(argv: readonly string[], knownPeers: readonly string[]): { args: BenchArgs; problems: string[] } {
  const problems: string[] = [];
  let quick = false;
  let help = false;
  let only: BenchGroup[] = [...GROUPS];
  let peers: string[] | undefined;
  let out: string | undefined;
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
    else if (a === '--out') {
      out = argv[++i];
      if (out === undefined || out.startsWith('--')) problems.push('--out: expected a directory');
    } else problems.push(`unknown argument "${a}"`);
  }
  return { args: { quick, only, ...(peers ? { peers } : {}), ...(out !== undefined ? { out } : {}), help }, problems };
}
