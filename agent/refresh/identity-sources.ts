/**
 * Where the identity token comes from: a file (default; re-read for every exchange,
 * symlink swaps followed), a literal, a command, or a URL.
 * OWNER: agent-io. Signatures here are what the refresher codes against.
 *
 * No message of this module holds a token, a header value, an expanded `${VAR}`, a URL's
 * query, a command's arguments or a response body: any of them may carry a secret.
 */
import { spawn } from 'node:child_process';
import { watch as watchPath, type FSWatcher } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Agent } from 'undici';
import type { Clock } from '../../runtime/clock.ts';
import { ConfigError } from '../../runtime/errors.ts';
import { isRecord, nameRecord } from '../../runtime/json.ts';
import { AgentEnv, GithubActionsEnv, SdkEnv, SECURE_URL_EXPECTED, parseSecureUrl } from '../../contract/index.ts';
import { describeTransportError, describeUrl, isTimeoutError, isUntrustedCertificateError, readBoundedBody, startDeadline } from '../../runtime/http-response.ts';
import { DIRECT_EGRESS, UNTRUSTED_CERTIFICATE_HINT, undiciConnectOption, type EgressSettings } from '../egress.ts';
import { IdentityTokenError, IdentityTokenErrorCode, parseIdentityToken, type IdentityToken } from './identity-token.ts';

export type IdentitySourceConfig =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'literal'; readonly token: string }
  | { readonly kind: 'command'; readonly command: string; readonly timeoutMs: number }
  | {
      readonly kind: 'url';
      readonly url: string;
      /** `Name: value` pairs; `${VAR}` is expanded from the environment. Values are secret. */
      readonly headers: readonly string[];
      /** JSON field of the answer that holds the JWT; the whole body when undefined. */
      readonly field: string | undefined;
      readonly timeoutMs: number;
    };

export interface IdentityTokenSource {
  readonly kind: IdentitySourceConfig['kind'];
  /** Safe to log: never contains a secret or an expanded variable. */
  readonly description: string;
  /**
   * True when a new token only appears on the source's own schedule (a kubelet-rotated
   * file, a literal); false when each read may fetch a fresh token (command, URL).
   */
  readonly rotatesOnItsOwn: boolean;
  /** Reads and shape-checks the current token (see parseIdentityToken). */
  read(signal?: AbortSignal): Promise<IdentityToken>;
  /** Calls `onChange` when the token may have changed (file sources); returns a stop function. */
  watch?(onChange: () => void): () => void;
}

export interface IdentitySourceDeps {
  readonly clock: Clock;
  /** For `${VAR}` expansion in URL headers; passed in, never read from process.env here. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** File sources: how often `watch` also polls, in case fs.watch misses a swap. Default 10 s. */
  readonly watchPollIntervalMs?: number | undefined;
  /** URL sources: extra trust (and proxy); direct with the system roots when omitted. */
  readonly egress?: EgressSettings | undefined;
}

/** Bytes read from any source at most; a JWT over 16 KiB is refused by parseIdentityToken anyway. */
export const SOURCE_MAX_BYTES = 64 * 1024;
export const DEFAULT_WATCH_POLL_INTERVAL_MS = 10_000;
/** Characters of a failed command's stderr shown (its last line, redacted). */
const STDERR_TAIL_CHARS = 200;

export function createIdentityTokenSource(config: IdentitySourceConfig, deps: IdentitySourceDeps): IdentityTokenSource {
  switch (config.kind) {
    case 'file':
      return fileSource(config.path, deps);
    case 'literal':
      return literalSource(config.token);
    case 'command':
      return commandSource(config, deps);
    case 'url':
      return urlSource(config, deps);
  }
}

function sourceError(message: string, options: { retryable?: boolean; cause?: unknown; hint?: string } = {}): IdentityTokenError {
  return new IdentityTokenError(IdentityTokenErrorCode.source, message, options);
}

// ---------------------------------------------------------------------------------------
// File

function fileSource(path: string, deps: IdentitySourceDeps): IdentityTokenSource {
  if (path === '') throw new ConfigError('the identity token file path is empty');
  const origin = `file ${path}`;
  return {
    kind: 'file',
    description: origin,
    rotatesOnItsOwn: true,
    // Opened by its path every time: the kernel resolves token -> ..data/token -> ..<ts>/token
    // at open, so a kubelet swap is followed, and an open file stays readable even if the
    // kubelet removes the old directory right after.
    read: async () => parseIdentityToken(await readTokenFile(path), origin),
    watch: (onChange) => watchTokenFile(path, onChange, deps),
  };
}

async function readTokenFile(path: string): Promise<string> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw fileReadError(path, error);
  }
  try {
    const buffer = Buffer.alloc(SOURCE_MAX_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0 || length + bytesRead >= buffer.length) {
        length += bytesRead;
        break;
      }
      length += bytesRead;
    }
    return buffer.subarray(0, length).toString('utf8');
  } catch (error) {
    throw fileReadError(path, error);
  } finally {
    await handle.close();
  }
}

function fileReadError(path: string, error: unknown): IdentityTokenError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return sourceError(`identity token file ${path} does not exist`, {
      cause: error,
      hint: 'is the projected service account token volume mounted there?',
    });
  }
  if (code === 'EACCES') {
    return sourceError(`identity token file ${path} cannot be read (permission denied)`, {
      cause: error,
      hint: 'the projected volume\'s defaultMode or the pod\'s fsGroup must let this uid read it',
    });
  }
  if (code === 'EISDIR') return sourceError(`identity token file ${path} is a directory`, { cause: error });
  return sourceError(`identity token file ${path} cannot be read (${code ?? 'error'})`, { cause: error, retryable: true });
}

/**
 * fs.watch on the directory (the kubelet renames `..data` there) plus a poll of the
 * resolved target, because inotify can miss events on some volume types.
 */
function watchTokenFile(path: string, onChange: () => void, deps: IdentitySourceDeps): () => void {
  const stopped = new AbortController();
  let watcher: FSWatcher | undefined;
  try {
    watcher = watchPath(dirname(path), { persistent: false }, () => {
      if (!stopped.signal.aborted) onChange();
    });
    watcher.on('error', () => {
      watcher?.close();
    });
  } catch {
    watcher = undefined;
  }
  void pollTokenFile(path, { onChange, deps, signal: stopped.signal });
  return () => {
    stopped.abort();
    watcher?.close();
  };
}

async function fileIdentity(path: string): Promise<string> {
  try {
    const target = await realpath(path);
    const info = await stat(target);
    return `${target}:${info.ino}:${info.mtimeMs}:${info.size}`;
  } catch {
    return 'missing';
  }
}

async function pollTokenFile(path: string, options: { onChange: () => void; deps: IdentitySourceDeps; signal: AbortSignal }): Promise<void> {
  const interval = options.deps.watchPollIntervalMs ?? DEFAULT_WATCH_POLL_INTERVAL_MS;
  // A function, so the checks after each await are not narrowed away.
  const stopped = (): boolean => options.signal.aborted;
  let last = await fileIdentity(path);
  while (!stopped()) {
    try {
      await options.deps.clock.sleep(interval, options.signal);
    } catch {
      return;
    }
    const current = await fileIdentity(path);
    if (current !== last && !stopped()) options.onChange();
    last = current;
  }
}

// ---------------------------------------------------------------------------------------
// Literal

function literalSource(token: string): IdentityTokenSource {
  const origin = `from ${SdkEnv.identityToken}`;
  return {
    kind: 'literal',
    description: `literal ${SdkEnv.identityToken}`,
    rotatesOnItsOwn: true,
    read: () => Promise.resolve().then(() => parseIdentityToken(token, origin)),
  };
}

// ---------------------------------------------------------------------------------------
// Command

/**
 * The command string runs under `sh -c` (what users expect of a command line: pipes,
 * quoting, variables), in its own process group so a timeout kills its children too.
 * Its stdout is the token. Of its stderr only the last line is shown, redacted, because
 * a failing helper may print a credential there.
 */
function commandSource(config: { readonly command: string; readonly timeoutMs: number }, deps: IdentitySourceDeps): IdentityTokenSource {
  if (config.command.trim() === '') throw new ConfigError(`${AgentEnv.identityTokenCommand} is empty`);
  const program = config.command.trim().split(/\s+/)[0] ?? '';
  const origin = `from command ${program}`;
  return {
    kind: 'command',
    description: `command ${program} (sh -c, timeout ${config.timeoutMs / 1000} s)`,
    rotatesOnItsOwn: false,
    read: async (signal) => parseIdentityToken(await runTokenCommand(config, { env: deps.env, program, signal }), origin),
  };
}

interface CommandRun {
  readonly env: IdentitySourceDeps['env'];
  readonly program: string;
  readonly signal: AbortSignal | undefined;
}

function runTokenCommand(config: { readonly command: string; readonly timeoutMs: number }, run: CommandRun): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', config.command], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: definedEnv(run.env),
      detached: true,
    });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrTail = '';
    let failure: IdentityTokenError | undefined;
    const killGroup = (reason: IdentityTokenError): void => {
      failure ??= reason;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    };
    const timer = setTimeout(() => {
      killGroup(sourceError(`identity token command ${run.program} did not finish within ${config.timeoutMs / 1000} s and was killed`, { retryable: true }));
    }, config.timeoutMs);
    const onAbort = (): void => {
      killGroup(sourceError(`identity token command ${run.program} was stopped`));
    };
    run.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > SOURCE_MAX_BYTES) killGroup(sourceError(`identity token command ${run.program} wrote more than ${SOURCE_MAX_BYTES / 1024} KiB`));
      else stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4096);
    });
    child.on('error', (error) => {
      failure ??= sourceError(`identity token command could not start /bin/sh: ${(error as NodeJS.ErrnoException).code ?? error.message}`, { cause: error });
    });
    child.on('close', (code, signalName) => {
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', onAbort);
      const output = Buffer.concat(stdout).toString('utf8');
      if (failure !== undefined) {
        reject(failure);
      } else if (code !== 0) {
        reject(commandExitError({ program: run.program, code, signalName, stderr: redactStderr(stderrTail, output) }));
      } else {
        resolve(output);
      }
    });
  });
}

function commandExitError(exit: { program: string; code: number | null; signalName: NodeJS.Signals | null; stderr: string }): IdentityTokenError {
  const how = exit.code === null ? `was killed by ${exit.signalName ?? 'a signal'}` : `exited with code ${exit.code}`;
  const tail = exit.stderr === '' ? '' : `: ${exit.stderr}`;
  return sourceError(`identity token command ${exit.program} ${how}${tail}`, { retryable: true });
}

const SECRET_SHAPES: readonly RegExp[] = [
  /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, // a JWT
  /sk-ant-[A-Za-z0-9_-]+/g,
  /(bearer|basic|token|password|secret|authorization|api[-_]?key)([\s:=]+)(?:(?:bearer|basic)\s+)?\S+/gi,
  /[A-Za-z0-9+/_=-]{32,}/g, // any long opaque string
];

/** The last non-empty line of stderr, with anything that looks like a credential masked. */
export function redactStderr(stderr: string, stdout: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  let line = lines.at(-1) ?? '';
  const token = stdout.trim();
  if (token !== '') line = line.replaceAll(token, '[redacted]');
  for (const shape of SECRET_SHAPES) {
    line = line.replace(shape, (match, keyword: unknown, separator: unknown) =>
      typeof keyword === 'string' && typeof separator === 'string' ? `${keyword}${separator}[redacted]` : '[redacted]',
    );
  }
  // eslint-disable-next-line no-control-regex
  line = line.replaceAll(/[\u0000-\u001f\u007f]/g, ' ');
  return line.length <= STDERR_TAIL_CHARS ? line : `…${line.slice(-STDERR_TAIL_CHARS)}`;
}

function definedEnv(env: IdentitySourceDeps['env']): Record<string, string> {
  const out = nameRecord<string>();
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

// ---------------------------------------------------------------------------------------
// URL

interface UrlConfig {
  readonly url: string;
  readonly headers: readonly string[];
  readonly field: string | undefined;
  readonly timeoutMs: number;
}

/**
 * GET the URL with the headers (values expanded once, here), no redirects, at most 64 KiB,
 * within the timeout. The JWT is the whole body or one (dotted) JSON field of it.
 */
function urlSource(config: UrlConfig, deps: IdentitySourceDeps): IdentityTokenSource {
  const url = parseSourceUrl(config.url);
  const headers = expandHeaders(config.headers, deps.env);
  const shown = describeUrl(url);
  const origin = `from ${shown}`;
  // undici is loaded on the first read only: the sidecar's file source never needs it.
  let dispatcher: Promise<Agent> | undefined;
  const agent = (): Promise<Agent> =>
    (dispatcher ??= import('undici').then((undici) => {
      const connect = undiciConnectOption(deps.egress ?? DIRECT_EGRESS, { timeoutMs: config.timeoutMs, clock: deps.clock, build: undici.buildConnector });
      return new undici.Agent({ connectTimeout: config.timeoutMs, headersTimeout: config.timeoutMs, bodyTimeout: config.timeoutMs, connect });
    }));
  return {
    kind: 'url',
    description: `url ${shown}${config.field === undefined ? '' : ` (field ${config.field})`}`,
    rotatesOnItsOwn: false,
    read: async (signal) => {
      const deadline = startDeadline(deps.clock, config.timeoutMs, signal);
      try {
        const body = await fetchTokenBody({ url, headers, dispatcher: await agent(), signal: deadline.signal, shown });
        return parseIdentityToken(extractField(body, config.field, shown), origin);
      } catch (error) {
        if (signal?.aborted === true) throw signal.reason;
        if (error instanceof IdentityTokenError) throw error;
        if (deadline.timedOut() || isTimeoutError(error)) {
          throw sourceError(`identity token URL ${shown} did not answer within ${config.timeoutMs / 1000} s`, { retryable: true });
        }
        if (isUntrustedCertificateError(error)) {
          throw sourceError(`identity token URL ${shown} presented a certificate that is not trusted: ${describeTransportError(error)}`, { hint: UNTRUSTED_CERTIFICATE_HINT });
        }
        throw sourceError(`identity token URL ${shown} could not be reached: ${describeTransportError(error)}`, { retryable: true });
      } finally {
        deadline.clear();
      }
    },
  };
}

function parseSourceUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${AgentEnv.identityTokenUrl} is not a URL`);
  }
  if (parseSecureUrl(raw) === undefined) throw new ConfigError(`${AgentEnv.identityTokenUrl} must be ${SECURE_URL_EXPECTED}, got "${describeUrl(url)}"`);
  return url;
}

/** `Name: value` lines with `${VAR}` expanded; a missing variable is a ConfigError naming it. */
export function expandHeaders(lines: readonly string[], env: IdentitySourceDeps['env']): Record<string, string> {
  const headers = nameRecord<string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new ConfigError(`${AgentEnv.identityTokenUrlHeaders}: each header must be "Name: value" (got one with ${name === '' ? 'no name' : `name "${name}"`})`);
    }
    const value = line.slice(colon + 1).trim().replaceAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, variable: string) => {
      const expanded = env[variable];
      if (expanded === undefined || expanded === '') {
        throw new ConfigError(`${AgentEnv.identityTokenUrlHeaders}: header ${name} uses \${${variable}}, which is not set`);
      }
      return expanded;
    });
    if (/[\r\n\0]/.test(value)) throw new ConfigError(`${AgentEnv.identityTokenUrlHeaders}: header ${name} has a line break in its value`);
    headers[name.toLowerCase()] = value;
  }
  return headers;
}

async function fetchTokenBody(input: { url: URL; headers: Record<string, string>; dispatcher: Agent; signal: AbortSignal; shown: string }): Promise<string> {
  const { request } = await import('undici');
  const response = await request(input.url, { method: 'GET', headers: { accept: 'application/json', ...input.headers }, dispatcher: input.dispatcher, signal: input.signal });
  const status = response.statusCode;
  if (status < 200 || status >= 300) {
    await response.body.dump();
    const redirect = status >= 300 && status < 400 ? ' (a redirect, which is not followed)' : '';
    throw sourceError(`identity token URL ${input.shown} answered HTTP ${status}${redirect}`, { retryable: status === 429 || status >= 500 });
  }
  const { bytes, truncated } = await readBoundedBody(response.body, SOURCE_MAX_BYTES);
  if (truncated) throw sourceError(`identity token URL ${input.shown} answered with more than ${SOURCE_MAX_BYTES / 1024} KiB`);
  return bytes.toString('utf8');
}

function extractField(body: string, field: string | undefined, shown: string): string {
  if (field === undefined) return body;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw sourceError(`identity token URL ${shown} did not answer JSON (field ${field} was expected)`);
  }
  for (const key of field.split('.')) {
    value = isRecord(value) ? value[key] : undefined;
  }
  if (typeof value !== 'string') throw sourceError(`identity token URL ${shown} answered JSON without a string field ${field}`);
  return value;
}

// ---------------------------------------------------------------------------------------
// GitHub Actions

/**
 * GitHub Actions' OIDC endpoint: `ACTIONS_ID_TOKEN_REQUEST_URL` + `&audience=…`, with
 * `Authorization: Bearer ${ACTIONS_ID_TOKEN_REQUEST_TOKEN}`, JWT in the field `value`.
 */
export function githubActionsSourceConfig(env: IdentitySourceDeps['env'], audience: string, timeoutMs = 10_000): IdentitySourceConfig & { kind: 'url' } {
  for (const variable of [GithubActionsEnv.requestUrl, GithubActionsEnv.requestToken]) {
    if (env[variable] === undefined || env[variable] === '') {
      throw new ConfigError(`${variable} is not set: give the GitHub Actions job "permissions: id-token: write"`);
    }
  }
  const base = env[GithubActionsEnv.requestUrl] ?? '';
  return {
    kind: 'url',
    url: `${base}${base.includes('?') ? '&' : '?'}audience=${encodeURIComponent(audience)}`,
    headers: [`Authorization: Bearer \${${GithubActionsEnv.requestToken}}`],
    field: GithubActionsEnv.field,
    timeoutMs,
  };
}
