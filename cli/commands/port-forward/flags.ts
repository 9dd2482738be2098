/** `ccmesh port-forward` flags and arguments → a frozen PortForwardConfig, every problem reported at once (exit 64). */
import { isIP } from 'node:net';
import { tokeniseFlags } from '../../../lib/config/argv.js';
import { FieldReader } from '../../../lib/config/fields.js';
import { EGRESS_IDENTITY_EXPECTED, parseEgressIdentity } from '../../../lib/mesh-config/egress.js';
import type { EgressIdentity } from '../../../lib/mesh-config/egress.js';
import { parsePortText } from '../../../lib/mesh-config/ingress.js';
import { PORTS } from '../../../lib/mesh-ports.js';

/** Flags of `ccmesh port-forward`. */
export const PORT_FORWARD_FLAGS = {
  coordinator: { type: 'string', short: 'c' },
  dir: { type: 'string' },
  'owner-key': { type: 'string' },
  identity: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  address: { type: 'string' },
  'mtls-port': { type: 'string' },
  kubectl: { type: 'string' },
  wait: { type: 'string' },
  'tdx-collateral': { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Usage of `ccmesh port-forward`. */
export const PORT_FORWARD_USAGE = `Usage:
  ccmesh port-forward POD-OR-ADDRESS LOCAL:REMOTE -c HOST:PORT --identity SAN [--dir WORKSPACE]
                      [--owner-key FILE] [-n NAMESPACE] [--address 127.0.0.1] [--mtls-port ${PORTS.inboundMtls}]
                      [--kubectl kubectl] [--wait 120s] [--tdx-collateral DIR]

Forwards LOCAL on this machine to port REMOTE of a meshed pod, end to end encrypted: the host, the node and
"kubectl port-forward" relay only TLS records. Attests the Coordinator at HOST:PORT against WORKSPACE/manifest.json,
obtains a short-lived operator certificate from it (signed for with the workload owner key), listens on
--address:LOCAL, and carries each accepted connection over mTLS to the pod's mTLS port (${PORTS.inboundMtls}), naming REMOTE
in the TLS server name; the pod's sidecar admits it only if REMOTE's ingress entry says mtls+operator. The pod's
certificate must chain to the mesh CA and carry --identity. The operator certificate is renewed before it expires.
  POD-OR-ADDRESS  an IP address: connect to ADDRESS:--mtls-port directly (it must be routable from here);
                  anything else is a pod name (NAME or pod/NAME): "kubectl port-forward" to its mTLS port
  --identity SAN  the SAN the pod's certificate must carry: a DNS name, spiffe://<trust-domain>/<path> or an IP
                  address; * accepts any workload of the mesh
  --owner-key FILE  the workload owner key (default WORKSPACE/keys/workload-owner.pem)
  --address HOST    where to listen (default 127.0.0.1; other hosts reach plaintext there)
  --kubectl PATH    the kubectl binary (default: kubectl on PATH)
Stop with Ctrl-C.
`;

/** Where connections go: straight to an address, or through `kubectl port-forward` to a pod. */
export type PortForwardTarget = { readonly kind: 'address'; readonly host: string } | { readonly kind: 'pod'; readonly name: string; readonly namespace: string | undefined };

/** Parsed port-forward configuration. */
export interface PortForwardConfig {
  readonly target: PortForwardTarget;
  readonly localPort: number;
  readonly remotePort: number;
  readonly listenHost: string;
  readonly mtlsPort: number;
  readonly identity: EgressIdentity;
  readonly coordinator: string;
  readonly dir: string;
  readonly ownerKeyPath: string | undefined;
  readonly kubectl: string;
  readonly waitMs: number;
  readonly tdxCollateralDir: string | undefined;
}

const POD_RE = /^(?:pod\/)?([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$/;

/** Parses argv; throws ConfigError (exit 64) naming every bad flag or argument. */
export function parsePortForwardArgs(argv: readonly string[]): PortForwardConfig {
  const tok = tokeniseFlags(argv, PORT_FORWARD_FLAGS);
  const r = new FieldReader('flags for "ccmesh port-forward"', tok.values, '--');
  for (const issue of tok.issues) r.issue(issue.field, issue.value, issue.expected, { bare: true });
  const [targetText, portsText, ...extra] = tok.positionals;
  for (const p of extra) r.issue('argument', p, 'exactly two arguments: POD-OR-ADDRESS LOCAL:REMOTE', { bare: true });
  let target: PortForwardTarget | undefined;
  const namespace = r.raw('namespace');
  if (targetText === undefined) r.issue('POD-OR-ADDRESS', undefined, 'a pod name or an IP address (first argument)', { bare: true });
  else if (isIP(targetText.replace(/^\[|\]$/g, '')) !== 0) {
    target = { kind: 'address', host: targetText.replace(/^\[|\]$/g, '') };
    if (namespace !== undefined) r.issue('namespace', namespace, 'no --namespace with an IP address (it names a pod\'s namespace)');
  } else {
    const m = POD_RE.exec(targetText);
    if (m) target = { kind: 'pod', name: m[1]!, namespace };
    else r.issue('POD-OR-ADDRESS', targetText, 'a pod name (lowercase DNS subdomain, optionally pod/NAME) or an IP address', { bare: true });
  }
  let localPort: number | undefined;
  let remotePort: number | undefined;
  if (portsText === undefined) r.issue('LOCAL:REMOTE', undefined, 'the local and the pod\'s port, e.g. 8080:80 (second argument)', { bare: true });
  else {
    const [l = '', rem, more] = portsText.split(':');
    localPort = parsePortText(l);
    remotePort = rem === undefined ? undefined : parsePortText(rem);
    if (more !== undefined || localPort === undefined || remotePort === undefined) r.issue('LOCAL:REMOTE', portsText, 'two port numbers from 1 to 65535, e.g. 8080:80', { bare: true });
  }
  const coordinator = r.raw('coordinator');
  if (coordinator === undefined) r.issue('coordinator', undefined, 'the Coordinator address HOST:PORT (-c)');
  const identityText = r.raw('identity');
  const identity = identityText === undefined ? undefined : parseEgressIdentity(identityText);
  if (identityText === undefined) r.issue('identity', undefined, `the identity the pod's certificate must carry: ${EGRESS_IDENTITY_EXPECTED}`);
  else if (identity === undefined) r.issue('identity', identityText, EGRESS_IDENTITY_EXPECTED);
  const listenHost = r.raw('address') ?? '127.0.0.1';
  if (isIP(listenHost) === 0 && listenHost !== 'localhost') r.issue('address', listenHost, 'an IP address of this machine to listen on (default 127.0.0.1)');
  const mtlsPort = r.port('mtls-port', PORTS.inboundMtls);
  const waitMs = r.duration('wait', 120_000);
  r.finish();
  return Object.freeze({
    target: target!,
    localPort: localPort!,
    remotePort: remotePort!,
    listenHost,
    mtlsPort: mtlsPort!,
    identity: identity!,
    coordinator: coordinator!,
    dir: r.raw('dir') ?? '.',
    ownerKeyPath: r.raw('owner-key'),
    kubectl: r.raw('kubectl') ?? 'kubectl',
    waitMs: waitMs!,
    tdxCollateralDir: r.raw('tdx-collateral'),
  });
}
