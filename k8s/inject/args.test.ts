/**
 * The args `inject` pins are accepted by the commands that receive them: every golden output's proxy args parse
 * without a single issue through the real `ccmesh proxy` readers (proxy config + capture/iptables config), and the
 * initializer's `--tee` is one of the issuer kinds `ccmesh initializer` accepts. A test composes units the way
 * `cli/` does; the inject code itself imports neither.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { ISSUER_KINDS } from '../../attestation/issuers/select.js';
import { readCaptureConfig } from '../../cli/commands/proxy-capture.js';
import { CONFIG_VOLUME_FLAGS, readConfigVolumeFlags } from '../../initializer/config-volume-flags.js';
import { readCommandFlags } from '../../cli/flags.js';
import { CHAIN, type FamilyPlan } from '../../iptables/plan.js';
import { PROXY_FLAGS, readProxyConfig } from '../../proxy/config.js';
import { PROXY_UID } from '../../lib/pod-layout.js';
import { repoRoot } from '../../test/fixtures.js';
import { inject, podTemplateOf, type KubeObject } from './inject.js';
import { TEE_ARG } from './parts.js';

type Obj = Record<string, unknown>;
const DIR = join(repoRoot, 'k8s', 'testdata', 'inject', 'golden');

function ours(o: KubeObject): { init: Obj; proxy: Obj } | undefined {
  const spec = podTemplateOf(o)?.template.spec as Obj | undefined;
  const init = (spec?.initContainers as Obj[] | undefined) ?? [];
  const a = init.find((c) => c.name === 'ccmesh-initializer');
  const b = init.find((c) => c.name === 'ccmesh-proxy');
  return a && b ? { init: a, proxy: b } : undefined;
}

void t.test('every TEE option maps to an issuer kind the initializer accepts', async (t) => {
  for (const [opt, arg] of Object.entries(TEE_ARG)) t.ok((ISSUER_KINDS as readonly string[]).includes(arg), `${opt} → --tee ${arg}`);
});

for (const name of readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort()) {
  const parts = ours(YAML.parse(readFileSync(join(DIR, name), 'utf8')) as KubeObject);
  if (!parts) continue;
  void t.test(`${name}: pinned args parse cleanly`, async (t) => {
    const proxyArgs = parts.proxy.args as string[];
    t.equal(proxyArgs[0], 'proxy');
    t.notOk(proxyArgs.includes('--exclude-ports'), 'inject never uncaptures a port with --exclude-ports');
    const { tok, r } = readCommandFlags('proxy', proxyArgs.slice(1), PROXY_FLAGS);
    const cfg = readProxyConfig(r, tok.lists);
    readCaptureConfig(r, tok.values, PROXY_UID);
    t.doesNotThrow(() => r.finish(), 'no issue from the proxy readers');
    t.equal(cfg.noIptables, false, 'transparent capture');
    t.equal(cfg.adminPort, (parts.proxy.ports as Obj[])[0]!.containerPort, 'admin port as declared');

    const initArgs = parts.init.args as string[];
    t.equal(initArgs[0], 'initializer');
    const flags = initArgs.filter((a) => a.startsWith('--'));
    t.same(flags.filter((f) => f !== '--secret-owner' && f !== '--coordinator-policy' && f !== '--mesh-owner' && f !== '--coordinator-measurement' && f !== '--config-volume'), ['--coordinator', '--tee', '--volume-root']);
    const volumeRoot = initArgs[initArgs.indexOf('--volume-root') + 1];
    t.ok((parts.init.volumeMounts as Obj[]).some((m) => m.name === 'ccmesh' && m.mountPath === volumeRoot), `--volume-root ${volumeRoot} is where the initializer mounts the ccmesh volume`);
    // --config-volume through the initializer's real reader: each copy goes where inject mounts the copy volume, and
    // each MOUNT is where the initializer mounts the host-synced original (the configDigests key).
    const { tok: itok, r: ir } = readCommandFlags('initializer', initArgs.slice(1).filter((_, i, a) => a[i] === '--config-volume' || a[i - 1] === '--config-volume'), CONFIG_VOLUME_FLAGS);
    const copies = readConfigVolumeFlags(ir, itok);
    t.doesNotThrow(() => ir.finish(), 'no issue from the --config-volume reader');
    const mounts = parts.init.volumeMounts as Obj[];
    for (const c of copies) {
      t.ok(mounts.some((m) => m.name === c.volume && m.mountPath === c.mountPath && m.readOnly === true), `${c.volume}: the original is mounted read-only at ${c.mountPath}`);
      t.ok(mounts.some((m) => m.name === `ccmesh-config-${c.volume}` && m.mountPath === c.dest && m.readOnly === undefined), `${c.volume}: the copy volume is mounted writable at ${c.dest}`);
    }
    if (flags.includes('--coordinator-policy')) t.match(initArgs[initArgs.indexOf('--coordinator-policy') + 1], /^[0-9a-f]{64}$/, 'a SHA-256 hex policy hash');
    if (flags.includes('--coordinator-policy')) t.match(initArgs[initArgs.indexOf('--mesh-owner') + 1], /^[0-9a-f]{64}$/, 'with a mesh owner pin');
    if (flags.includes('--secret-owner')) t.match(initArgs[initArgs.indexOf('--secret-owner') + 1], /^\d+$/, '--secret-owner is the pod uid');
    t.ok((ISSUER_KINDS as readonly string[]).includes(initArgs[initArgs.indexOf('--tee') + 1]!), '--tee value accepted');
  });
}

/** Ports the injected proxy's capture plan lets through uncaptured (`--dport P -j RETURN` in CCMESH_INBOUND), per family. */
function uncapturedPorts(proxyArgs: readonly string[]): { v4: number[]; v6: number[] } {
  const { tok, r } = readCommandFlags('proxy', proxyArgs.slice(1), PROXY_FLAGS);
  readProxyConfig(r, tok.lists);
  const { plan } = readCaptureConfig(r, tok.values, PROXY_UID);
  r.finish();
  const of = (fp: FamilyPlan): number[] => fp.tables.flatMap((tp) => tp.rules)
    .filter((rule) => rule.chain === CHAIN.inbound && rule.spec.at(-1) === 'RETURN' && rule.spec.includes('--dport'))
    .map((rule) => Number(rule.spec[rule.spec.indexOf('--dport') + 1]));
  return { v4: of(plan.v4), v6: of(plan.v6) };
}

void t.test('a probe on a port declared plain: no --exclude-ports; only the admin port and the plain ports are uncaptured', async (t) => {
  const p: KubeObject = {
    kind: 'Pod',
    metadata: { name: 'p', annotations: { 'ccmesh.dev/ingress': 'web#8080##health#8086#plain' } },
    spec: { containers: [{ name: 'a', image: 'i', ports: [{ containerPort: 8080 }, { name: 'health', containerPort: 8086 }], readinessProbe: { httpGet: { port: 'health' } }, livenessProbe: { tcpSocket: { port: 8086 } } }] },
  };
  const args = ((inject(p).spec as Obj).initContainers as Obj[])[1]!.args as string[];
  t.notOk(args.includes('--exclude-ports'), `no --exclude-ports in ${JSON.stringify(args)}`);
  t.same(uncapturedPorts(args), { v4: [8086, 15020], v6: [8086, 15020] }, 'exactly what `plain` already means, plus the admin port');
});
