import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { Registry } from 'prom-client';
import { bindDirectionMetrics, createProxyMetrics, endConnection, OTHER_PORT } from '../metrics.js';
import { TestMesh } from '../test/pki.js';
import { MAX_PEER_LABEL_LENGTH, MAX_PEER_LABELS, PeerLabels, UNKNOWN_PEER, workloadIdOf } from './peer-label.js';

void t.test('the workload id of a leaf is the path of its SPIFFE URI SAN, nothing else', (t) => {
  const long = 'a'.repeat(MAX_PEER_LABEL_LENGTH);
  const cases: [string | undefined, string | undefined][] = [
    ['DNS:web.shop.svc, URI:spiffe://ccmesh.local/apps/v1/Deployment/shop/web', 'apps/v1/Deployment/shop/web'],
    ['URI:spiffe://ccmesh.local/demo/frontend', 'demo/frontend'],
    [`URI:spiffe://td/${long}`, long],
    [`URI:spiffe://td/${long}b`, undefined],
    ['DNS:web.shop.svc', undefined],
    ['DNS:spiffe://ccmesh.local/web', undefined],
    ['URI:https://ccmesh.local/web', undefined],
    ['URI:spiffe://ccmesh.local', undefined],
    ['URI:spiffe://ccmesh.local/', undefined],
    ['URI:spiffe:///web', undefined],
    ['URI:spiffe://ccmesh.local/a/../b', undefined],
    ['URI:spiffe://ccmesh.local/a//b', undefined],
    ['URI:spiffe://ccmesh.local/a b', undefined],
    ['URI:spiffe://ccmesh.local/a%2fb', undefined],
    ['URI:"spiffe://ccmesh.local/a, URI:spiffe://x/b"', undefined],
    ['IP Address:10.0.0.1', undefined],
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [text, want] of cases) t.equal(workloadIdOf(text), want, JSON.stringify(text?.slice(0, 60)));
  t.end();
});

void t.test('PeerLabels names at most its cap of workloads, then says unknown (and tells once)', async (t) => {
  const mesh = await TestMesh.create();
  const leaves = await Promise.all(['a', 'b', 'c', 'd'].map((w) => mesh.leaf([`${w}.ns.svc`], { workload: `ns/${w}` })));
  const certs = leaves.map((l) => new X509Certificate(l.files.chain));
  const full: number[] = [];
  const peers = new PeerLabels(2, (max) => full.push(max));
  t.equal(peers.of(certs[0]), 'ns/a', 'the first workload gets its id');
  t.equal(peers.of(certs[1]), 'ns/b', 'the second too');
  t.equal(peers.of(certs[2]), UNKNOWN_PEER, 'the third is over the cap: unknown');
  t.equal(peers.of(certs[3]), UNKNOWN_PEER, 'and so is the fourth');
  t.equal(peers.of(certs[0]), 'ns/a', 'a named workload keeps its id');
  t.equal(peers.size, 2, 'two named');
  t.same(full, [2], 'the cap was reported once');
  t.equal(peers.of(undefined), UNKNOWN_PEER, 'no certificate: unknown');
  t.equal(new PeerLabels().of(certs[2]), 'ns/c', `the default cap (${MAX_PEER_LABELS}) is not 2`);
});

void t.test('traffic children: route ports by number, any other port as "other", peers as PeerLabels gives them', async (t) => {
  const registry = new Registry();
  const m = createProxyMetrics(registry, { routePorts: [8080, 5432] });
  const inbound = bindDirectionMetrics(m, 'inbound');
  t.equal(inbound.forPort(8080).port, '8080', 'a route port keeps its number');
  t.equal(inbound.forPort(5432).port, '5432');
  t.equal(inbound.forPort(9090).port, OTHER_PORT, 'an unlisted port is other');
  t.equal(inbound.forPort(15006).port, OTHER_PORT, 'so is a listener port');
  t.equal(inbound.forPort(undefined).port, OTHER_PORT, 'and an unknown one');
  t.equal(inbound.forPort(9090), inbound.forPort(1), 'every other port shares one set of children');
  const p = inbound.forPort(8080);
  t.equal(p.peer('ns/a'), p.peer('ns/a'), 'a peer\'s children are bound once');
  p.open.inc();
  endConnection({ port: p, peer: p.peer('ns/a'), startedAt: 0 }, 'ok');
  inbound.forPort(7).result.refused.inc();
  const total = (await m.connections.get()).values.map((v) => ({ ...v.labels, value: v.value }));
  t.same(total.sort((a, b) => String(a.port).localeCompare(String(b.port))), [
    { direction: 'inbound', port: '8080', peer: 'ns/a', result: 'ok', value: 1 },
    { direction: 'inbound', port: 'other', peer: 'unknown', result: 'refused', value: 1 },
  ], 'counted under the route port and peer, and under other/unknown');
  const durations = (await m.connectionSeconds.get()).values.filter((v) => v.metricName === 'ccmesh_proxy_connection_duration_seconds_count' && v.value > 0);
  t.match(durations, [{ labels: { direction: 'inbound', port: '8080', result: 'ok' }, value: 1 }], 'its lifetime observed once');
  t.equal((await m.open.get()).values.find((v) => v.labels.port === '8080')?.value, 0, 'and no longer open');
});
