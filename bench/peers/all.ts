/** Every implementation of the reference path, in the order the report shows them. */
import { ccmeshPeer, ccmeshPerConnPeer } from './ccmesh.js';
import { directPeer } from './direct.js';
import { haproxyPeer } from './haproxy.js';
import { nginxPeer } from './nginx.js';
import type { PeerAdapter } from './peer.js';

/** direct (the limit), the two reference proxies, then ccmesh per-connection (`--tunnel off`) and ccmesh (pooled tunnel). */
export const ALL_PEERS: readonly PeerAdapter[] = [directPeer, haproxyPeer, nginxPeer, ccmeshPerConnPeer, ccmeshPeer];
