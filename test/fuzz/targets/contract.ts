/**
 * Fuzz targets of what users and pods hand the mesh as text or JSON: the manifest, the ingress/egress grammar of
 * annotations and flags, mesh-owner pins, seed-share files, AdmissionReviews and pod annotations.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedShareFilesFor } from '../../../cli/seed-share-files.js';
import { canonicalBytesOf } from '../../../contract/manifest/canonical.js';
import { parseManifest, parseManifestValue } from '../../../contract/manifest/parse.js';
import { readManifestDocument } from '../../../contract/manifest/read-document.js';
import { readPodAnnotations } from '../../../k8s/annotations.js';
import { reviewAdmission } from '../../../k8s/webhook/admission.js';
import { CcmeshError } from '../../../lib/errors.js';
import { parseEgressSpec, renderEgressSpec } from '../../../lib/mesh-config/egress.js';
import { parseIngressSpec } from '../../../lib/mesh-config/ingress.js';
import { formatMeshOwnerPin, parseMeshOwnerPin } from '../../../lib/protocol/mesh-owner.js';
import { FuzzViolation, NEVER_THROWS, refusedWith, type FuzzTarget } from '../target.js';

const text = (b: unknown): string => Buffer.from(b as Uint8Array).toString('utf8');

let shareDir: string | undefined;
process.once('exit', () => {
  if (shareDir) rmSync(shareDir, { recursive: true, force: true });
});

export const CONTRACT_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'manifest',
    what: 'manifest parser on JSON values (schema, keys, reference values, policies); accepted manifests re-parse from their canonical bytes',
    kind: 'json',
    run: (v) => {
      const m = parseManifestValue(v);
      const again = parseManifest(canonicalBytesOf(m));
      if (Buffer.compare(canonicalBytesOf(again), canonicalBytesOf(m)) !== 0) throw new FuzzViolation('canonical bytes differ after a re-parse');
    },
    refusal: refusedWith(CcmeshError),
  },
  {
    name: 'manifest-document',
    what: 'manifest document reader on raw bytes (UTF-8, JSON text limits, document shape)',
    kind: 'bytes',
    run: (b) => readManifestDocument(b as Uint8Array),
    refusal: refusedWith(CcmeshError),
  },
  {
    name: 'mesh-ingress',
    what: 'ingress grammar (name#port#mode##…): issues, never exceptions',
    kind: 'bytes',
    run: (b) => {
      const r = parseIngressSpec(text(b));
      if (!Array.isArray(r.entries) || !Array.isArray(r.issues)) throw new FuzzViolation('malformed result');
    },
    refusal: NEVER_THROWS,
  },
  {
    name: 'mesh-egress',
    what: 'egress grammar (name#listen#remote#identity##…): issues, never exceptions; accepted specs render and re-parse to the same entries',
    kind: 'bytes',
    run: (b) => {
      const r = parseEgressSpec(text(b));
      if (r.issues.length > 0 || r.entries.length === 0) return;
      // Rendering writes every identity out, so only where an identity came from (field, pin, remote) may change.
      const plain = (e: readonly object[]): string => JSON.stringify(e.map((x) => ({ ...x, identitySource: undefined })));
      const again = parseEgressSpec(renderEgressSpec(r.entries));
      if (again.issues.length > 0 || plain(again.entries) !== plain(r.entries)) throw new FuzzViolation(`round trip changed the entries: ${JSON.stringify(again)}`);
    },
    refusal: NEVER_THROWS,
  },
  {
    name: 'mesh-owner-pin',
    what: 'mesh-owner pin (64 hex digits) from flags and files: parse, format, parse again',
    kind: 'bytes',
    run: (b) => {
      const pin = parseMeshOwnerPin(text(b));
      if (pin && parseMeshOwnerPin(formatMeshOwnerPin(pin)) === undefined) throw new FuzzViolation('a parsed pin does not re-parse');
    },
    refusal: NEVER_THROWS,
  },
  {
    name: 'seed-share-files',
    what: 'the CLI\'s seed-share file reader on the file\'s bytes',
    kind: 'bytes',
    run: async (b) => {
      shareDir ??= mkdtempSync(join(tmpdir(), 'ccmesh-fuzz-shares-'));
      writeFileSync(join(shareDir, 'seed-shares.json'), b as Uint8Array);
      await seedShareFilesFor(shareDir, 'ab'.repeat(32), 'cd'.repeat(8));
    },
    refusal: refusedWith(CcmeshError),
  },
  {
    name: 'admission-review',
    what: 'the injector\'s AdmissionReview handling (Pods, Deployments, …): a review or problems, never an exception',
    kind: 'json',
    run: (v) => {
      const r = reviewAdmission(v);
      if (r.ok && r.review.response.uid === undefined) throw new FuzzViolation('an answer without the request uid');
    },
    refusal: NEVER_THROWS,
  },
  {
    name: 'pod-annotations',
    what: 'ccmesh pod annotations of a pod template (ports, ingress, egress, volumes)',
    kind: 'json',
    // A template is always an object (the API server's JSON); anything else is put where the annotations go.
    run: (v) => readPodAnnotations((typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { metadata: { annotations: v } }) as Record<string, unknown>, 'fuzz'),
    refusal: refusedWith(CcmeshError),
  },
];
