/**
 * The HTTP client Node processes forward shards' events to their holder with (peer-forwarder.ts):
 * undici's fetch on an agent whose connections must be established within `connectTimeoutMs`.
 * Node's global fetch waits up to 10 s for a connection, so a holder whose host vanished (a
 * blackholed address, not a refused port) stalled every forwarded request that long; peers sit on
 * one network, so a second is ample. A connect timeout fails before anything was sent, so the
 * forwarder commits locally (If-Match keeps that safe) instead of answering "outcome unknown".
 */
import { Agent, fetch as undiciFetch } from 'undici';
import type { PeerFetch } from './peer-forwarder.ts';

export const DEFAULT_PEER_CONNECT_TIMEOUT_MS = 1000;

export function nodePeerFetch(connectTimeoutMs = DEFAULT_PEER_CONNECT_TIMEOUT_MS): PeerFetch {
  const dispatcher = new Agent({ connect: { timeout: connectTimeoutMs } });
  return (url, init) => undiciFetch(url, { ...init, dispatcher });
}
