import t from 'tap';
import { ErrorCode } from '../../lib/errors.js';
import {
  amdChainRequest,
  amdCrlRequest,
  amdVekRequest,
  canonicalRequest,
  describeRequest,
  intelPckCrlRequest,
  intelTcbInfoRequest,
  requestKey,
} from './collateral-request.js';
import type { AmdProduct, AmdSigner, IntelPckCa } from './collateral-source.js';
import { checkEndpoints, collateralUrl, defaultCollateralEndpoints } from './collateral-urls.js';

const CHIP = Uint8Array.from({ length: 64 }, (_, i) => i);
CHIP[0] = 0xff;
const TCB = { bootloader: 10, tee: 1, snp: 23, microcode: 213 };

void t.test('invalid requests are refused before any I/O, naming the problem', (t) => {
  const bad: readonly [string, () => unknown, RegExp][] = [
    ['short chip id', () => amdVekRequest('milan', CHIP.subarray(0, 32), TCB), /milan chip id must be 64 bytes, got 32/],
    ['8-byte Genoa id', () => amdVekRequest('genoa', CHIP.subarray(0, 8), TCB), /genoa chip id must be 64 bytes/],
    ['Turin odd length', () => amdVekRequest('turin', CHIP.subarray(0, 16), { ...TCB, fmc: 0 }), /Turin chip id must be 64 or 8 bytes/],
    ['masked chip id', () => amdVekRequest('milan', new Uint8Array(64), TCB), /all zero \(masked/],
    ['Turin without fmc', () => amdVekRequest('turin', CHIP, TCB), /need the fmcSPL/],
    ['SPL out of range', () => amdVekRequest('milan', CHIP, { ...TCB, microcode: 256 }), /ucodeSPL must be an integer 0-255, got 256/],
    ['SPL not integer', () => amdVekRequest('milan', CHIP, { ...TCB, snp: 1.5 }), /snpSPL/],
    ['unknown product', () => amdCrlRequest('siena' as AmdProduct), /unknown AMD product "siena"/],
    ['path injection', () => amdChainRequest('milan/../x' as AmdProduct, 'vcek'), /unknown AMD product/],
    ['unknown signer', () => amdChainRequest('milan', 'ask' as AmdSigner), /unknown AMD signer/],
    ['short FMSPC', () => intelTcbInfoRequest('50806f'), /FMSPC must be 12 hex digits/],
    ['FMSPC with query', () => intelTcbInfoRequest('50806f00000&'), /FMSPC/],
    ['unknown CA', () => intelPckCrlRequest('root' as IntelPckCa), /unknown PCK CA/],
  ];
  for (const [name, fn, message] of bad) t.throws(fn, { code: ErrorCode.ATTEST_FETCH, message }, name);
  t.end();
});

void t.test('the default URLs are the public vendor hosts', (t) => {
  const e = defaultCollateralEndpoints;
  const hex = Buffer.from(CHIP).toString('hex');
  t.equal(collateralUrl(amdVekRequest('genoa', CHIP, TCB), e), `https://kdsintf.amd.com/vcek/v1/Genoa/${hex}?blSPL=10&teeSPL=01&snpSPL=23&ucodeSPL=213`);
  t.equal(
    collateralUrl(amdVekRequest('turin', CHIP, { ...TCB, fmc: 2 }), e),
    `https://kdsintf.amd.com/vcek/v1/Turin/${hex.slice(0, 16)}?fmcSPL=02&blSPL=10&teeSPL=01&snpSPL=23&ucodeSPL=213`,
  );
  t.equal(collateralUrl(amdChainRequest('turin', 'vlek'), e), 'https://kdsintf.amd.com/vlek/v1/Turin/cert_chain');
  t.equal(collateralUrl(intelTcbInfoRequest('90C06F000000'), e), 'https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=90c06f000000');
  t.equal(collateralUrl(intelPckCrlRequest('platform'), e), 'https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=platform&encoding=der');
  t.equal(collateralUrl({ kind: 'intel-root-crl' }, e), 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der');
  t.equal(collateralUrl(amdCrlRequest('milan'), { ...e, amdKds: 'http://mirror.local/kds/' }), 'http://mirror.local/kds/vcek/v1/Milan/crl');
  t.same(checkEndpoints(e), []);
  t.end();
});

void t.test('cache keys: equal requests agree, different ones differ', (t) => {
  const turin = { ...TCB, fmc: 2 };
  t.equal(requestKey(amdVekRequest('turin', CHIP, turin)), requestKey(amdVekRequest('turin', CHIP.subarray(0, 8), turin)));
  t.equal(requestKey(amdVekRequest('milan', CHIP, TCB)), requestKey(amdVekRequest('milan', CHIP, { ...TCB, fmc: 7 })));
  t.not(requestKey(amdVekRequest('milan', CHIP, TCB)), requestKey(amdVekRequest('genoa', CHIP, TCB)));
  t.not(requestKey(amdVekRequest('turin', CHIP, turin)), requestKey(amdVekRequest('turin', CHIP, { ...turin, fmc: 3 })));
  t.not(requestKey(amdChainRequest('milan', 'vcek')), requestKey(amdChainRequest('milan', 'vlek')));
  t.equal(requestKey(intelTcbInfoRequest('ABCDEF012345')), requestKey(intelTcbInfoRequest('abcdef012345')));
  t.match(requestKey(amdCrlRequest('milan')), /^[0-9a-f]{64}$/);
  t.equal(canonicalRequest(amdVekRequest('turin', CHIP, turin)), `amd-vek turin ${Buffer.from(CHIP.subarray(0, 8)).toString('hex')} bl=10 tee=1 snp=23 ucode=213 fmc=2`);
  t.match(describeRequest(amdVekRequest('milan', CHIP, TCB)), /^the AMD VCEK of Milan chip ff01020304050607… at TCB bl=10 tee=1 snp=23 ucode=213$/);
  t.end();
});
