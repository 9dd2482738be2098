import t from 'tap';
import type { PeerCertificate } from 'node:tls';
import type { EgressIdentity } from '../../lib/mesh-config/egress.js';
import { SAN_MISMATCH_CODE } from '../transport/handshake-failure.js';
import { parseSubjectAltNames } from '../transport/subject-alt-names.js';
import { buildServerIdentityCheck } from './upstream-identity.js';

const cert = (subjectaltname: string | undefined): PeerCertificate => ({ subjectaltname }) as PeerCertificate;
const admits = (id: EgressIdentity, san: string | undefined): boolean => buildServerIdentityCheck(id)('ignored.host', cert(san)) === undefined;

void t.test('server identity: each kind matches only SANs of its own kind', (t) => {
  const leaf = 'DNS:db, DNS:db.shop.svc, DNS:*.db.shop.svc, IP Address:10.0.0.5, IP Address:FD00:0:0:0:0:0:0:5, URI:spiffe://ccmesh.local/db';
  const table: [EgressIdentity, string | undefined, boolean, string][] = [
    [{ kind: 'dns', value: 'db.shop.svc' }, leaf, true, 'exact DNS'],
    [{ kind: 'dns', value: 'db.shop.svc' }, 'DNS:DB.Shop.SVC', true, 'DNS is case-insensitive'],
    [{ kind: 'dns', value: 'db-0.db.shop.svc' }, leaf, true, 'a wildcard SAN covers one label'],
    [{ kind: 'dns', value: 'a.db-0.db.shop.svc' }, leaf, false, 'but not two'],
    [{ kind: 'dns', value: 'db.shop' }, leaf, false, 'another spelling is another name'],
    [{ kind: 'dns', value: 'db.shop.svc' }, 'DNS:cache.shop.svc, URI:spiffe://ccmesh.local/db', false, "another workload's leaf"],
    [{ kind: 'dns', value: 'db.shop.svc' }, 'URI:db.shop.svc', false, 'a URI SAN never stands for a DNS name'],
    [{ kind: 'dns', value: 'db.shop.svc' }, undefined, false, 'no SANs at all'],
    [{ kind: 'uri', value: 'spiffe://ccmesh.local/db' }, leaf, true, 'exact URI'],
    [{ kind: 'uri', value: 'spiffe://ccmesh.local/db' }, 'URI:spiffe://ccmesh.local/db/x', false, 'no prefix match'],
    [{ kind: 'ip', value: '10.0.0.5' }, leaf, true, 'IPv4'],
    [{ kind: 'ip', value: 'fd00::5' }, leaf, true, 'IPv6, canonicalised'],
    [{ kind: 'ip', value: '10.0.0.5' }, 'DNS:10.0.0.5', false, 'a DNS SAN never stands for an IP'],
    [{ kind: 'ip', value: '10.0.0.6' }, 'IP Address:10.0.0.5, IP Address:FD00:0:0:0:0:0:0:5', false, 'another IP address is another server'],
    [{ kind: 'ip', value: 'fd00::6' }, 'IP Address:FD00:0:0:0:0:0:0:5', false, 'another IPv6 address, whatever its spelling'],
    [{ kind: 'uri', value: 'spiffe://ccmesh.local/db' }, 'URI:spiffe://ccmesh.local/cache, DNS:spiffe://ccmesh.local/db', false, 'another URI, and a DNS SAN spelling the URI'],
    [{ kind: 'dns', value: 'db.shop.svc' }, 'URI:"x, DNS:db.shop.svc, y"', false, 'a quoted value is one name, never split'],
    [{ kind: 'any' }, 'DNS:whatever', true, '* admits any leaf that chains'],
    [{ kind: 'any' }, 'URI:ccmesh-operator://ccmesh.local/00112233445566778899aabbccddeeff', false, 'but never an operator certificate'],
    [{ kind: 'dns', value: 'db.shop.svc' }, 'DNS:db.shop.svc, URI:ccmesh-operator://ccmesh.local/00', false, 'nor one that also names the server'],
  ];
  for (const [id, san, want, why] of table) t.equal(admits(id, san), want, why);
  const err = buildServerIdentityCheck({ kind: 'dns', value: 'db.shop.svc' })('h', cert('DNS:cache')) as Error & { code: string };
  t.equal(err.code, SAN_MISMATCH_CODE, 'a refusal carries the code counted as server-san-mismatch');
  t.end();
});

void t.test("server identity: Node's subjectaltname text", (t) => {
  t.same(parseSubjectAltNames('DNS:a, URI:spiffe://t/x, IP Address:1.2.3.4'), [['DNS', 'a'], ['URI', 'spiffe://t/x'], ['IP Address', '1.2.3.4']]);
  t.same(parseSubjectAltNames('URI:"x, DNS:a", DNS:b'), [['URI', 'x, DNS:a'], ['DNS', 'b']]);
  t.same(parseSubjectAltNames(''), []);
  t.end();
});
