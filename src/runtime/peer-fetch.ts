/**
 * The HTTP client Node processes forward shards' events to their holder with (peer-forwarder.ts):
 * undici's `request` on an agent whose connections must be established within `connectTimeoutMs`.
 * Node's global fetch waits up to 10 s for a connection, so a holder whose host vanished (a
 * blackholed address, not a refused port) stalled every forwarded request that long; peers sit on
 * one network, so a second is ample. A connect timeout fails before anything was sent, so the
 * forwarder commits locally (If-Match keeps that safe) instead of answering "outcome unknown".
 *
 * `request`, not undici's `fetch`: the WHATWG Request, Response and web streams around every call
 * cost ~300-500 µs of CPU per forwarded call here (a loopback POST of a 100-event body: ~350 µs of
 * client and server CPU with `request`, ~700-950 µs with `fetch`), paid on the cores the holder
 * commits on. `request` throws the system error itself (fetch wraps it as `cause`);
 * `notConnected` reads either.
 */
import { Agent, request } from 'undici';
import type { PeerFetch } from './peer-forwarder.ts';

export const DEFAULT_PEER_CONNECT_TIMEOUT_MS = 1000;

export function nodePeerFetch(connectTimeoutMs = DEFAULT_PEER_CONNECT_TIMEOUT_MS): PeerFetch {
  const dispatcher = new Agent({ connect: { timeout: connectTimeoutMs } });
  return async (url, init) => {
    const res = await request(url, { method: init.method, headers: init.headers, body: init.body, signal: init.signal, dispatcher });
    return { status: res.statusCode, text: () => res.body.text() };
  };
}
