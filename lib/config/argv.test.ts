import t from 'tap';
import { tokeniseFlags } from './argv.js';

const spec = { format: { type: 'string' }, json: { type: 'boolean' }, crl: { type: 'string', multiple: true } } as const;

void t.test('splits values, booleans, repeats and positionals', (t) => {
  const r = tokeniseFlags(['verify', '--format', 'snp', '--json', '--crl=a.der', '--crl', 'b.der', '--', '--x'], spec);
  t.same(r.values, { format: 'snp', json: 'true' });
  t.same(r.lists, { crl: ['a.der', 'b.der'] });
  t.same(r.positionals, ['verify', '--x']);
  t.same(r.issues, []);
  t.end();
});

void t.test('reports unknown flags, missing values, repeats and bad booleans together', (t) => {
  const r = tokeniseFlags(['--bogus', '--format', '--json=maybe', '--format=snp', '--format=tdx'], spec);
  t.same(r.issues.map((i) => i.field), ['--bogus', '--format', '--json', '--format']);
  t.match(r.issues[0]!.expected, /--format, --json, --crl/);
  t.equal(r.issues[1]!.expected, 'a value after the flag');
  t.end();
});
