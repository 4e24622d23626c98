/**
 * The test suite's Messages stand-in (test/support/messages-endpoint.ts) in a process of its
 * own, streaming about `streamBytes` of `deltaChars`-character deltas; prints `{"port":N}`.
 *
 * `node bench/support/messages-stand-in-process.ts <streamBytes> <deltaChars>`
 */
import { sseEvent, startMessagesEndpoint } from '../../test/support/messages-endpoint.ts';

const streamBytes = Number(process.argv[2] ?? 10 * 1024 * 1024);
const deltaChars = Number(process.argv[3] ?? 100);
const deltaText = 'x'.repeat(deltaChars);
const eventBytes = Buffer.byteLength(sseEvent('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: deltaText } }));
const endpoint = await startMessagesEndpoint({ stream: { deltas: Math.ceil(streamBytes / eventBytes), deltaText } });
process.stdout.write(`${JSON.stringify({ port: Number(new URL(endpoint.url).port) })}\n`);
process.on('SIGTERM', () => {
  void endpoint.close();
});
