/**
 * Prometheus, for real (issue #18): a real Prometheus (Debian's package) scrapes a real Coordinator and two real
 * sidecars — `ccmesh` processes on loopback on a simulated SEV-SNP platform (loopback-mesh.ts) — every second, with
 * docs/alerts.yaml loaded as its rules. The mesh does a little of everything the metrics count: N echoed connections
 * frontend → backend over mTLS, a plaintext connection and a client leaf from a foreign CA at backend's listener
 * (two refusals: not-tls, untrusted-cert), a NewMeshCert with a policy the manifest doesn't have (an attestation
 * failure), and a manifest update that both sidecars adopt by polling and renew their leaves for. Then, through
 * Prometheus' HTTP API only:
 *   - every target is up; the families each target exposes (its metadata) are exactly the golden ones;
 *   - every series Prometheus stored has a golden name, golden label names and values (golden-families.ts);
 *   - the counters hold exactly what the test did (connections, bytes, failures by reason, refusals, renewals,
 *     attestation failures, manifest generation, certificates issued);
 *   - every rule of docs/alerts.yaml loaded and evaluates with health "ok"; the attestation-failure and
 *     identity-refusal alerts fire for exactly the failures caused, and every other alert stays inactive;
 *   - every example query of docs/metrics.md runs with status "success".
 * Without a prometheus binary the test skips and says why; under CI (`CI` set) that is a failure instead. A
 * Prometheus that is found but does not start (say, a rules file it refuses) fails everywhere.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import YAML from 'yaml';
import type { Child } from '../../cli/commands/demo/processes.js';
import { SimulatedSnpIssuer } from '../../attestation/simulated/snp-issuer.js';
import { obtainMeshCert } from '../../initializer/obtain.js';
import { freePorts } from '../../lib/net/free-ports.js';
import { TestMesh } from '../../proxy/test/pki.js';
import { TestApp } from '../../proxy/test/support.js';
import { ALERTS_FILE, DASHBOARD_FILE, dashboardQueries, METRICS_DOC, promqlQueries, readDoc } from './docs.js';
import { allowedValue, COLLATERAL_FAMILIES, COMPONENT_LABEL, COORDINATOR_FAMILIES, familyOf, type GoldenFamilies, PROCESS_FAMILIES, PROXY_FAMILIES } from './golden-families.js';
import { LoopbackMesh, POLICY_DOCS, sha256hex } from './loopback-mesh.js';
import { eventually, findPrometheus, Prometheus } from './prometheus.js';

/** Echoed connections frontend → backend, and the bytes each carries each way. */
const N = 5;
const SIZE = 4096;
/** Series Prometheus makes itself for every target, and for alerting rules. */
const SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added', 'ALERTS', 'ALERTS_FOR_STATE']);
/** Labels Prometheus adds to every scraped series (target labels); not ccmesh's. */
const TARGET_LABELS = new Set(['__name__', 'job', 'instance']);

/** Sends `payload` through 127.0.0.1:`port`, half-closes, and resolves with everything that came back. */
function roundTrip(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => s.end(payload));
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error(`no answer through 127.0.0.1:${port} within 10 s`)));
  });
}

/** Opens a connection with `open`, and resolves with the bytes received once the far side closed it. */
function untilClosed(open: () => Socket): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = open();
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    s.once('close', () => resolve(got));
    s.setTimeout(10_000, () => s.destroy());
  });
}

const found = await findPrometheus();
if ('reason' in found && process.env.CI) {
  t.fail(`the Prometheus scrape test must run in CI but cannot: ${found.reason}`);
} else if ('reason' in found) {
  t.comment(`skipping the Prometheus scrape test: ${found.reason}`);
  t.pass('Prometheus scrape test', { skip: found.reason });
} else {
  void t.test(`a real Prometheus (${found.version}) scrapes a Coordinator and two sidecars`, async (t) => {
    const started = Date.now();
    const dir = mkdtempSync(join(tmpdir(), 'ccmesh-prometheus-'));
    const app = new TestApp('echo');
    const appPort = await app.listen();
    let prom: Prometheus | undefined;
    let mesh: LoopbackMesh | undefined;
    const sidecars: Child[] = [];
    // One teardown, in order: Prometheus and the mesh stopped (their output kept for a failure), then the files.
    t.teardown(async () => {
      if (!t.passing()) {
        if (prom) t.comment(`--- prometheus ---\n${prom.log.slice(-4000)}`);
        for (const c of [...(mesh ? [mesh.coordinator] : []), ...sidecars]) t.comment(`--- ${c.name} ---\n${c.stderr().slice(-4000)}`);
      }
      await Promise.all([prom?.stop(), mesh?.stop(), app.close()]);
      rmSync(dir, { recursive: true, force: true });
      t.comment(`Prometheus scrape test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    });

    const [user, meshPort, metrics, backendAdmin, backendListen, frontendAdmin, frontendEgress, promPort] = (await freePorts(8)) as [number, number, number, number, number, number, number, number];
    const instance = { coordinator: `127.0.0.1:${metrics}`, backend: `127.0.0.1:${backendAdmin}`, frontend: `127.0.0.1:${frontendAdmin}` };
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [ALERTS_FILE],
      scrape_configs: [
        { job_name: 'ccmesh-coordinator', static_configs: [{ targets: [instance.coordinator] }] },
        { job_name: 'ccmesh-sidecar', static_configs: [{ targets: [instance.backend, instance.frontend] }] },
      ],
    };
    // Prometheus and the mesh start side by side; whichever fails, the other is stopped by the teardown.
    mkdirSync(join(dir, 'prometheus'));
    mkdirSync(join(dir, 'mesh'));
    const [p, m] = await Promise.allSettled([
      Prometheus.start(found.bin, join(dir, 'prometheus'), promPort, YAML.stringify(config)),
      LoopbackMesh.start(join(dir, 'mesh'), { user, mesh: meshPort, metrics }),
    ]);
    if (p.status === 'fulfilled') prom = p.value;
    if (m.status === 'fulfilled') mesh = m.value;
    if (p.status === 'rejected') throw p.reason;
    if (m.status === 'rejected') throw m.reason;
    const api = prom!;
    const ccmesh = mesh!;
    const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    t.comment(`Coordinator with its first manifest, and Prometheus, up after ${elapsed()}`);

    // ---- Pods: backend admits only SAN "frontend" on its app's port; frontend reaches it through an egress entry. ----
    const renewing = ['--coordinator', ccmesh.meshAddress, '--trust-refresh', '1s'];
    sidecars.push(...await Promise.all([
      ccmesh.pod('backend', ['--ingress', `web#${appPort}#mtls:allow=frontend`, '--inbound-port-map', `${appPort}=${backendListen}`, '--admin-port', String(backendAdmin), ...renewing]),
      ccmesh.pod('frontend', ['--egress', `backend#127.0.0.1:${frontendEgress}#127.0.0.1:${backendListen}`, '--egress-san', 'backend=backend', '--admin-port', String(frontendAdmin), ...renewing]),
    ]));
    t.comment(`both pods ready after ${elapsed()}`);

    // ---- Traffic, two refusals, an attestation failure, a manifest update. ----
    for (let i = 0; i < N; i++) {
      const payload = Buffer.alloc(SIZE, 0x61 + i);
      const back = await roundTrip(frontendEgress, payload);
      t.ok(back.equals(payload), `connection ${i + 1}: ${SIZE} bytes echoed through both sidecars`);
    }
    const plain = await untilClosed(() => {
      const s = connect(backendListen, '127.0.0.1', () => s.write('GET / HTTP/1.0\r\n\r\n'));
      return s;
    });
    t.notMatch(plain, /^HTTP\//, 'plaintext at backend\'s listener: no HTTP answer');
    const foreign = await TestMesh.create();
    const forged = await foreign.leaf(['frontend']);
    await untilClosed(() => tlsConnect({ host: '127.0.0.1', port: backendListen, cert: forged.files.chain, key: forged.files.key, rejectUnauthorized: false }));
    t.equal(app.connections, N, `the app saw exactly the ${N} mesh connections`);
    const stranger = await SimulatedSnpIssuer.load(ccmesh.simDir, { hostData: Buffer.from(sha256hex('package ccmesh_metrics # not in the manifest\n'), 'hex') });
    const refusal = await obtainMeshCert(ccmesh.meshAddress, stranger).then(() => undefined, (e: unknown) => e);
    t.match(String(refusal), /PERMISSION_DENIED.*not in the manifest/, 'NewMeshCert with a policy the manifest lacks is refused');
    const update = await ccmesh.setManifest((doc) => void doc.policies[sha256hex(POLICY_DOCS.frontend)]!.sans.push('frontend.v2'));
    t.match(update.stdout, /update/, 'an owner-signed manifest update is set');

    // ---- Targets ----
    await eventually('all three targets up', 15_000, async () => {
      const a = await api.api<{ activeTargets: { scrapeUrl: string; health: string; lastError: string }[] }>('targets', { state: 'active' });
      const up = a.data.activeTargets.filter((x) => x.health === 'up').length;
      return { ok: up === 3, seen: JSON.stringify(a.data.activeTargets.map((x) => [x.scrapeUrl, x.health, x.lastError])) };
    });
    const targets = (await api.api<{ activeTargets: { scrapeUrl: string; health: string; lastError: string }[] }>('targets', { state: 'active' })).data.activeTargets;
    t.same(targets.map((x) => x.scrapeUrl).sort(), Object.values(instance).map((i) => `http://${i}/metrics`).sort(), 'the targets are the Coordinator\'s and both sidecars\' /metrics');
    for (const x of targets) t.match(x, { health: 'up', lastError: '' }, `${x.scrapeUrl} is up`);

    // ---- The counters hold what the test did (waited for: the last scrape may predate the renewals). ----
    const sumOf = (family: string, who: keyof typeof instance, labels = ''): string => `sum(${family}{instance="${instance[who]}"${labels ? `,${labels}` : ''}})`;
    const checks: { what: string; query: string; expect: (v: number) => boolean; want: string }[] = [
      { what: 'every target up', query: 'sum(up{job=~"ccmesh-.+"})', expect: (v) => v === 3, want: '3' },
      { what: 'backend: inbound connections ok', query: sumOf('ccmesh_proxy_connections_total', 'backend', 'direction="inbound",result="ok"'), expect: (v) => v === N, want: `${N}` },
      { what: 'frontend: outbound connections ok', query: sumOf('ccmesh_proxy_connections_total', 'frontend', 'direction="outbound",result="ok"'), expect: (v) => v === N, want: `${N}` },
      { what: 'backend: refused connections (plaintext, foreign CA)', query: sumOf('ccmesh_proxy_connections_total', 'backend', 'result="refused"'), expect: (v) => v === 2, want: '2' },
      { what: 'backend: inbound bytes received', query: sumOf('ccmesh_proxy_received_bytes_total', 'backend', 'direction="inbound"'), expect: (v) => v === N * SIZE, want: `${N * SIZE}` },
      { what: 'backend: inbound bytes sent', query: sumOf('ccmesh_proxy_sent_bytes_total', 'backend', 'direction="inbound"'), expect: (v) => v === N * SIZE, want: `${N * SIZE}` },
      { what: 'frontend: outbound bytes received', query: sumOf('ccmesh_proxy_received_bytes_total', 'frontend', 'direction="outbound"'), expect: (v) => v === N * SIZE, want: `${N * SIZE}` },
      { what: 'frontend: outbound bytes sent', query: sumOf('ccmesh_proxy_sent_bytes_total', 'frontend', 'direction="outbound"'), expect: (v) => v === N * SIZE, want: `${N * SIZE}` },
      { what: 'backend: handshake failures not-tls', query: sumOf('ccmesh_proxy_tls_handshake_failures_total', 'backend', 'reason="not-tls"'), expect: (v) => v === 1, want: '1' },
      { what: 'backend: handshake failures untrusted-cert', query: sumOf('ccmesh_proxy_tls_handshake_failures_total', 'backend', 'reason="untrusted-cert"'), expect: (v) => v === 1, want: '1' },
      { what: 'no handshake failure of another reason, on either sidecar', query: `sum(ccmesh_proxy_tls_handshake_failures_total{reason!~"not-tls|untrusted-cert"}) or vector(0)`, expect: (v) => v === 0, want: '0' },
      // The calling and the called workload, from the verified leaves' SPIFFE ids (spiffe://…/metrics/<party>).
      { what: 'backend: inbound ok, all from the frontend workload', query: sumOf('ccmesh_proxy_connections_total', 'backend', 'direction="inbound",peer="metrics/frontend",result="ok"'), expect: (v) => v === N, want: `${N}` },
      { what: 'frontend: outbound ok, all to the backend workload', query: sumOf('ccmesh_proxy_connections_total', 'frontend', 'direction="outbound",peer="metrics/backend",result="ok"'), expect: (v) => v === N, want: `${N}` },
      { what: 'backend: the refusals have no peer', query: sumOf('ccmesh_proxy_connections_total', 'backend', 'peer="unknown",result="refused"'), expect: (v) => v === 2, want: '2' },
      { what: 'no series on a port that is not a route port', query: 'count(ccmesh_proxy_connections_total{port="other"}) or vector(0)', expect: (v) => v === 0, want: '0' },
      { what: 'backend: connection lifetimes observed', query: sumOf('ccmesh_proxy_connection_duration_seconds_count', 'backend', 'direction="inbound",result="ok"'), expect: (v) => v === N, want: `${N}` },
      // The sidecars run the default, the pooled tunnel: the N connections are N streams over a few pooled connections,
      // each of which is one timed handshake.
      { what: 'backend: handshakes timed', query: sumOf('ccmesh_proxy_tls_handshake_duration_seconds_count', 'backend', 'direction="inbound"'), expect: (v) => v >= 1, want: '≥ 1' },
      { what: 'backend: the connections came as tunnel streams', query: sumOf('ccmesh_proxy_tunnel_streams_total', 'backend', 'direction="inbound",result="ok"'), expect: (v) => v === N, want: `${N}` },
      { what: 'backend: leaf renewed once', query: sumOf('ccmesh_proxy_cert_renewals_total', 'backend', 'result="success"'), expect: (v) => v === 1, want: '1' },
      { what: 'frontend: leaf renewed once', query: sumOf('ccmesh_proxy_cert_renewals_total', 'frontend', 'result="success"'), expect: (v) => v === 1, want: '1' },
      { what: 'no failed renewal', query: 'sum(ccmesh_proxy_cert_renewals_total{result!="success"}) or vector(0)', expect: (v) => v === 0, want: '0' },
      { what: 'both sidecars adopted the new mesh CA by polling', query: 'count(ccmesh_proxy_trust_bundle_polls_total{result="adopted"} == 1)', expect: (v) => v === 2, want: '2' },
      { what: 'both sidecars ready', query: 'sum(ccmesh_proxy_ready)', expect: (v) => v === 2, want: '2' },
      { what: 'leaves valid for hours yet', query: 'min(ccmesh_proxy_leaf_expiry_timestamp_seconds - time())', expect: (v) => v > 6 * 3600, want: '> 6 h' },
      { what: 'Coordinator: attestation failures for policy', query: sumOf('ccmesh_coordinator_attestation_failures_total', 'coordinator', 'reason="policy"'), expect: (v) => v === 1, want: '1' },
      { what: 'Coordinator: the refused NewMeshCert', query: sumOf('ccmesh_coordinator_rpc_handled_total', 'coordinator', 'method="NewMeshCert",code="PERMISSION_DENIED"'), expect: (v) => v === 1, want: '1' },
      { what: 'Coordinator: manifest generation', query: sumOf('ccmesh_coordinator_manifest_generation', 'coordinator'), expect: (v) => v === 2, want: '2' },
      { what: 'Coordinator: ready', query: sumOf('ccmesh_coordinator_state', 'coordinator', 'state="ready"'), expect: (v) => v === 1, want: '1' },
      { what: 'Coordinator: certificates issued new', query: sumOf('ccmesh_coordinator_certificates_issued_total', 'coordinator', 'kind="new"'), expect: (v) => v === 2, want: '2' },
      { what: 'Coordinator: certificates issued renew', query: sumOf('ccmesh_coordinator_certificates_issued_total', 'coordinator', 'kind="renew"'), expect: (v) => v === 2, want: '2' },
      { what: 'Coordinator: no load shed', query: sumOf('ccmesh_coordinator_load_shed_total', 'coordinator'), expect: (v) => v === 0, want: '0' },
    ];
    const seen = new Map<string, string>();
    const evaluate = async (): Promise<boolean> => {
      let all = true;
      for (const c of checks) {
        const r = await api.vector(c.query);
        const v = r.length === 1 ? Number(r[0]!.value[1]) : NaN;
        seen.set(c.what, r.length === 1 ? String(v) : `${r.length} samples`);
        if (!c.expect(v)) all = false;
      }
      return all;
    };
    const settled = await eventually('the counters to reach what the test did', 25_000, async () => ({ ok: await evaluate(), seen: '' })).then(() => true, () => false);
    if (!settled) t.comment('not every counter reached its value in time; the failing checks below say what was seen');
    for (const c of checks) t.ok(c.expect(Number(seen.get(c.what))), `${c.what}: ${c.want} (Prometheus: ${seen.get(c.what)})`);
    const settledAt = Date.now() / 1000;
    t.comment(`counters settled in Prometheus after ${elapsed()}`);

    // ---- What each target exposes, as Prometheus scraped it: exactly the golden families and types. ----
    const expected: Record<string, GoldenFamilies> = {
      [instance.coordinator]: { ...COORDINATOR_FAMILIES, ...PROCESS_FAMILIES },
      [instance.backend]: { ...PROXY_FAMILIES, ...PROCESS_FAMILIES },
      [instance.frontend]: { ...PROXY_FAMILIES, ...PROCESS_FAMILIES },
    };
    const metadata = await api.api<{ target: { instance: string }; metric: string; type: string }[]>('targets/metadata', { match_target: '{job=~"ccmesh-.+"}' });
    t.equal(metadata.status, 'success', '/api/v1/targets/metadata answers');
    for (const [inst, families] of Object.entries(expected)) {
      const mine = metadata.data.filter((d) => d.target.instance === inst);
      t.same(Object.fromEntries(mine.map((d) => [d.metric, d.type]).sort()), Object.fromEntries(Object.entries(families).map(([n, f]) => [n, f.type]).sort()), `${inst}: the families it exposes are the golden ones, with their types`);
    }

    // ---- Every stored series: golden name, golden labels, golden values; component by job. ----
    const series = await api.api<Record<string, string>[]>('series', { 'match[]': '{job=~"ccmesh-.+"}', start: String(started / 1000) });
    t.equal(series.status, 'success', '/api/v1/series answers');
    const component: Record<string, string> = { 'ccmesh-coordinator': 'coordinator', 'ccmesh-sidecar': 'proxy' };
    const allowed: Record<string, GoldenFamilies> = { coordinator: { ...COORDINATOR_FAMILIES, ...COLLATERAL_FAMILIES, ...PROCESS_FAMILIES }, proxy: { ...PROXY_FAMILIES, ...PROCESS_FAMILIES } };
    const problems: string[] = [];
    let counted = 0;
    for (const s of series.data) {
      const name = s.__name__ ?? '';
      if (SYNTHETIC.has(name)) continue;
      counted++;
      const where = `${name}${JSON.stringify(s)}`;
      const want = component[s.job ?? ''];
      if (s[COMPONENT_LABEL] !== want) problems.push(`${where}: expected ${COMPONENT_LABEL}="${want}"`);
      const familyName = familyOf(name);
      const family = familyName === undefined ? undefined : allowed[want ?? '']?.[familyName];
      if (family === undefined) {
        problems.push(`${where}: not a golden family of the ${want} component`);
        continue;
      }
      for (const [label, value] of Object.entries(s)) {
        if (TARGET_LABELS.has(label) || label === COMPONENT_LABEL || (label === 'le' && name.endsWith('_bucket'))) continue;
        const rule = family.labels[label];
        if (rule === undefined) problems.push(`${where}: label "${label}" is not a golden label of ${familyName}`);
        else if (!allowedValue(rule, value)) problems.push(`${where}: "${label}"="${value}" is outside its golden values`);
      }
    }
    t.ok(counted > 100, `Prometheus stored ${counted} ccmesh series`);
    t.same(problems, [], 'every stored series has a golden name, golden labels and values, and its component');

    // ---- Alerting rules: all loaded, all evaluated after the data settled, health ok, the right ones firing. ----
    type Rule = { name: string; health: string; lastError?: string; lastEvaluation: string; state: string; alerts: { labels: Record<string, string>; state: string }[] };
    const file = YAML.parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: { name: string; rules: { alert: string }[] }[] };
    const groupsNow = async (): Promise<{ name: string; rules: Rule[] }[]> => {
      const a = await api.api<{ groups: { name: string; rules: Rule[] }[] }>('rules');
      if (a.status !== 'success') throw new Error(`/api/v1/rules: ${a.error}`);
      return a.data.groups;
    };
    const rulesNow = async (): Promise<Rule[]> => (await groupsNow()).flatMap((g) => g.rules);
    await eventually('every rule evaluated after the counters settled', 10_000, async () => {
      const stale = (await rulesNow()).filter((r) => !(Date.parse(r.lastEvaluation) / 1000 > settledAt));
      return { ok: stale.length === 0, seen: stale.map((r) => `${r.name} at ${r.lastEvaluation}`).join(', ') };
    }).catch((err: unknown) => t.fail(String(err)));
    const groups = await groupsNow();
    const rules = groups.flatMap((g) => g.rules);
    const byGroup = (gs: { name: string; rules: { alert?: string; name?: string }[] }[]): Record<string, (string | undefined)[]> =>
      Object.fromEntries(gs.map((g) => [g.name, g.rules.map((r) => r.alert ?? r.name)]));
    t.same(byGroup(groups), byGroup(file.groups), 'Prometheus loaded every group and rule of docs/alerts.yaml');
    for (const r of rules) t.same([r.health, r.lastError ?? ''], ['ok', ''], `${r.name}: health ok, no error`);
    const firing: Record<string, Record<string, string>> = {
      CcmeshAttestationFailures: { instance: instance.coordinator, reason: 'policy' },
      CcmeshPeerIdentityRefused: { instance: instance.backend, direction: 'inbound', reason: 'untrusted-cert' },
    };
    for (const r of rules) {
      const want = firing[r.name];
      if (want === undefined) {
        t.equal(r.state, 'inactive', `${r.name}: inactive on this healthy mesh`);
        continue;
      }
      t.equal(r.state, 'firing', `${r.name}: firing`);
      t.same(r.alerts.map((a) => Object.fromEntries(Object.keys(want).map((k) => [k, a.labels[k]]))), [want], `${r.name}: one alert, for ${JSON.stringify(want)}`);
    }

    // ---- The example queries of docs/metrics.md. ----
    const queries = promqlQueries(readDoc(METRICS_DOC));
    let withData = 0;
    for (const { query, line } of queries) {
      const a = await api.api<{ result: unknown[] }>('query', { query });
      t.equal(a.status, 'success', `docs/metrics.md:${line}: ${query}${a.error ? ` (${a.errorType}: ${a.error})` : ''}`);
      if (Array.isArray(a.data?.result) && a.data.result.length > 0) withData++;
    }
    t.comment(`${withData} of ${queries.length} example queries returned data on this mesh`);

    // ---- Every panel of the Grafana dashboard, as Grafana would send it. ----
    const panels = dashboardQueries(readDoc(DASHBOARD_FILE));
    let panelsWithData = 0;
    for (const { panel, query } of panels) {
      const a = await api.api<{ result: unknown[] }>('query', { query });
      t.equal(a.status, 'success', `dashboard "${panel}": ${query}${a.error ? ` (${a.errorType}: ${a.error})` : ''}`);
      if (Array.isArray(a.data?.result) && a.data.result.length > 0) panelsWithData++;
    }
    t.ok(panelsWithData >= panels.length / 2, `most dashboard panels show data on this mesh (${panelsWithData} of ${panels.length})`);
  });
}
