/**
 * A local stand-in for the Messages API, `POST /v1/messages`: a JSON message, or with
 * `"stream": true` a server-sent event stream in the real event order (message_start,
 * content_block_start, ping, content_block_delta…, content_block_stop, message_delta,
 * message_stop). It records each request's credentials and betas, can require a valid
 * token (`oauthTokenRules`: as the real API treats an OAuth token), can stream large answers
 * with backpressure, and notices client disconnects.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TokenExchange } from '../../contract/index.ts';
import { listenStandIn, type ListenOptions } from './listen.ts';

export const MESSAGES_PATH = '/v1/messages';

export interface MessagesCredential {
  /** The `authorization` header as sent (e.g. `Bearer sk-ant-oat01-…`). */
  readonly authorization: string | undefined;
  readonly apiKey: string | undefined;
  /** The `anthropic-beta` header (the SDKs send `oauth-2025-04-20` with an OAuth token). */
  readonly anthropicBeta?: string | undefined;
}

export interface StreamShape {
  /** Number of `content_block_delta` events. Default 3. */
  readonly deltas?: number;
  /** Text of each delta. Default `"Hello "`. */
  readonly deltaText?: string;
  /** Wait between deltas (real timers). Default 0. */
  readonly delayMs?: number;
}

/** `true` accepts; `false` refuses with a generic message; a string refuses with that message. */
export type MessagesAuthorization = boolean | string;

export interface MessagesEndpointOptions {
  /** Accepts or refuses a request's credential; default: accept everything. Refused → 401. */
  readonly authorize?: (credential: MessagesCredential) => MessagesAuthorization;
  /** Text of a non-streamed answer. Default `"Hello from the Messages stand-in."`. */
  readonly responseText?: string;
  readonly stream?: StreamShape;
}

/** A canned answer for the next request (before authorization and normal handling). */
export interface ScriptedMessagesResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

export interface RecordedMessagesRequest {
  readonly atMs: number;
  readonly method: string;
  /** Path with query, e.g. `/v1/messages?beta=true`. */
  readonly path: string;
  readonly authorization: string | undefined;
  readonly apiKey: string | undefined;
  readonly anthropicBeta: string | undefined;
  readonly anthropicVersion: string | undefined;
  readonly userAgent: string | undefined;
  /** All headers, lowercased. */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed JSON body (undefined when not JSON). */
  readonly body: unknown;
  readonly bodyBytes: number;
  readonly stream: boolean;
  /** Filled in as the answer goes out. */
  status: number;
  /** The error message of a refused credential (401). */
  refusal: string | undefined;
  bytesSent: number;
  /** The answer was fully written. */
  completed: boolean;
  /** The client closed the connection before the answer was complete. */
  clientDisconnected: boolean;
}

export interface MessagesEndpoint {
  /** `http://127.0.0.1:<port>`: the SDK's or the proxy's upstream base URL. */
  readonly url: string;
  readonly requests: readonly RecordedMessagesRequest[];
  /** How many answers were cut short by the client. */
  readonly disconnects: number;
  /** Resolves with the next request whose client disconnects early. */
  nextDisconnect(): Promise<RecordedMessagesRequest>;
  /** Changes how later requests are answered. */
  configure(options: Partial<MessagesEndpointOptions>): void;
  /** Queues canned answers, one per request, before normal handling resumes. */
  script(...responses: readonly ScriptedMessagesResponse[]): void;
  close(): Promise<void>;
}

const MAX_REQUEST_BYTES = 32 * 1024 * 1024;

export async function startMessagesEndpoint(initial: MessagesEndpointOptions = {}, listen?: ListenOptions): Promise<MessagesEndpoint> {
  let options: MessagesEndpointOptions = initial;
  const requests: RecordedMessagesRequest[] = [];
  const scripts: ScriptedMessagesResponse[] = [];
  const disconnected = new EventEmitter();
  let disconnects = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const record = recordRequest(req, raw);
    requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) {
        record.clientDisconnected = true;
        disconnects += 1;
        disconnected.emit('disconnect', record);
      }
    });
    const script = scripts.shift();
    if (script !== undefined) {
      sendJson(res, record, { status: script.status, body: script.body ?? {}, headers: script.headers });
      return;
    }
    const path = record.path.split('?')[0];
    if (path !== MESSAGES_PATH || record.method !== 'POST') {
      sendJson(res, record, { status: 404, body: apiError('not_found_error', `${record.method} ${path ?? ''} not found`) });
      return;
    }
    const verdict = options.authorize?.({ authorization: record.authorization, apiKey: record.apiKey, anthropicBeta: record.anthropicBeta }) ?? true;
    if (verdict !== true) {
      record.refusal = verdict === false ? 'invalid authentication credentials' : verdict;
      sendJson(res, record, { status: 401, body: apiError('authentication_error', record.refusal) });
      return;
    }
    const body = (typeof record.body === 'object' && record.body !== null ? record.body : {}) as Record<string, unknown>;
    const model = typeof body.model === 'string' ? body.model : 'claude-test';
    if (record.stream) {
      await streamMessage(res, record, { model, shape: options.stream ?? {} });
    } else {
      sendJson(res, record, { status: 200, body: message(model, options.responseText ?? 'Hello from the Messages stand-in.') });
    }
  }

  const { server, url } = await listenStandIn((req, res) => {
    handle(req, res).catch(() => {
      res.destroy();
    });
  }, listen);

  return {
    url,
    requests,
    get disconnects() {
      return disconnects;
    },
    nextDisconnect: async () => {
      const [record] = (await once(disconnected, 'disconnect')) as [RecordedMessagesRequest];
      return record;
    },
    configure: (next) => {
      options = { ...options, ...next };
    },
    script: (...responses) => {
      scripts.push(...responses);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/** What an OAuth access token looks like (`sk-ant-oat01-…`). */
const OAUTH_TOKEN_PREFIX = 'sk-ant-oat';

/** The real API's refusals for an OAuth token sent the wrong way. */
export const OAuthRefusal = {
  apiKey: 'invalid x-api-key',
  missingBeta: 'OAuth authentication is currently not supported.',
  invalidToken: 'Invalid bearer token',
  noCredential: 'x-api-key header is required',
} as const;

/**
 * The real API's rules for an OAuth token: `X-Api-Key` holding one is refused (it is not an
 * API key), and `Authorization: Bearer` is accepted only with the `oauth-2025-04-20` beta and
 * a token `isLive` accepts (issued, not expired, not revoked). An API key is refused too:
 * these tests hold none.
 */
export function oauthTokenRules(isLive: (accessToken: string) => boolean): (credential: MessagesCredential) => MessagesAuthorization {
  return ({ authorization, apiKey, anthropicBeta }) => {
    if (apiKey !== undefined) return OAuthRefusal.apiKey;
    if (authorization?.startsWith('Bearer ') !== true) return OAuthRefusal.noCredential;
    const token = authorization.slice('Bearer '.length);
    const betas = (anthropicBeta ?? '').split(',').map((beta) => beta.trim());
    if (token.startsWith(OAUTH_TOKEN_PREFIX) && !betas.includes(TokenExchange.oauthBeta)) return OAuthRefusal.missingBeta;
    return isLive(token) ? true : OAuthRefusal.invalidToken;
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function recordRequest(req: IncomingMessage, raw: Buffer): RecordedMessagesRequest {
  const headers: Record<string, string> = {};
  for (const name of Object.keys(req.headers)) headers[name] = header(req, name) ?? '';
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    body = undefined;
  }
  return {
    atMs: Date.now(),
    method: req.method ?? '',
    path: req.url ?? '',
    authorization: header(req, 'authorization'),
    apiKey: header(req, 'x-api-key'),
    anthropicBeta: header(req, 'anthropic-beta'),
    anthropicVersion: header(req, 'anthropic-version'),
    userAgent: header(req, 'user-agent'),
    headers,
    body,
    bodyBytes: raw.length,
    stream: typeof body === 'object' && body !== null && (body as { stream?: unknown }).stream === true,
    status: 0,
    refusal: undefined,
    bytesSent: 0,
    completed: false,
    clientDisconnected: false,
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size <= MAX_REQUEST_BYTES) chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

function apiError(type: string, text: string): unknown {
  return { type: 'error', error: { type, message: text } };
}

/** A non-streamed Messages answer. */
export function message(model: string, text: string): Record<string, unknown> {
  return {
    id: newId('msg'),
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: Math.max(1, Math.ceil(text.length / 4)) },
  };
}

function sendJson(res: ServerResponse, record: RecordedMessagesRequest, answer: { status: number; body: unknown; headers?: Readonly<Record<string, string>> | undefined }): void {
  const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  const bytes = Buffer.byteLength(text);
  res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': bytes, 'request-id': newId('req'), ...answer.headers });
  record.status = answer.status;
  res.end(text, () => {
    record.bytesSent = bytes;
    record.completed = true;
  });
}

/** Waits for backpressure to clear or the client to leave, leaving no listener behind. */
function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** One SSE event as the API frames it. */
export function sseEvent(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

async function streamMessage(res: ServerResponse, record: RecordedMessagesRequest, input: { model: string; shape: StreamShape }): Promise<void> {
  const deltas = input.shape.deltas ?? 3;
  const deltaText = input.shape.deltaText ?? 'Hello ';
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': newId('req') });
  record.status = 200;
  const write = async (text: string): Promise<boolean> => {
    if (res.destroyed) return false;
    record.bytesSent += Buffer.byteLength(text);
    if (!res.write(text)) await drainOrClose(res);
    return !res.destroyed;
  };
  const start = { ...message(input.model, ''), content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } };
  const head = [
    sseEvent('message_start', { type: 'message_start', message: start }),
    sseEvent('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sseEvent('ping', { type: 'ping' }),
  ];
  for (const event of head) if (!(await write(event))) return;
  for (let i = 0; i < deltas; i++) {
    if (!(await write(sseEvent('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: deltaText } })))) return;
    if (input.shape.delayMs !== undefined && input.shape.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, input.shape.delayMs));
  }
  const tail = [
    sseEvent('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sseEvent('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: deltas } }),
    sseEvent('message_stop', { type: 'message_stop' }),
  ];
  for (const event of tail) if (!(await write(event))) return;
  res.end(() => {
    record.completed = true;
  });
}
