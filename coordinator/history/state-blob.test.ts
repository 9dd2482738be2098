import t from 'tap';
import { ErrorCode } from '../../lib/errors.js';
import { MemoryStore } from '../store/memory-store.js';
import { readStateRecord, writeStateRecord } from './state-blob.js';

const parseRootCa = (j: unknown): { pem: string } | undefined =>
  typeof j === 'object' && j !== null && typeof (j as { pem?: unknown }).pem === 'string' ? { pem: (j as { pem: string }).pem } : undefined;

void t.test('state records round-trip with compare-and-swap and refuse wrong shapes', async (t) => {
  const store = new MemoryStore();
  t.equal(await readStateRecord(store, 'state/root-ca', parseRootCa), undefined);
  const w = await writeStateRecord(store, 'state/root-ca', { pem: 'CERT' }, 0);
  if (!w.ok) throw new Error('write failed');
  t.same(await readStateRecord(store, 'state/root-ca', parseRootCa), { value: { pem: 'CERT' }, revision: w.revision });
  t.equal((await writeStateRecord(store, 'state/root-ca', { pem: 'OTHER' }, 0)).ok, false, 'stale write conflicts');
  await writeStateRecord(store, 'state/root-ca', { wrong: true }, w.revision);
  await t.rejects(readStateRecord(store, 'state/root-ca', parseRootCa), { code: ErrorCode.STORE_CORRUPT, message: /state\/root-ca/ });
  await store.compareAndSwap('state/bad', 0, new Uint8Array([0xff]));
  await t.rejects(readStateRecord(store, 'state/bad', parseRootCa), { code: ErrorCode.STORE_CORRUPT });
});
