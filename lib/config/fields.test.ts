import t from 'tap';
import { ConfigError } from '../errors.js';
import { FieldReader, parseDurationMs, parseRfc3339 } from './fields.js';

void t.test('every problem is reported at once, with field, value and expectation', (t) => {
  const r = new FieldReader('test flags', { port: '70000', level: 'loud', at: 'yesterday', n: '12x', wait: '5 minutes' }, '--');
  r.port('port');
  r.oneOf('level', ['debug', 'info'] as const);
  r.timestamp('at');
  r.integer('n', 0, 100);
  r.duration('wait');
  r.requiredString('missing');
  const err = t.throws(() => r.finish()) as unknown;
  t.ok(err instanceof ConfigError);
  const issues = (err as ConfigError).issues;
  t.same(issues.map((i) => i.field), ['--port', '--level', '--at', '--n', '--wait', '--missing']);
  t.same(issues[0], { field: '--port', value: '70000', expected: 'a port number from 1 to 65535' });
  t.equal(issues[5]?.value, undefined);
  t.match((err as ConfigError).message, /--level: got "loud", expected one of debug, info/);
  t.match((err as ConfigError).message, /--missing: got nothing/);
  t.equal((err as ConfigError).code, 'CCMESH_ERR_CONFIG_INVALID');
  t.end();
});

void t.test('valid values parse to typed values and finish() does not throw', (t) => {
  const r = new FieldReader('test flags', { port: '15006', level: 'info', at: '2024-01-01T00:00:00Z', n: '-3', wait: '1h30m' });
  t.equal(r.port('port'), 15006);
  t.equal(r.oneOf('level', ['debug', 'info'] as const), 'info');
  t.equal(r.timestamp('at')?.toISOString(), '2024-01-01T00:00:00.000Z');
  t.equal(r.integer('n', -5, 5), -3);
  t.equal(r.duration('wait'), 5_400_000);
  t.equal(r.port('absent', 9102), 9102);
  t.ok(r.clean);
  r.finish();
  t.end();
});

void t.test('durations: table', (t) => {
  const table: [string, number | undefined][] = [
    ['0', 0], ['250', 250], ['250ms', 250], ['30s', 30_000], ['5m', 300_000], ['24h', 86_400_000], ['1h1s', 3_601_000],
    ['', undefined], ['1d', undefined], ['s', undefined], ['-1s', undefined], ['1.5s', undefined], ['10 s', undefined],
  ];
  for (const [input, want] of table) t.equal(parseDurationMs(input), want, JSON.stringify(input));
  t.end();
});

void t.test('RFC 3339 needs a zone', (t) => {
  t.equal(parseRfc3339('2024-01-01T00:00:00+02:00')?.toISOString(), '2023-12-31T22:00:00.000Z');
  t.equal(parseRfc3339('2024-01-01T00:00:00'), undefined);
  t.equal(parseRfc3339('2024-13-01T00:00:00Z'), undefined);
  t.equal(parseRfc3339('now'), undefined);
  t.end();
});
