/**
 * `ccmesh.dev/egress` identities reach the proxy's pinned args: the annotation's 4th field is carried into `--egress`,
 * a DNS remote without one gets its own name written out (what the proxy would derive, now stated in the arg the Kata
 * policy pins), `*` stays `*`, and an IP remote without an identity is refused with the entry named.
 */
import t from 'tap';
import { ErrorCode, type CcmeshError } from '../../lib/errors.js';
import { inject, type KubeObject } from './inject.js';

type Obj = Record<string, unknown>;

function pod(egress: string): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop', annotations: { 'ccmesh.dev/egress': egress } },
    spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] },
  };
}

function egressArg(o: KubeObject): string | undefined {
  const proxy = ((o.spec as Obj).initContainers as Obj[]).find((c) => c.name === 'ccmesh-proxy')!;
  const args = proxy.args as string[];
  const i = args.indexOf('--egress');
  return i < 0 ? undefined : args[i + 1];
}

void t.test("the annotation's identity lands in the proxy's --egress arg", async (t) => {
  const table: [string, string, string][] = [
    ['db#127.0.0.10:5432#db.shop.svc:5432#spiffe://ccmesh.local/shop/db', 'db#127.0.0.10:5432#db.shop.svc:5432#spiffe://ccmesh.local/shop/db', 'a SPIFFE 4th field as given'],
    ['db#127.0.0.10:5432#10.0.0.5:5432#db.shop.svc', 'db#127.0.0.10:5432#10.0.0.5:5432#db.shop.svc', 'a DNS identity for an IP remote'],
    ['db#127.0.0.10:5432#db.shop.svc:5432', 'db#127.0.0.10:5432#db.shop.svc:5432#db.shop.svc', 'the default written out: the remote name'],
    ['db#127.0.0.10:5432#db.shop.svc:5432##x#127.0.0.11:80#[fd00::1]:80#*', 'db#127.0.0.10:5432#db.shop.svc:5432#db.shop.svc##x#127.0.0.11:80#[fd00::1]:80#*', '* stays an explicit *'],
  ];
  for (const [annotation, want, why] of table) {
    const out = inject(pod(annotation));
    t.equal(egressArg(out), want, why);
    t.same(inject(out), out, `${why}: injecting again changes nothing`);
  }
});

void t.test('an IP remote without an identity is refused, naming the annotation and the entry', async (t) => {
  const err = t.throws(() => inject(pod('api#127.0.0.9:80#api.shop.svc:80##db#127.0.0.10:5432#10.0.0.5:5432'))) as CcmeshError;
  t.equal(err.code, ErrorCode.K8S_INJECT_REFUSED);
  t.match(err.message, /ccmesh\.dev\/egress\[1\]: got "db#127\.0\.0\.10:5432#10\.0\.0\.5:5432", expected an identity for entry "db": its remote 10\.0\.0\.5 is an IP address, so no identity can be derived; give one/);
  const bad = t.throws(() => inject(pod('db#127.0.0.10:5432#db.shop.svc:5432#https://db'))) as CcmeshError;
  t.match(bad.message, /ccmesh\.dev\/egress\[0\]\.identity: got "https:\/\/db", expected a DNS name, a spiffe:\/\/<trust-domain>\/<path> ID or an IP address/);
});
