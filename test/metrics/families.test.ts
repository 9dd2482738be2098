/**
 * The metric families each ccmesh process exposes equal the hand-written golden list (golden-families.ts): names,
 * types and label names, so a rename or a new label fails here first. The registries are the ones the units build
 * themselves — an in-process Coordinator (simulated TEE) and sidecar — plus the Coordinator's collateral families and
 * the injector's, built as their commands build them. Then the cardinality rules (allow-listed label names, none
 * naming a peer, small closed value sets) and the docs: docs/metrics.md has one row per golden family with the same
 * type and labels, and the docs' queries and docs/alerts.yaml name only golden families.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CachingCollateralSource, defaultCollateralCacheSettings } from '../../attestation/fetch/caching-collateral-source.js';
import { DisabledCollateralSource } from '../../attestation/fetch/disabled-collateral-source.js';
import { buildHttpCollateralConfig, HttpCollateralSource } from '../../attestation/fetch/http-collateral-source.js';
import { createInjectorMetrics } from '../../k8s/webhook/metrics.js';
import { systemClock } from '../../lib/clock.js';
import { createRegistry } from '../../lib/metrics.js';
import { freePorts } from '../../lib/net/free-ports.js';
import { startProxy } from '../../proxy/unit.js';
import { coordinatorWithPod } from '../../proxy/test/coordinator-pod.js';
import { testConfig, testLogger } from '../../proxy/test/support.js';
import { ALERTS_FILE, DASHBOARD_FILE, dashboardQueries, documentedFamilies, mentionedMetrics, METRICS_DOC, promqlQueries, readDoc } from './docs.js';
import { exposedFamilies, expectedFamilies, sampleProblems } from './exposed.js';
import {
  ALL_FAMILIES, allowedValue, COLLATERAL_FAMILIES, CONTAINER, COORDINATOR_FAMILIES, familyOf, FORBIDDEN_LABEL, IDENTITY_LABELS, INJECTOR_FAMILIES, LABEL_ALLOW_LIST, PEER, PORT, PROCESS_FAMILIES, PROXY_FAMILIES, RUNTIME,
} from './golden-families.js';

void t.test('the Coordinator and the sidecar expose exactly the golden families', async (t) => {
  // A real Coordinator with a manifest and one issued leaf, and a sidecar on that leaf with one mTLS listener on a
  // configured port (the port label is the configured one; the CLI takes 1-65535 only).
  const { h, dir } = await coordinatorWithPod(t, 'ccmesh-families-');
  const [listenPort] = (await freePorts(1)) as [number];
  const proxy = await startProxy(testConfig({ tlsDir: dir, inbound: [{ name: 'web', appPort: 9, listenPort, mode: { kind: 'mtls', allow: [] } }] }), { clock: systemClock, logger: testLogger });
  t.teardown(() => proxy.drain());
  // One plaintext connection, so the port-labelled families have samples whose values are checked too.
  await new Promise<void>((resolve) => {
    const s = connect(listenPort, '127.0.0.1', () => s.write('GET / HTTP/1.0\r\n\r\n'));
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });

  const coordinator = h.coordinator!.registry;
  t.same(await exposedFamilies(coordinator), expectedFamilies(COORDINATOR_FAMILIES, PROCESS_FAMILIES), 'Coordinator: families, types and label names');
  t.same(await sampleProblems(coordinator, 'coordinator', { ...COORDINATOR_FAMILIES, ...PROCESS_FAMILIES }), [], 'Coordinator: every sample has component="coordinator" and golden label values');
  t.same(await exposedFamilies(proxy.registry), expectedFamilies(PROXY_FAMILIES, PROCESS_FAMILIES), 'sidecar: families, types and label names');
  t.same(await sampleProblems(proxy.registry, 'proxy', { ...PROXY_FAMILIES, ...PROCESS_FAMILIES }), [], 'sidecar: every sample has component="proxy" and golden label values');

  // The value checks above had samples to check: the refusal, with its port label, and the Coordinator's RPCs.
  const failures = (await proxy.registry.getSingleMetric('ccmesh_proxy_tls_handshake_failures_total')?.get())?.values ?? [];
  t.match(failures, [{ labels: { direction: 'inbound', reason: 'not-tls' }, value: 1 }], 'the plaintext connection is a not-tls handshake failure');
  const connections = (await proxy.registry.getSingleMetric('ccmesh_proxy_connections_total')?.get())?.values ?? [];
  t.match(connections, [{ labels: { direction: 'inbound', port: '9', peer: 'unknown', result: 'refused' }, value: 1 }], 'and a refused connection on its route\'s port (the app port, not the listener\'s), without a peer');
  const rpcs = (await coordinator.getSingleMetric('ccmesh_coordinator_rpc_handled_total')?.get())?.values ?? [];
  t.ok(rpcs.some((v) => v.labels.method === 'NewMeshCert' && v.labels.code === 'OK'), 'the Coordinator counted the NewMeshCert it answered');
});

void t.test('with a collateral cache and fetching, the Coordinator adds exactly the golden collateral families', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-families-cache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // As `ccmesh coordinator --collateral-cache DIR --fetch-collateral` builds them (cli/commands/coordinator.ts).
  const registry = createRegistry({ defaultLabels: { component: 'coordinator' } });
  const http = new HttpCollateralSource(buildHttpCollateralConfig(), { registry, clock: systemClock });
  t.teardown(() => http.close());
  new CachingCollateralSource(new DisabledCollateralSource(), { ...defaultCollateralCacheSettings, dir }, { clock: systemClock, registry });
  t.same(await exposedFamilies(registry), expectedFamilies(COLLATERAL_FAMILIES), 'families, types and label names');
  t.same(await sampleProblems(registry, 'coordinator', COLLATERAL_FAMILIES), [], 'golden label values');
});

void t.test('the injector exposes exactly the golden injector families', async (t) => {
  // As `ccmesh injector` builds them (cli/commands/k8s/injector.ts).
  const registry = createRegistry({ processMetrics: true, defaultLabels: { component: 'injector' } });
  createInjectorMetrics(registry);
  t.same(await exposedFamilies(registry), expectedFamilies(INJECTOR_FAMILIES, PROCESS_FAMILIES), 'families, types and label names');
  t.same(await sampleProblems(registry, 'injector', { ...INJECTOR_FAMILIES, ...PROCESS_FAMILIES }), [], 'every sample has component="injector" and golden label values');
});

void t.test('cardinality: label names are allow-listed, none names a peer, value sets are closed and small', async (t) => {
  for (const [name, family] of Object.entries(ALL_FAMILIES)) {
    // ccmesh's own families carry the prefix; Node's process metrics keep their standard names for stock dashboards.
    t.match(name, name in PROCESS_FAMILIES ? /^(process|nodejs)_[a-z0-9_]+$/ : /^ccmesh_[a-z0-9_]+$/, `${name}: its prefix, snake case`);
    if (family.type === 'counter') t.match(name, /_total$/, `${name}: a counter ends in _total`);
    for (const [label, values] of Object.entries(family.labels)) {
      if (IDENTITY_LABELS.includes(label)) {
        t.equal(values, PEER, `${name}: identity label "${label}" takes only bounded workload ids`);
        continue;
      }
      t.ok(LABEL_ALLOW_LIST.includes(label), `${name}: label "${label}" is on the allow-list`);
      t.notOk(FORBIDDEN_LABEL.test(label), `${name}: label "${label}" does not name a peer`);
      if (values === PORT || values === RUNTIME || values === PEER || values === CONTAINER) continue;
      t.ok(values.length > 0 && values.length <= 32, `${name}{${label}}: ${values.length} values, a closed set of at most 32`);
      t.equal(new Set(values).size, values.length, `${name}{${label}}: no value listed twice`);
    }
  }
  // The guard itself: names that would carry a series per peer are caught, the allow-listed ones are not.
  for (const bad of ['peer', 'peer_san', 'ip', 'client_ip', 'remote_addr', 'address', 'source_address', 'host', 'spiffe_id', 'workload', 'pod']) {
    t.ok(FORBIDDEN_LABEL.test(bad), `"${bad}" counts as naming a peer`);
  }
  for (const ok of LABEL_ALLOW_LIST) t.notOk(FORBIDDEN_LABEL.test(ok), `allow-listed "${ok}" does not`);
  // The peer rule admits workload ids and `unknown`, nothing that looks like an address or a free-form string.
  for (const good of ['unknown', 'demo/frontend', 'apps/v1/Deployment/shop/web', 'client.ns.svc']) t.ok(allowedValue(PEER, good), `peer value "${good}" is allowed`);
  for (const bad of ['', '10.0.0.1:5555', 'spiffe://ccmesh.local/web', 'a b', '/web', 'x'.repeat(254)]) t.notOk(allowedValue(PEER, bad), `peer value ${JSON.stringify(bad.slice(0, 20))} is not`);
  // The container rule admits DNS labels (container names) only.
  t.ok(allowedValue(CONTAINER, 'web-1'), 'container value "web-1" is allowed');
  for (const bad of ['', 'Web', '../web', 'web/liveness', 'x'.repeat(64)]) t.notOk(allowedValue(CONTAINER, bad), `container value ${JSON.stringify(bad.slice(0, 20))} is not`);
});

void t.test('docs/metrics.md documents every golden family; the docs and alert rules name only golden families', async (t) => {
  const doc = readDoc(METRICS_DOC);
  const documented = documentedFamilies(doc);
  t.same(documented.map((d) => d.name).sort(), Object.keys(ALL_FAMILIES).sort(), 'one table row per golden family, and no other');
  for (const d of documented) {
    const golden = ALL_FAMILIES[d.name];
    if (golden === undefined) continue;
    t.equal(d.type, golden.type, `${d.name}: documented type`);
    t.same(d.labels, Object.keys(golden.labels).sort(), `${d.name}: documented labels`);
  }
  const queries = promqlQueries(doc);
  t.ok(queries.length >= 10, `docs/metrics.md has example queries (${queries.length})`);
  for (const { query, line } of queries) {
    for (const name of mentionedMetrics(query)) t.ok(familyOf(name) !== undefined, `docs/metrics.md:${line}: ${name} is a golden family (or its histogram series)`);
  }
  const alerts = readDoc(ALERTS_FILE);
  const inAlerts = mentionedMetrics(alerts);
  t.ok(inAlerts.length > 0, 'docs/alerts.yaml uses ccmesh metrics');
  for (const name of inAlerts) t.ok(familyOf(name) !== undefined, `docs/alerts.yaml: ${name} is a golden family (or its histogram series)`);
  const panels = dashboardQueries(readDoc(DASHBOARD_FILE));
  t.ok(panels.length >= 10, `docs/grafana-dashboard.json has panels (${panels.length})`);
  for (const { panel, query } of panels) {
    const names = mentionedMetrics(query);
    t.ok(names.length > 0, `dashboard "${panel}": queries a metric`);
    for (const name of names) t.ok(familyOf(name) !== undefined, `dashboard "${panel}": ${name} is a golden family (or its histogram series)`);
  }
});
