/** Every implementation of the reference path, in the order the report shows them. */
import { ccmeshPeer } from './ccmesh.js';
import { directPeer } from './direct.js';
import { haproxyPeer } from './haproxy.js';
import { nginxPeer } from './nginx.js';
import type { PeerAdapter } from './peer.js';

/** direct (the limit), the two reference proxies, then ccmesh. */
export const ALL_PEERS: readonly PeerAdapter[] = [directPeer, haproxyPeer, nginxPeer, ccmeshPeer];
