/**
 * Picks the evidence issuer for `--tee auto|configfs|sev-guest|tdx-guest|simulated`.
 *
 * `auto` tries, in order: configfs-tsm (root exists, an entry can be created, a known provider answers), then
 * /dev/sev-guest, then /dev/tdx_guest — which only ever yields "a TD report is not a quote". When nothing fits it
 * fails with ATTEST_ISSUER_UNAVAILABLE listing every path it looked at and why each was unusable.
 *
 * SECURITY: `auto` never falls back to the simulated TEE. Simulated evidence is only produced when a caller asks
 * for `simulated` by name and supplies the factory; a guest whose hardware interface vanished must fail loudly,
 * not quietly attest with keys from a directory.
 */
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { silentLogger } from '../../lib/log.js';
import { PATHS } from '../../lib/pod-layout.js';
import { ConfigfsTsmIssuer, probeConfigfsTsm } from './configfs-tsm.js';
import type { EvidenceIssuer } from './evidence.js';
import type { DeviceOpener } from './ioctl.js';
import { openIoctlDevice } from './ioctl.js';
import { SEV_GUEST_NEEDS, SevGuestIssuer } from './sev-guest.js';
import { TDX_GUEST_NEEDS, tdReportIsNotAQuote } from './tdx-guest.js';
import type { TsmFs } from './tsm-fs.js';
import { nodeTsmFs } from './tsm-fs.js';

import { ISSUER_KINDS, type IssuerKind } from './kinds.js';

export { ISSUER_KINDS, type IssuerKind };

/** Where to look (every path configurable so tests can point at a fake tree) and what to request. */
export interface IssuerSelectConfig {
  /** configfs-tsm report directory; default {@link PATHS.configfsTsmReport}. */
  readonly configfsRoot?: string;
  /** default {@link PATHS.sevGuestDevice}. */
  readonly sevGuest?: string;
  /** default {@link PATHS.tdxGuestDevice}. */
  readonly tdxGuest?: string;
  /** SNP VMPL to request: configfs `privlevel` (sev_guest provider only) or the sev-guest ioctl's vmpl. */
  readonly vmpl?: number;
}

/** Live dependencies; all optional, defaulting to the real filesystem and devices. */
export interface IssuerSelectDeps {
  readonly tsmFs?: TsmFs;
  readonly openDevice?: DeviceOpener;
  readonly logger?: Logger;
  /** Name generator for configfs entries (tests). */
  readonly entryName?: () => string;
  /**
   * Builds the simulated issuer; only consulted for kind `simulated` (the extension point for the simulated TEE,
   * which lives outside this folder). SECURITY: never used by `auto`.
   */
  readonly simulated?: () => Promise<EvidenceIssuer>;
}

/** One place `auto` looked, and why it could not use it. */
export interface IssuerProbeFailure {
  readonly issuer: 'configfs-tsm' | 'sev-guest' | 'tdx-guest';
  readonly path: string;
  readonly reason: string;
}

/** ATTEST_ISSUER_UNAVAILABLE from `auto`, with every place it looked as data. */
export class NoIssuerError extends CcmeshError {
  override readonly name = 'NoIssuerError';
  readonly attempts: readonly IssuerProbeFailure[];

  constructor(attempts: readonly IssuerProbeFailure[]) {
    super(
      ErrorCode.ATTEST_ISSUER_UNAVAILABLE,
      `no evidence issuer is usable here (tried configfs-tsm, then the SEV-SNP and TDX guest devices; the simulated TEE is never chosen automatically):\n` +
        attempts.map((a) => `  ${a.issuer} (${a.path}): ${a.reason}`).join('\n'),
    );
    this.attempts = attempts;
  }
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Opens and closes a device: present and openable, or the UNAVAILABLE error saying why not. */
async function probeDevice(open: DeviceOpener, path: string, needs: string): Promise<void> {
  const dev = await open(path, needs);
  await dev.close();
}

/** Creates the issuer of `kind`; explicit kinds fail early (ATTEST_ISSUER_UNAVAILABLE) when their interface is absent. */
export async function createIssuer(kind: IssuerKind, config: IssuerSelectConfig = {}, deps: IssuerSelectDeps = {}): Promise<EvidenceIssuer> {
  const root = config.configfsRoot ?? PATHS.configfsTsmReport;
  const sevGuest = config.sevGuest ?? PATHS.sevGuestDevice;
  const tdxGuest = config.tdxGuest ?? PATHS.tdxGuestDevice;
  const fs = deps.tsmFs ?? nodeTsmFs;
  const open = deps.openDevice ?? openIoctlDevice;
  const logger = deps.logger ?? silentLogger;

  const configfs = async (): Promise<EvidenceIssuer> => {
    const probe = await probeConfigfsTsm(root, fs, deps.entryName);
    if (!probe.ok) throw new CcmeshError(ErrorCode.ATTEST_ISSUER_UNAVAILABLE, probe.reason);
    // privlevel exists for SNP only. A VMPL setting means nothing to a TD, so it is dropped there rather than
    // refused: one configuration (say, a chart value) then works on both platforms.
    const privlevel = probe.provider === 'sev_guest' ? config.vmpl : undefined;
    return new ConfigfsTsmIssuer({ root, ...(privlevel === undefined ? {} : { privlevel }) }, { fs, logger, ...(deps.entryName ? { entryName: deps.entryName } : {}) });
  };
  const sevGuestIssuer = async (): Promise<EvidenceIssuer> => {
    await probeDevice(open, sevGuest, SEV_GUEST_NEEDS);
    return new SevGuestIssuer({ device: sevGuest, ...(config.vmpl === undefined ? {} : { vmpl: config.vmpl }) }, { openDevice: open, logger });
  };
  const tdxGuestIssuer = async (): Promise<never> => {
    await probeDevice(open, tdxGuest, TDX_GUEST_NEEDS);
    throw tdReportIsNotAQuote(tdxGuest);
  };

  switch (kind) {
    case 'configfs':
      return configfs();
    case 'sev-guest':
      return sevGuestIssuer();
    case 'tdx-guest':
      return tdxGuestIssuer();
    case 'simulated':
      if (deps.simulated === undefined) {
        throw new CcmeshError(ErrorCode.ATTEST_ISSUER_UNAVAILABLE, 'the simulated TEE issuer was requested, but this caller did not provide one');
      }
      return deps.simulated();
    case 'auto': {
      const attempts: IssuerProbeFailure[] = [];
      const candidates: [IssuerProbeFailure['issuer'], string, () => Promise<EvidenceIssuer>][] = [
        ['configfs-tsm', root, configfs],
        ['sev-guest', sevGuest, sevGuestIssuer],
        ['tdx-guest', tdxGuest, tdxGuestIssuer],
      ];
      for (const [issuer, path, make] of candidates) {
        try {
          const chosen = await make();
          logger.info('evidence issuer selected', { issuer, path });
          return chosen;
        } catch (err) {
          // Bugs are not "unavailable": only the platform's absence or refusal moves auto on to the next candidate.
          if (!(err instanceof CcmeshError)) throw err;
          logger.debug('evidence issuer unusable', { issuer, path, reason: err.message });
          attempts.push({ issuer, path, reason: reasonOf(err) });
        }
      }
      throw new NoIssuerError(attempts);
    }
    default: {
      const bad: never = kind;
      throw new CcmeshError(ErrorCode.USAGE, `unknown issuer kind ${JSON.stringify(bad)} (expected one of ${ISSUER_KINDS.join(', ')})`);
    }
  }
}
