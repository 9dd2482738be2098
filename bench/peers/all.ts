/** Every implementation of the reference path, in the order the report shows them. */
import { ccmeshL7Peer, ccmeshPeer, ccmeshPerConnPeer } from './ccmesh.js';
import { directPeer } from './direct.js';
import { haproxyPeer } from './haproxy.js';
import { nginxPeer } from './nginx.js';
import type { PeerAdapter } from './peer.js';

/**
 * direct (the limit), the two reference proxies, then ccmesh per-connection (`--tunnel off`), ccmesh (pooled tunnel,
 * L4) and ccmesh-l7 (pooled tunnel, L7 HTTP ports).
 */
export const ALL_PEERS: readonly PeerAdapter[] = [directPeer, haproxyPeer, nginxPeer, ccmeshPerConnPeer, ccmeshPeer, ccmeshL7Peer];
