/**
 * One local base URL that stands in for api.anthropic.com: `POST /v1/oauth/token` goes to
 * the token endpoint stand-in, everything else to the Messages stand-in, which accepts only
 * access tokens the token endpoint issued and has not seen expire. Used where one base URL
 * must serve both (the `sdk` mode, the proxy's default upstream, the demo).
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { TokenExchange } from '../../contract/index.ts';
import { startMessagesEndpoint, type MessagesEndpoint, type MessagesEndpointOptions } from './messages-endpoint.ts';
import { startTokenEndpoint, type TokenEndpoint, type TokenEndpointOptions } from './token-endpoint.ts';

export interface AnthropicApiStandIn {
  /** `http://127.0.0.1:<port>`: the base URL for the exchange and for API calls. */
  readonly url: string;
  readonly tokens: TokenEndpoint;
  readonly messages: MessagesEndpoint;
  close(): Promise<void>;
}

function forward(target: string, req: IncomingMessage, res: ServerResponse): void {
  const upstream = request(`${target}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end('{"type":"error","error":{"type":"api_error","message":"stand-in upstream failed"}}');
  });
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

export async function startAnthropicApi(
  tokenOptions: TokenEndpointOptions,
  messagesOptions: Omit<MessagesEndpointOptions, 'authorize'> = {},
): Promise<AnthropicApiStandIn> {
  const tokens = await startTokenEndpoint(tokenOptions);
  const messages = await startMessagesEndpoint({
    ...messagesOptions,
    authorize: ({ authorization }) => authorization?.startsWith('Bearer ') === true && tokens.isValidToken(authorization.slice(7)),
  });
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    forward(path === TokenExchange.path ? tokens.url : messages.url, req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tokens,
    messages,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await Promise.all([tokens.close(), messages.close()]);
    },
  };
}
