/**
 * What a sidecar loads at start: the static import graph of `ccmesh proxy` (its compiled modules, followed through
 * every `import … from` and `export … from`, not through `import()`) reaches none of the heavy packages it only needs
 * on some paths — gRPC and protobuf (the mesh API, renewal only), the X.509 builder, koffi (the attestation devices)
 * and undici (the HTTP/1.1 client of L7 `+http` ports, ~15 MB of RSS). Each is imported on first use instead
 * (docs/proxy.md, "Sidecar cost").
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { repoRoot } from '../../test/fixtures.js';

const ENTRY = join(repoRoot, 'dist', 'cli', 'commands', 'proxy.js');
const HEAVY = ['@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', '@peculiar/x509', 'koffi', 'undici'];
const STATIC = /^\s*(?:import|export)\s+(?:[^'"();]*?\s+from\s+)?['"]([^'"]+)['"]/gm;

/** Every package and built-in the static graph from `entry` reaches, with one importing module for each. */
function staticGraph(entry: string): Map<string, string> {
  const packages = new Map<string, string>();
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(STATIC)) {
      if (spec!.startsWith('.')) {
        const next = resolve(dirname(file), spec!);
        if (existsSync(next)) todo.push(next);
      } else if (!packages.has(spec!)) packages.set(spec!, file.slice(repoRoot.length + 1));
    }
  }
  return packages;
}

void t.test('ccmesh proxy loads no heavy package at start', async (t) => {
  const packages = staticGraph(ENTRY);
  t.ok(packages.has('node:tls') && packages.has('prom-client'), `the walk follows the graph (${packages.size} packages and built-ins reached)`);
  for (const name of HEAVY) {
    const root = [...packages.keys()].find((p) => p === name || p.startsWith(`${name}/`));
    t.equal(root, undefined, `${name} is not imported at start${root === undefined ? '' : ` (by ${packages.get(root)})`}`);
  }
});
