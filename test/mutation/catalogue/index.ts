/**
 * The security mutation catalogue: every security check ccmesh relies on, removed one at a time by `../run.ts`.
 * One file per area; an entry's tests must fail when its check is gone (docs/reliability.md has the latest score).
 */
import type { SecurityMutation } from '../types.js';
import { ATTESTATION_MUTATIONS } from './attestation.js';
import { CHECK_MUTATIONS } from './check.js';
import { COORDINATOR_MUTATIONS } from './coordinator.js';
import { E2E_MUTATIONS } from './e2e.js';
import { INITIALIZER_MUTATIONS } from './initializer.js';
import { IPTABLES_MUTATIONS } from './iptables.js';
import { K8S_MUTATIONS } from './k8s.js';
import { PKI_MUTATIONS } from './pki.js';
import { PROTOCOL_MUTATIONS } from './protocol.js';
import { PROXY_MUTATIONS } from './proxy.js';

export const CATALOGUE: readonly SecurityMutation[] = [
  ...ATTESTATION_MUTATIONS,
  ...COORDINATOR_MUTATIONS,
  ...PROTOCOL_MUTATIONS,
  ...PKI_MUTATIONS,
  ...PROXY_MUTATIONS,
  ...INITIALIZER_MUTATIONS,
  ...K8S_MUTATIONS,
  ...CHECK_MUTATIONS,
  ...IPTABLES_MUTATIONS,
  ...E2E_MUTATIONS,
];

const seen = new Set<string>();
for (const m of CATALOGUE) {
  if (seen.has(m.id)) throw new Error(`security mutation catalogue: id ${m.id} is listed twice`);
  seen.add(m.id);
}
