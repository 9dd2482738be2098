/**
 * Helpers scripts/build-image.sh runs with the host's Node (not part of the image):
 *   node dist/image/main.js check-imports APP_DIR
 *   node dist/image/main.js sbom --image REF --dpkg FILE --app APP_DIR --node PKG@VERSION --node-integrity SRI --timestamp SECONDS
 */
import { readFileSync } from 'node:fs';
import { missingImports } from './check-imports.js';
import { buildSbom, listNpmPackages, parseDpkgList } from './sbom.js';

function flags(args: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    const k = args[i]!;
    const v = args[i + 1];
    if (!k.startsWith('--') || v === undefined) throw new Error(`expected --flag value pairs, got ${JSON.stringify(k)}`);
    m.set(k.slice(2), v);
  }
  return m;
}

function need(m: Map<string, string>, k: string): string {
  const v = m.get(k);
  if (v === undefined || v === '') throw new Error(`--${k} is required`);
  return v;
}

function main(argv: readonly string[]): number {
  const [cmd, ...rest] = argv;
  if (cmd === 'check-imports' && rest.length === 1) {
    const missing = missingImports(rest[0]!);
    for (const m of missing) process.stderr.write(`missing in the image: ${m}\n`);
    return missing.length === 0 ? 0 : 1;
  }
  if (cmd === 'sbom') {
    const f = flags(rest);
    const node = need(f, 'node');
    const at = node.lastIndexOf('@');
    const ts = Number(need(f, 'timestamp'));
    if (at <= 0 || !Number.isSafeInteger(ts) || ts < 0) throw new Error('--node must be PACKAGE@VERSION and --timestamp whole seconds');
    const sbom = buildSbom({
      image: need(f, 'image'),
      deb: parseDpkgList(readFileSync(need(f, 'dpkg'), 'utf8')),
      npm: listNpmPackages(need(f, 'app')),
      node: { package: node.slice(0, at), version: node.slice(at + 1), integrity: need(f, 'node-integrity') },
      timestamp: ts,
    });
    process.stdout.write(`${JSON.stringify(sbom, null, 2)}\n`);
    return 0;
  }
  process.stderr.write('usage: node dist/image/main.js check-imports APP_DIR | sbom --image REF --dpkg FILE --app DIR --node PKG@VER --node-integrity SRI --timestamp S\n');
  return 64;
}

try {
  process.exit(main(process.argv.slice(2)));
} catch (err) {
  process.stderr.write(`image: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
