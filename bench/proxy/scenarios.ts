/** The traffic the reference path is measured with; each scenario is plain data the load runner turns into argv. */

/** One load shape. */
export interface Scenario {
  readonly id: string;
  /** What the report calls it. */
  readonly title: string;
  /** A label short enough for a chart panel. */
  readonly short: string;
  readonly tool: 'wrk' | 'h2load';
  readonly path: '/1k' | '/1m';
  readonly connections: number;
  /** h2load: concurrent streams per connection. */
  readonly streams?: number;
  /** wrk: `Connection: close` on every request (a new connection, and TLS handshake, per request). */
  readonly connectionClose?: boolean;
  /** Target request rate for the whole run (wrk with a per-connection delay); absent = as fast as possible. */
  readonly rate?: number;
  /** The headline figure: requests or MiB per second. */
  readonly primary: 'req/s' | 'MiB/s';
  /** True when the tool reports percentiles (wrk); h2load reports mean and max only. */
  readonly percentiles: boolean;
}

/** Every scenario, in report order. */
export const SCENARIOS: readonly Scenario[] = [
  { id: 'h1-1k-16', short: 'keep-alive 1 KiB, 16 conns', title: 'HTTP/1.1 keep-alive, 1 KiB, 16 conns', tool: 'wrk', path: '/1k', connections: 16, primary: 'req/s', percentiles: true },
  { id: 'h1-1k-64', short: 'keep-alive 1 KiB, 64 conns', title: 'HTTP/1.1 keep-alive, 1 KiB, 64 conns', tool: 'wrk', path: '/1k', connections: 64, primary: 'req/s', percentiles: true },
  { id: 'h1-close-16', short: 'new conn per request, 16', title: 'new connection per request, 16 conns', tool: 'wrk', path: '/1k', connections: 16, connectionClose: true, primary: 'req/s', percentiles: true },
  { id: 'h1-1m-16', short: 'bulk 1 MiB, 16 conns', title: 'bulk 1 MiB responses, 16 conns', tool: 'wrk', path: '/1m', connections: 16, primary: 'MiB/s', percentiles: true },
  { id: 'h2-1k-16x10', short: 'HTTP/2, 16 conns × 10', title: 'HTTP/2 (h2c), 1 KiB, 16 conns × 10 streams', tool: 'h2load', path: '/1k', connections: 16, streams: 10, primary: 'req/s', percentiles: false },
  { id: 'h1-1k-rate-2000', short: 'fixed ~2 000 req/s', title: 'fixed rate ~2 000 req/s, 1 KiB, 16 conns', tool: 'wrk', path: '/1k', connections: 16, rate: 2000, primary: 'req/s', percentiles: true },
];

/** The scenario whose CPU cost the headline quotes (keep-alive at 64 connections, as in docs/design.md §7). */
export const COST_SCENARIO = 'h1-1k-64';
