/**
 * How the proxy relays a streamed body: the chunks one upstream read delivers are written to
 * the client together, at the end of that tick. Nothing may be lost, reordered or held back
 * waiting for more, including when each SSE event is its own chunk.
 */
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startProxy, type RunningProxy } from '../../agent/proxy/proxy.ts';
import { systemClock } from '../../runtime/clock.ts';
import { silentLogger } from '../../runtime/logger.ts';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function event(i: number): string {
  return `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${String(i).padStart(6, '0')}"}}\n\n`;
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function proxyTo(upstreamUrl: string): Promise<{ proxy: RunningProxy; registry: Registry }> {
  const registry = new Registry();
  const proxy = await startProxy({
    listen: { host: '127.0.0.1', port: 0 },
    upstreamUrl,
    currentToken: () => ({ accessToken: 'sk-ant-oat01-streaming-test', expiresAtMs: Date.now() + 3_600_000 }),
    clock: systemClock,
    logger: silentLogger(),
    registry,
  });
  cleanups.push(() => proxy.close());
  return { proxy, registry };
}

/** POSTs a stream request through the proxy; `onData` sees each chunk as it arrives. */
function streamThrough(proxy: RunningProxy, onData: (chunk: Buffer) => void = () => undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`http://127.0.0.1:${proxy.address.port}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        onData(chunk);
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end('{"stream":true}');
  });
}

describe('proxy streaming', () => {
  it('relays 20,000 events written as 20,000 chunks complete and in order, and counts every byte', async () => {
    const events = Array.from({ length: 20_000 }, (_, i) => event(i));
    const upstream = createServer((_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      void (async () => {
        for (const text of events) if (!res.write(text)) await once(res, 'drain');
        res.end();
      })();
    });
    const { proxy, registry } = await proxyTo(await listen(upstream));

    const reply = await streamThrough(proxy);

    const expected = events.join('');
    expect([reply.status, reply.body.length, reply.body === expected]).toEqual([200, expected.length, true]);
    const bytes = (await registry.metrics()).split('\n').find((line) => line.startsWith('anthropic_wif_proxy_bytes_total{direction="response"}'));
    expect(bytes).toBe(`anthropic_wif_proxy_bytes_total{direction="response"} ${String(Buffer.byteLength(expected))}`);
  });

  it('sends each event on as soon as it arrives, without waiting for the next', async () => {
    let sendSecond: () => void = () => undefined;
    const secondAllowed = new Promise<void>((resolve) => (sendSecond = resolve));
    const upstream = createServer((_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(event(1));
      void secondAllowed.then(() => {
        res.end(event(2));
      });
    });
    const { proxy } = await proxyTo(await listen(upstream));
    const seenBeforeSecond: string[] = [];

    const reply = await streamThrough(proxy, (chunk) => {
      if (seenBeforeSecond.length === 0) {
        seenBeforeSecond.push(chunk.toString('utf8'));
        sendSecond();
      }
    });

    expect([seenBeforeSecond, reply.body]).toEqual([[event(1)], event(1) + event(2)]);
  });
});
