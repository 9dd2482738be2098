/**
 * Test helpers shared by every tier: where the repository is (tests run from dist/), the real attestation
 * samples in testdata/attestation and their facts.json expectations.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root (this file compiles to dist/test/fixtures.js). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Absolute path of a file under testdata/attestation. */
export function attestationSample(rel: string): string {
  return join(repoRoot, 'testdata', 'attestation', rel);
}

/** Bytes of a file under testdata/attestation. */
export function readSample(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(attestationSample(rel)));
}

/** The parsed facts.json: expectations recorded independently of ccmesh's code. */
export interface Facts {
  readonly files: Record<string, Record<string, unknown> & {
    readonly verification_time?: { readonly recommended_fixed_now: string };
    readonly expected_result?: string;
  }>;
}

let cached: Facts | undefined;
/** Loads facts.json once. */
export function facts(): Facts {
  cached ??= JSON.parse(readFileSync(attestationSample('facts.json'), 'utf8')) as Facts;
  return cached;
}

/** The facts entry of one sample file; throws if the sample is unknown (a typo in a test). */
export function factOf(rel: string): Facts['files'][string] {
  const f = facts().files[rel];
  if (!f) throw new Error(`no facts.json entry for ${rel}`);
  return f;
}
