/**
 * A lean Messages upstream for the proxy benchmark: the stand-in's answers
 * (test/support/messages-endpoint.ts renders them), but rendered once at start. A streamed
 * answer is a pre-rendered SSE event sequence of about `streamBytes`, written one event per
 * `write()` as the API flushes each event, with backpressure; a non-streamed answer is one
 * small JSON message. Nothing is recorded per request, so the upstream costs less than the
 * proxy in front of it. Run as its own process; prints `{"port":N,…}` once listening.
 *
 * `node bench/support/lean-messages-upstream.ts <streamBytes> <deltaChars>`
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { message, sseEvent } from '../../test/support/messages-endpoint.ts';

const streamBytes = Number(process.argv[2] ?? 10 * 1024 * 1024);
const deltaChars = Number(process.argv[3] ?? 100);
const MODEL = 'claude-bench';

function renderStream(): Buffer[] {
  const start = { ...message(MODEL, ''), content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } };
  const head = [
    sseEvent('message_start', { type: 'message_start', message: start }),
    sseEvent('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sseEvent('ping', { type: 'ping' }),
  ];
  const delta = sseEvent('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x'.repeat(deltaChars) } });
  const events = head.map((event) => Buffer.from(event));
  let total = events.reduce((sum, event) => sum + event.length, 0);
  let deltas = 0;
  while (total < streamBytes) {
    events.push(Buffer.from(delta));
    total += Buffer.byteLength(delta);
    deltas += 1;
  }
  const tail = [
    sseEvent('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sseEvent('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: deltas } }),
    sseEvent('message_stop', { type: 'message_stop' }),
  ];
  return [...events, ...tail.map((event) => Buffer.from(event))];
}

const stream = renderStream();
const small = JSON.stringify(message(MODEL, 'Hello from the lean upstream.'));

async function writeStream(res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': 'req_bench' });
  for (const event of stream) {
    if (res.destroyed) return;
    if (!res.write(event)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
  }
  res.end();
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const streamed = Buffer.concat(chunks).includes('"stream":true');
  if (streamed) {
    await writeStream(res);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(small), 'request-id': 'req_bench' });
  res.end(small);
}

const server = createServer((req, res) => {
  handle(req, res).catch(() => {
    res.destroy();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const bytes = stream.reduce((sum, event) => sum + event.length, 0);
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port, streamBytes: bytes, events: stream.length })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
