/**
 * Fuzz targets of what a mesh peer hands the sidecar beyond the TLS handshake: the request headers of a tunnel stream
 * (any peer with a pooled connection chooses them), and the SAN text the `peer` metric label is read from.
 */
import { MAX_PEER_LABEL_LENGTH, workloadIdOf } from '../../../proxy/transport/peer-label.js';
import { readTunnelRequest, tunnelAuthority } from '../../../proxy/tunnel/protocol.js';
import { FuzzViolation, NEVER_THROWS, type FuzzTarget } from '../target.js';

const WORKLOAD_ID = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export const PROXY_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'tunnel-request',
    what: 'a tunnel stream\'s request headers on the inbound side (proxy/tunnel/protocol.ts): a port or a refusal, never an exception; an accepted one is a plain CONNECT to exactly 127.0.0.1:PORT',
    kind: 'json',
    run: (headers) => {
      const r = readTunnelRequest(headers);
      if (!r.ok) return;
      const h = headers as Record<string, unknown>;
      if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65_535) throw new FuzzViolation(`accepted port ${r.port}`);
      if (h[':method'] !== 'CONNECT' || h[':authority'] !== tunnelAuthority(r.port)) throw new FuzzViolation('accepted a request that is not CONNECT 127.0.0.1:PORT');
      if (':path' in h || ':scheme' in h || ':protocol' in h) throw new FuzzViolation('accepted a CONNECT with :path, :scheme or :protocol');
    },
    refusal: NEVER_THROWS,
  },
  {
    name: 'peer-label',
    what: 'the workload id of a leaf\'s SAN text for the `peer` metric label (proxy/transport/peer-label.ts): undefined or a bounded SPIFFE path, never an exception',
    kind: 'bytes',
    run: (b) => {
      const id = workloadIdOf(Buffer.from(b as Uint8Array).toString('utf8'));
      if (id === undefined) return;
      if (id.length > MAX_PEER_LABEL_LENGTH || !WORKLOAD_ID.test(id) || id.split('/').some((s) => s === '.' || s === '..')) throw new FuzzViolation(`label ${JSON.stringify(id.slice(0, 80))} is not a bounded workload id`);
    },
    refusal: NEVER_THROWS,
  },
];
