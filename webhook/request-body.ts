/**
 * Reads a request body within a byte limit, the way the webhook's only body-carrying route
 * needs it: a declared length over the limit is refused before a byte is read; a chunked or
 * compressed body (gzip, deflate, br) is counted as it is inflated, so a compression bomb
 * stops at the limit too; any other content encoding is refused. A refused body is read off
 * and dropped before the answer, as express's body parser does.
 */
import type { IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

export type BodyRead =
  | { readonly kind: 'body'; readonly body: Buffer }
  /** Answer with this status and close the connection: the rest of the body is not read. */
  | { readonly kind: 'refused'; readonly status: 400 | 413 | 415; readonly message: string }
  /** The client went away or broke the stream: there is nobody to answer. */
  | { readonly kind: 'aborted'; readonly reason: string };

const INFLATERS: ReadonlyMap<string, () => Transform> = new Map([
  ['gzip', createGunzip],
  ['x-gzip', createGunzip],
  ['deflate', createInflate],
  ['br', createBrotliDecompress],
]);

export function tooLargeMessage(maxBytes: number): string {
  return `request body is larger than the limit of ${String(maxBytes)} bytes`;
}

function contentEncoding(req: IncomingMessage): string {
  return (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
}

/** The declared length, when it is one; a malformed one is left to the HTTP parser. */
function declaredLength(req: IncomingMessage): number | undefined {
  const length = req.headers['content-length'];
  return length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
}

/**
 * Reads off and drops the rest of the body, then gives the refusal, so a client still sending
 * gets its answer rather than a reset (as express's body parser does). The server's request
 * timeout bounds how long that may take.
 */
function drained(req: IncomingMessage, refusal: BodyRead): Promise<BodyRead> {
  if (req.complete) return Promise.resolve(refusal);
  return new Promise((resolve) => {
    req.on('end', () => {
      resolve(refusal);
    });
    req.on('close', () => {
      resolve(refusal);
    });
    req.resume();
  });
}

export function readRequestBody(req: IncomingMessage, maxBytes: number): Promise<BodyRead> {
  const encoding = contentEncoding(req);
  const inflater = encoding === 'identity' ? undefined : INFLATERS.get(encoding);
  if (encoding !== 'identity' && inflater === undefined) {
    return drained(req, { kind: 'refused', status: 415, message: `unsupported content encoding ${JSON.stringify(encoding.slice(0, 64))}` });
  }
  const declared = declaredLength(req);
  if (inflater === undefined && declared !== undefined && declared > maxBytes) {
    return drained(req, { kind: 'refused', status: 413, message: tooLargeMessage(maxBytes) });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const settle = (result: BodyRead): void => {
      if (settled) return;
      settled = true;
      if (result.kind !== 'refused') {
        resolve(result);
        return;
      }
      stream.removeListener('data', onData);
      if (stream !== req) {
        req.unpipe();
        stream.destroy();
      }
      void drained(req, result).then(resolve);
    };
    const stream = inflater === undefined ? req : req.pipe(inflater());
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > maxBytes) {
        settle({ kind: 'refused', status: 413, message: tooLargeMessage(maxBytes) });
        return;
      }
      chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.on('end', () => {
      settle({ kind: 'body', body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks) });
    });
    if (stream !== req) {
      stream.on('error', () => {
        settle({ kind: 'refused', status: 400, message: `request body is not valid ${encoding} data` });
      });
    }
    req.on('error', () => {
      settle({ kind: 'aborted', reason: 'request aborted' });
    });
    req.on('close', () => {
      if (!req.complete) settle({ kind: 'aborted', reason: 'request aborted' });
    });
  });
}
