/**
 * Lingering close for the Node server. When Node closes a connection after an answer that carries
 * `Connection: close` (an early 413, a 401 before the body was read), it destroys the socket as
 * soon as the answer is flushed. The client is usually still uploading; closing a socket with
 * unread bytes makes the kernel send a reset, and a reset that reaches the client before it read
 * the answer discards the answer: the client sees ECONNRESET/EPIPE instead of the 413. So, as
 * HTTP servers do (nginx's lingering_close), a socket that Node is about to close first sends its
 * FIN, then keeps reading and discarding what the client still sends — until the client closes
 * its side, or `maxMs`, or `maxBytes`, whichever comes first — and only then is destroyed.
 */
import type { Socket } from 'node:net';

export interface LingerLimits {
  /** Longest a closing connection keeps reading (ms). */
  readonly maxMs: number;
  /** Most bytes a closing connection reads and discards. */
  readonly maxBytes: number;
}

export const DEFAULT_LINGER: LingerLimits = { maxMs: 2_000, maxBytes: 64 * 1024 * 1024 };

/** Anything that emits 'connection' with a socket: the server `serve` answers. */
export interface ConnectionSource {
  on(event: 'connection', listener: (socket: Socket) => void): unknown;
}

/** Makes every connection of `server` linger before it closes (see the module comment). */
export function lingerBeforeClose(server: ConnectionSource, limits: LingerLimits = DEFAULT_LINGER): void {
  server.on('connection', (socket: Socket) => {
    let lingering = false;
    // Node's HTTP server ends a connection it will not reuse with `destroySoon()`.
    socket.destroySoon = () => {
      if (lingering || socket.destroyed) return;
      lingering = true;
      let read = 0;
      const close = () => {
        clearTimeout(timer);
        socket.destroy();
      };
      const timer = setTimeout(close, limits.maxMs);
      timer.unref();
      socket.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > limits.maxBytes) close();
      });
      socket.once('end', close);
      socket.once('close', () => clearTimeout(timer));
      socket.end();
      socket.resume();
    };
  });
}
