import t from 'tap';
import { createLogger } from './log.js';
import { CcmeshError, ErrorCode } from './errors.js';

void t.test('writes one JSON object per line with constant message and fields', (t) => {
  const lines: string[] = [];
  const log = createLogger({ component: 'test', level: 'info', sink: (l) => lines.push(l), now: () => 0 });
  log.debug('filtered out', { x: 1 });
  log.info('started', { port: 15006 });
  log.child({ conn: 7 }).error('failed', { err: new CcmeshError(ErrorCode.INTERNAL, 'boom', { cause: new Error('root') }) });
  t.equal(lines.length, 2);
  t.same(JSON.parse(lines[0]!), { time: '1970-01-01T00:00:00.000Z', level: 'info', component: 'test', msg: 'started', port: 15006 });
  const second = JSON.parse(lines[1]!) as Record<string, unknown>;
  t.equal(second.conn, 7);
  t.same(second.err, { name: 'CcmeshError', message: 'boom', code: 'CCMESH_ERR_INTERNAL', cause: 'root' });
  t.equal(log.enabled('debug'), false);
  t.equal(log.enabled('warn'), true);
  t.end();
});
