/**
 * One refresh cycle, end to end: the agent exchanges a projected token for access token #n
 * (read from its log), the token files change on disk, and the official SDK, started with the
 * app container's env, calls Messages: the stand-in records which token it sent, shown by
 * fingerprint only.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { OutputFile, SdkEnv } from '../contract/index.ts';
import { describeError } from '../runtime/errors.ts';
import type { AnthropicApiStandIn } from '../test/support/anthropic-api.ts';
import type { IssuedToken, TokenEndpointEvent } from '../test/support/token-endpoint.ts';
import type { LoggedExchange } from './agent-log.ts';
import { fingerprint } from './fingerprint.ts';
import type { Narrator } from './narrator.ts';
import type { RunningPod } from './pod-runtime.ts';
import { callMessagesWithSdk } from './sdk-call.ts';

const FIRST_EXCHANGE_TIMEOUT_MS = 30_000;
/** Beyond the planned refresh time: room for a late kubelet rotation and the agent's file poll. */
const REFRESH_GRACE_MS = 40_000;
const FILES_TIMEOUT_MS = 10_000;
const MINTING_RULE =
  'the stand-in checked the signature (issuer JWKS), iss, aud and sub against the rule, and minted for min(rule lifetime, 2 x the JWT\'s remaining life), never under 60 s';

export interface CycleContext {
  readonly pod: RunningPod;
  readonly api: AnthropicApiStandIn;
  readonly narrator: Narrator;
  readonly signal: AbortSignal;
}

export interface CycleResult {
  readonly exchange: LoggedExchange;
  /** The SDK's Messages request carried access token #n. */
  readonly sdkSentCurrentToken: boolean;
}

function seconds(ms: number): string {
  return `${String(Math.round(ms / 1000))} s`;
}

function issuedFor(api: AnthropicApiStandIn, exchange: LoggedExchange): IssuedToken {
  const issued = api.tokens.issuedTokens;
  const token = issued.find((t) => t.requestId === exchange.requestId) ?? issued[exchange.number - 1];
  if (token === undefined) throw new Error(`the agent reports token #${String(exchange.number)} but the token endpoint stand-in issued no such token`);
  return token;
}

/** Which of the kubelet's projected tokens (1-based) carried this `jti`. */
function projectedTokenNumber(jwts: readonly string[], jti: string | undefined): number | undefined {
  const index = jwts.findIndex((jwt) => decodeJwt(jwt).jti === jti);
  return index === -1 ? undefined : index + 1;
}

async function credentialsToken(outputDir: string): Promise<string | undefined> {
  try {
    const parsed = JSON.parse(await readFile(join(outputDir, OutputFile.credentials), 'utf8')) as { access_token?: unknown };
    return typeof parsed.access_token === 'string' ? parsed.access_token : undefined;
  } catch {
    return undefined;
  }
}

async function tokenFileToken(outputDir: string): Promise<string | undefined> {
  return readFile(join(outputDir, OutputFile.token), 'utf8').catch(() => undefined);
}

/**
 * Waits until both files hold `token` (the agent writes them right after it logs, the
 * credentials file first: a busy machine can show one without the other).
 */
async function waitForFiles(outputDir: string, token: string, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + FILES_TIMEOUT_MS;
  while ((await credentialsToken(outputDir)) !== token || (await tokenFileToken(outputDir)) !== token) {
    signal.throwIfAborted();
    if (Date.now() > deadline) throw new Error(`the agent did not write the new token to ${OutputFile.credentials} and ${OutputFile.token} within ${seconds(FILES_TIMEOUT_MS)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function fileMode(path: string): Promise<string> {
  return `0${((await stat(path)).mode & 0o777).toString(8)}`;
}

function exchangeTimeoutMs(previous: LoggedExchange | undefined): number {
  if (previous === undefined) return FIRST_EXCHANGE_TIMEOUT_MS;
  return Math.max(0, previous.nextRefreshAtMs - Date.now()) + REFRESH_GRACE_MS;
}

async function narrateExchange(exchange: LoggedExchange, token: IssuedToken, context: CycleContext): Promise<void> {
  const { pod, narrator } = context;
  const source = projectedTokenNumber(pod.rotation.jwts, token.jti);
  narrator.good(
    `agent: exchanged token #${String(exchange.number)} ${fingerprint(token.accessToken)}, expires in ${seconds(exchange.expiresAtMs - exchange.loggedAtMs)}, ` +
      `next refresh in ${seconds(exchange.nextRefreshAtMs - exchange.loggedAtMs)}`,
  );
  narrator.details([
    `assertion: projected token #${source === undefined ? '?' : String(source)}, now spent (single-use: the stand-in refuses a jti it has seen); request id ${exchange.requestId ?? '(none)'}`,
    ...(exchange.number === 1 ? [MINTING_RULE] : []),
  ]);
  await waitForFiles(pod.outputDir, token.accessToken, context.signal);
  const credentials = join(pod.outputDir, OutputFile.credentials);
  const tokenFile = join(pod.outputDir, OutputFile.token);
  narrator.say(
    `token files updated atomically: ${OutputFile.token} (${await fileMode(tokenFile)}) and ${OutputFile.credentials} (${await fileMode(credentials)}) now hold ${fingerprint(token.accessToken)}`,
  );
}

async function callWithSdk(number: number, context: CycleContext): Promise<boolean> {
  const { pod, api, narrator } = context;
  const env = { ...pod.appEnv, [SdkEnv.baseUrl]: api.url };
  const before = api.messages.requests.length;
  const result = await callMessagesWithSdk(env, context.signal);
  if (!result.ok) throw new Error(`the SDK's Messages call failed: ${result.error}`);
  const request = api.messages.requests.slice(before).at(-1);
  const sent = request?.authorization?.replace(/^Bearer /, '');
  if (sent === undefined) throw new Error('the Messages stand-in saw no Bearer token from the SDK');
  const sentNumber = api.tokens.issuedTokens.findIndex((t) => t.accessToken === sent) + 1;
  const current = sentNumber === number;
  const which = sentNumber === 0 ? 'a token the stand-in never issued' : `token #${String(sentNumber)}`;
  const line = `SDK call #${String(number)}: HTTP ${String(request?.status ?? 0)} "${result.text}", sent Bearer ${fingerprint(sent)} = ${which}`;
  if (current) narrator.good(line);
  else narrator.warn(`${line}, not the current token #${String(number)}`);
  return current;
}

/** Cycle `number`: waits for access token #number, checks the files, calls Messages with the SDK. */
export async function runRefreshCycle(number: number, previous: LoggedExchange | undefined, context: CycleContext): Promise<CycleResult> {
  const { pod, api } = context;
  const exchange = await pod.exchanges.waitFor(number, { timeoutMs: exchangeTimeoutMs(previous), signal: context.signal, what: `the agent's access token #${String(number)}` }).catch((error: unknown) => {
    const denial = api.tokens.events.findLast((e): e is Extract<TokenEndpointEvent, { outcome: 'denied' }> => e.outcome === 'denied');
    if (denial === undefined) throw error;
    throw new Error(`${describeError(error)}; the token endpoint stand-in last refused an exchange: ${denial.reason} (${denial.detail})`, { cause: error });
  });
  const token = issuedFor(api, exchange);
  await narrateExchange(exchange, token, context);
  const sdkSentCurrentToken = await callWithSdk(number, context);
  return { exchange, sdkSentCurrentToken };
}
