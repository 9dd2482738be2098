import t from 'tap';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { DisabledCollateralSource } from './disabled-collateral-source.js';

const CHIP = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
const TCB = { bootloader: 3, tee: 0, snp: 8, microcode: 115 };

void t.test('every method refuses with ATTEST_FETCH_DISABLED and explains how to supply collateral offline', async (t) => {
  const src = new DisabledCollateralSource();
  const err = await src.amdVek('milan', CHIP, TCB).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof CcmeshError);
  t.equal((err as CcmeshError).code, ErrorCode.ATTEST_FETCH_DISABLED);
  t.equal(
    (err as CcmeshError).message,
    'the AMD VCEK of Milan chip 0102030405060708… at TCB bl=3 tee=0 snp=8 ucode=115 is not available and fetching attestation ' +
      'collateral over the network is disabled (the default). Supply it offline: pass it with the evidence (the SNP extended ' +
      'report certificate table or auxblob carries the VCEK/VLEK, ASK and ARK) or as files; or point the collateral cache at a ' +
      'directory filled earlier; or enable fetching explicitly. The vendor publishes it at ' +
      `https://kdsintf.amd.com/vcek/v1/Milan/${Buffer.from(CHIP).toString('hex')}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115`,
  );
  const calls: readonly [string, () => Promise<unknown>, RegExp][] = [
    ['chain', () => src.amdChain('genoa', 'vlek'), /^the AMD Genoa ASVK\+ARK chain is not available.*publishes it at https:\/\/kdsintf\.amd\.com\/vlek\/v1\/Genoa\/cert_chain$/],
    ['crl', () => src.amdCrl('turin'), /AMD Turin CRL is not available.*\/vcek\/v1\/Turin\/crl$/],
    ['tcb info', () => src.intelTdxTcbInfo('50806f000000'), /TCB info for FMSPC 50806f000000 .*TCB info, QE identity, their issuer chain and the CRLs as files.*tcb\?fmspc=50806f000000$/],
    ['qe identity', () => src.intelQeIdentity(), /QE identity is not available.*qe\/identity$/],
    ['pck crl', () => src.intelPckCrl('processor'), /PCK processor CA CRL.*ca=processor&encoding=der$/],
    ['root crl', () => src.intelRootCrl(), /SGX Root CA CRL.*IntelSGXRootCA\.der$/],
  ];
  for (const [name, call, message] of calls) await t.rejects(call(), { code: ErrorCode.ATTEST_FETCH_DISABLED, message }, name);
});

void t.test('an invalid request gets its own error, not the disabled one', async (t) => {
  await t.rejects(new DisabledCollateralSource().amdVek('milan', new Uint8Array(64), TCB), { code: ErrorCode.ATTEST_FETCH, message: /masked/ });
});

void t.test('the download hint follows configured endpoints', async (t) => {
  const src = new DisabledCollateralSource({ amdKds: 'https://kds.mirror.example', intelPcs: 'x', intelCertificates: 'y' });
  await t.rejects(src.amdCrl('milan'), { message: /https:\/\/kds\.mirror\.example\/vcek\/v1\/Milan\/crl$/ });
});
