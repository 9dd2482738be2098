/**
 * nodeTsmFs against a real temporary directory laid out like configfs. A plain filesystem can't play the kernel
 * (populate a new entry, bump generation on write, let rmdir remove attribute files), so a thin shim does exactly
 * those three things and delegates every operation the issuer makes to nodeTsmFs — real paths, real opens.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import t from 'tap';
import type tap from 'tap';
import { bytesEqual } from '../../lib/bytes.js';
import { ErrorCode } from '../../lib/errors.js';
import { encodeCertTable } from './cert-table.js';
import { ConfigfsTsmIssuer, probeConfigfsTsm } from './configfs-tsm.js';
import type { TsmFs } from './tsm-fs.js';
import { errnoCode, nodeTsmFs } from './tsm-fs.js';
import { milanCertificates, reportDataOf, snpReportWith } from '../../test/support/attestation/issuers.js';

function tempRoot(t: Pick<typeof tap, 'teardown'>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ccmesh-tsm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The kernel's part, over real files: what appears on mkdir, the counter, and rmdir of a populated entry. */
function kernelShim(files: Record<string, Uint8Array | string>): TsmFs & { generationWrites: number } {
  const shim = {
    generationWrites: 0,
    isDirectory: (p: string) => nodeTsmFs.isDirectory(p),
    readFile: (p: string, max: number) => nodeTsmFs.readFile(p, max),
    async mkdir(p: string): Promise<void> {
      await nodeTsmFs.mkdir(p);
      for (const [name, content] of Object.entries({ generation: '0\n', inblob: '', privlevel: '', ...files })) writeFileSync(join(p, name), content);
    },
    async writeFile(p: string, data: Uint8Array): Promise<void> {
      await nodeTsmFs.writeFile(p, data);
      const gen = join(dirname(p), 'generation');
      writeFileSync(gen, `${Number(readFileSync(gen, 'utf8')) + 1}\n`);
      shim.generationWrites++;
    },
    async rmdir(p: string): Promise<void> {
      for (const f of readdirSync(p)) unlinkSync(join(p, f));
      await nodeTsmFs.rmdir(p);
    },
  };
  return shim;
}

void t.test('issues through real paths: inblob written, outblob/auxblob read, entry removed', async (t) => {
  const root = join(tempRoot(t), 'tsm', 'report');
  mkdirSync(root, { recursive: true });
  const rd = reportDataOf(42);
  const certs = milanCertificates();
  const fs = kernelShim({ provider: 'sev_guest\n', outblob: snpReportWith(rd), auxblob: encodeCertTable(certs) });
  let written: Uint8Array | undefined;
  const spy: TsmFs = {
    ...fs,
    writeFile: async (p, data) => {
      await fs.writeFile(p, data);
      if (basename(p) === 'inblob') written = readFileSync(p);
    },
  };
  const ev = await new ConfigfsTsmIssuer({ root, privlevel: 0 }, { fs: spy, entryName: () => 'req-1' }).issue(rd);
  t.ok(ev.format === 'snp' && bytesEqual(ev.report.subarray(0x50, 0x90), rd));
  t.same(ev.format === 'snp' && ev.certificates, certs);
  t.ok(written && bytesEqual(written, rd), 'exactly the 64 bytes reached the inblob file');
  t.equal(fs.generationWrites, 2, 'privlevel + inblob');
  t.same(readdirSync(root), [], 'entry directory removed');
  t.same(await probeConfigfsTsm(root, fs), { ok: true, provider: 'sev_guest' });
});

void t.test('a missing root through nodeTsmFs is ATTEST_ISSUER_UNAVAILABLE naming the path', async (t) => {
  const root = join(tempRoot(t), 'no', 'such', 'report');
  await t.rejects(new ConfigfsTsmIssuer({ root }).issue(reportDataOf()), {
    code: ErrorCode.ATTEST_ISSUER_UNAVAILABLE,
    message: new RegExp(`^configfs-tsm is not available at ${root.replaceAll('/', '\\/')}: the directory does not exist \\(it needs Linux >= 6\\.7`),
  });
  t.match(await probeConfigfsTsm(root), { ok: false, reason: /not available at/ });
});

void t.test('nodeTsmFs: bounded reads, no O_CREAT, directory checks', async (t) => {
  const dir = tempRoot(t);
  const file = join(dir, 'blob');
  writeFileSync(file, Buffer.alloc(20000, 7));
  t.equal((await nodeTsmFs.readFile(file, 100)).length, 101, 'stops at max + 1');
  t.equal((await nodeTsmFs.readFile(file, 50000)).length, 20000, 'reads past one chunk to EOF');
  await nodeTsmFs.writeFile(file, new Uint8Array([1, 2, 3]));
  t.same(readFileSync(file), Buffer.from([1, 2, 3]), 'truncated and rewritten');
  await t.rejects(nodeTsmFs.writeFile(join(dir, 'privlevel'), Buffer.from('1')), { code: 'ENOENT' }, 'a missing attribute is not created');
  t.notOk(await nodeTsmFs.isDirectory(file));
  t.notOk(await nodeTsmFs.isDirectory(join(file, 'x')), 'ENOTDIR is "no"');
  t.ok(await nodeTsmFs.isDirectory(dir));
  await nodeTsmFs.mkdir(join(dir, 'e'));
  await t.rejects(nodeTsmFs.mkdir(join(dir, 'e')), { code: 'EEXIST' });
  await nodeTsmFs.rmdir(join(dir, 'e'));
  t.notOk(await nodeTsmFs.isDirectory(join(dir, 'e')));
  t.equal(errnoCode(new Error('x')), undefined);
  t.equal(errnoCode(null), undefined);
});
