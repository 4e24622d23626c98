import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../runtime/clock.ts';
import { ConfigError, WifError, describeError } from '../../runtime/errors.ts';
import {
  createIdentityTokenSource,
  expandHeaders,
  githubActionsSourceConfig,
  redactStderr,
  type IdentitySourceConfig,
  type IdentityTokenSource,
} from '../../agent/refresh/identity-sources.ts';
import { IdentityTokenError } from '../../agent/refresh/identity-token.ts';
import { createOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.ts';
import { createKubeletTokenDir } from '../support/kubelet-token-file.ts';

const REQUEST_SECRET = 's3cr3t-request-token-value';
const QUERY_SECRET = 'q-secret-in-query';

/** A clock whose sleeps resolve only when the test advances it. */
function manualClock(startMs = 1_750_000_000_000): Clock & { advance(ms: number): void } {
  let now = startMs;
  const waiters: { at: number; resolve: () => void }[] = [];
  return {
    now: () => now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        const waiter = { at: now + ms, resolve };
        waiters.push(waiter);
        signal?.addEventListener('abort', () => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(signal.reason as Error);
        }, { once: true });
      }),
    advance(ms) {
      now += ms;
      for (const waiter of waiters.filter((w) => w.at <= now)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    },
  };
}

let issuer: OidcIssuer;
let dir: string;
const secrets: string[] = [REQUEST_SECRET, QUERY_SECRET];

beforeAll(async () => {
  issuer = await createOidcIssuer();
  dir = await mkdtemp(join(tmpdir(), 'wif-sources-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function mint(jti: string): Promise<string> {
  const jwt = await issuer.mintProjectedToken({ jti });
  secrets.push(jwt);
  return jwt;
}

function source(config: IdentitySourceConfig, env: Record<string, string | undefined> = {}, clock: Clock = systemClock): IdentityTokenSource {
  return createIdentityTokenSource(config, { clock, env });
}

async function readError(s: IdentityTokenSource): Promise<IdentityTokenError> {
  const error = await s.read().then(
    () => {
      throw new Error('expected read() to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(IdentityTokenError);
  const e = error as IdentityTokenError;
  const printed = `${describeError(e)} ${JSON.stringify(e)} ${s.description}`;
  for (const secret of secrets) expect(printed).not.toContain(secret);
  return e;
}

describe('file source', () => {
  it('follows a kubelet ..data swap on every read', async () => {
    const first = await mint('jti-a');
    const kubelet = await createKubeletTokenDir(join(dir, 'projected-1'), first);
    const s = source({ kind: 'file', path: kubelet.tokenPath });
    expect(s.kind).toBe('file');
    expect(s.rotatesOnItsOwn).toBe(true);
    expect(s.description).toBe(`file ${kubelet.tokenPath}`);
    expect((await s.read()).claims.jti).toBe('jti-a');
    const oldDir = await kubelet.currentDataDir();
    await kubelet.rotate(await mint('jti-b'));
    const token = await s.read();
    expect(token.claims.jti).toBe('jti-b');
    expect(token.origin).toBe(`file ${kubelet.tokenPath}`);
    const entries = await readdir(kubelet.dir);
    expect(entries).not.toContain(oldDir);
    expect(entries.sort()).toEqual(['..data', await kubelet.currentDataDir(), 'token'].sort());
  });

  it('watch() reports a swap through fs.watch and stops when asked', async () => {
    const kubelet = await createKubeletTokenDir(join(dir, 'projected-2'), await mint('jti-c'));
    const s = source({ kind: 'file', path: kubelet.tokenPath });
    const onChange = vi.fn();
    const stop = s.watch?.(onChange);
    await kubelet.rotate(await mint('jti-d'));
    await vi.waitFor(() => {
      expect(onChange).toHaveBeenCalled();
    });
    stop?.();
    onChange.mockClear();
    await kubelet.rotate(await mint('jti-e'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(onChange).not.toHaveBeenCalled();
  });

  it('watch() falls back to polling the resolved target on the injected clock', async () => {
    // The directory does not exist yet, so fs.watch cannot start: only the poll can notice.
    const projected = join(dir, 'projected-3');
    const clock = manualClock();
    const s = createIdentityTokenSource({ kind: 'file', path: join(projected, 'token') }, { clock, env: {}, watchPollIntervalMs: 5_000 });
    const onChange = vi.fn();
    const stop = s.watch?.(onChange);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await createKubeletTokenDir(projected, await mint('jti-f'));
    clock.advance(4_999);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(onChange).not.toHaveBeenCalled();
    clock.advance(1);
    await vi.waitFor(() => {
      expect(onChange).toHaveBeenCalledTimes(1);
    });
    stop?.();
  });

  it.each([
    { name: 'an empty file', content: '', message: (p: string) => `identity token file ${p} is empty`, code: 'identity-token-empty' },
    { name: 'a newline only', content: '\n', message: (p: string) => `identity token file ${p} is empty`, code: 'identity-token-empty' },
    {
      name: 'not a JWT',
      content: `${REQUEST_SECRET}\n`,
      message: (p: string) => `identity token file ${p} is not a JWT (expected three base64url parts separated by dots)`,
      code: 'identity-token-not-jwt',
    },
  ])('$name', async ({ content, message, code }) => {
    const path = join(dir, `bad-${code}-${String(content.length)}`);
    await writeFile(path, content);
    const error = await readError(source({ kind: 'file', path }));
    expect(error.message).toBe(message(path));
    expect(error.code).toBe(code);
  });

  it('a missing file names the path and the likely cause', async () => {
    const path = join(dir, 'missing', 'token');
    const error = await readError(source({ kind: 'file', path }));
    expect(error.message).toBe(`identity token file ${path} does not exist`);
    expect(error.hint).toBe('is the projected service account token volume mounted there?');
    expect(error.code).toBe('identity-token-source');
  });

  it('a directory is refused', async () => {
    const path = join(dir, 'a-directory');
    await mkdir(path);
    const error = await readError(source({ kind: 'file', path }));
    expect(error.message).toBe(`identity token file ${path} is a directory`);
  });

  it('an empty path is a configuration error', () => {
    expect(() => source({ kind: 'file', path: '' })).toThrow(ConfigError);
  });
});

describe('literal source', () => {
  it('returns the literal token', async () => {
    const jwt = await mint('jti-lit');
    const s = source({ kind: 'literal', token: `${jwt}\n` });
    expect(s.description).toBe('literal ANTHROPIC_IDENTITY_TOKEN');
    expect(s.rotatesOnItsOwn).toBe(true);
    expect('watch' in s).toBe(false);
    expect((await s.read()).jwt).toBe(jwt);
  });

  it('an empty literal says where it came from', async () => {
    const error = await readError(source({ kind: 'literal', token: '' }));
    expect(error.message).toBe('identity token from ANTHROPIC_IDENTITY_TOKEN is empty');
  });
});

describe('command source', () => {
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin' };

  it('runs the command under sh -c and reads its stdout', async () => {
    const jwt = await mint('jti-cmd');
    const s = source({ kind: 'command', command: 'printf "%s\\n" "$ID_TOKEN" | cat', timeoutMs: 5_000 }, { ...env, ID_TOKEN: jwt });
    expect(s.rotatesOnItsOwn).toBe(false);
    expect(s.description).toBe('command printf (sh -c, timeout 5 s)');
    const token = await s.read();
    expect(token.jwt).toBe(jwt);
    expect(token.origin).toBe('from command printf');
  });

  it('never shows the command arguments', () => {
    const s = source({ kind: 'command', command: `get-token --password ${REQUEST_SECRET}`, timeoutMs: 5_000 }, env);
    expect(s.description).toBe('command get-token (sh -c, timeout 5 s)');
  });

  it('a non-zero exit names the code and the redacted last stderr line', async () => {
    const s = source({ kind: 'command', command: `echo "starting" >&2; echo "login failed: Authorization: Bearer ${REQUEST_SECRET}" >&2; exit 3`, timeoutMs: 5_000 }, env);
    const error = await readError(s);
    expect(error.message).toBe('identity token command echo exited with code 3: login failed: Authorization: [redacted]');
    expect(error.retryable).toBe(true);
  });

  it('a command that prints nothing yields an empty-token error', async () => {
    const error = await readError(source({ kind: 'command', command: 'true', timeoutMs: 5_000 }, env));
    expect(error.message).toBe('identity token from command true is empty');
  });

  it('a timeout kills the whole process group', async () => {
    const started = Date.now();
    const s = source({ kind: 'command', command: 'sleep 30; echo late', timeoutMs: 200 }, env);
    const error = await readError(s);
    expect(error.message).toBe('identity token command sleep did not finish within 0.2 s and was killed');
    // Not a timing assertion on speed: without killing the group, `sleep 30` would hold stdout open for 30 s.
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('an abort stops the command', async () => {
    const controller = new AbortController();
    const s = source({ kind: 'command', command: 'sleep 30', timeoutMs: 20_000 }, env);
    const pending = s.read(controller.signal);
    setTimeout(() => { controller.abort(); }, 50);
    await expect(pending).rejects.toThrow('identity token command sleep was stopped');
  });

  it('output over 64 KiB is refused', async () => {
    const error = await readError(source({ kind: 'command', command: 'head -c 70000 /dev/zero | tr "\\0" a', timeoutMs: 5_000 }, env));
    expect(error.message).toBe('identity token command head wrote more than 64 KiB');
  });

  it.each([
    { stderr: 'error: token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2ln rejected\n', want: 'error: token [redacted] rejected' },
    { stderr: 'got sk-ant-oat01-abcdef123 back', want: 'got [redacted] back' },
    { stderr: 'password=hunter2 is wrong', want: 'password=[redacted] is wrong' },
    { stderr: 'sent authorization: basic dXNlcjpwYXNz', want: 'sent authorization: [redacted]' },
    { stderr: 'X-Api-Key: abc', want: 'X-Api-Key: [redacted]' },
    { stderr: `key ${'A'.repeat(40)} denied`, want: 'key [redacted] denied' },
    { stderr: 'line one\n\nplain failure\n\n', want: 'plain failure' },
    { stderr: `${'x '.repeat(200)}end`, want: `…${`${'x '.repeat(200)}end`.slice(-200)}` },
  ])('redactStderr($stderr)', ({ stderr, want }) => {
    expect(redactStderr(stderr, '')).toBe(want);
  });

  it('redactStderr masks the token the command printed', () => {
    expect(redactStderr('printed tok-123 to stdout', 'tok-123\n')).toBe('printed [redacted] to stdout');
  });

  it('an empty command is a configuration error', () => {
    expect(() => source({ kind: 'command', command: '  ', timeoutMs: 1000 })).toThrow('ANTHROPIC_WIF_IDENTITY_TOKEN_COMMAND is empty');
  });
});

describe('url source', () => {
  interface Seen {
    readonly url: string;
    readonly headers: IncomingHttpHeaders;
  }
  let server: Server;
  let base: string;
  const seen: Seen[] = [];
  let answer: (res: ServerResponse) => void = (res) => {
    res.end('{}');
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      answer(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(() => {
    seen.length = 0;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  });

  function urlConfig(overrides: Partial<IdentitySourceConfig & { kind: 'url' }> = {}): IdentitySourceConfig {
    return { kind: 'url', url: `${base}/token?sig=${QUERY_SECRET}`, headers: ['Authorization: Bearer ${REQ_TOKEN}', 'X-Extra: plain'], field: 'value', timeoutMs: 2_000, ...overrides };
  }
  const env = { REQ_TOKEN: REQUEST_SECRET };

  it('sends the expanded headers and extracts the field', async () => {
    const jwt = await mint('jti-url');
    answer = (res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ count: 1, value: jwt }));
    };
    const s = source(urlConfig(), env);
    expect(s.description).toBe(`url ${base}/token (field value)`);
    expect(s.rotatesOnItsOwn).toBe(false);
    const token = await s.read();
    expect(token.jwt).toBe(jwt);
    expect(token.origin).toBe(`from ${base}/token`);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.url).toBe(`/token?sig=${QUERY_SECRET}`);
    expect(seen[0]?.headers.authorization).toBe(`Bearer ${REQUEST_SECRET}`);
    expect(seen[0]?.headers['x-extra']).toBe('plain');
  });

  it('reads the whole body without a field, and a dotted field', async () => {
    const jwt = await mint('jti-url2');
    answer = (res) => res.end(`${jwt}\n`);
    expect((await source(urlConfig({ field: undefined }), env).read()).jwt).toBe(jwt);
    answer = (res) => res.end(JSON.stringify({ data: { token: jwt } }));
    expect((await source(urlConfig({ field: 'data.token' }), env).read()).jwt).toBe(jwt);
  });

  it.each([
    {
      name: 'a redirect',
      answer: (res: ServerResponse) => {
        res.writeHead(302, { location: `/elsewhere?token=${REQUEST_SECRET}` });
        res.end();
      },
      message: (b: string) => `identity token URL ${b}/token answered HTTP 302 (a redirect, which is not followed)`,
      retryable: false,
    },
    {
      name: 'a 500 echoing the request',
      answer: (res: ServerResponse) => {
        res.writeHead(500);
        res.end(`failed for Bearer ${REQUEST_SECRET}`);
      },
      message: (b: string) => `identity token URL ${b}/token answered HTTP 500`,
      retryable: true,
    },
    {
      name: 'a 403',
      answer: (res: ServerResponse) => {
        res.writeHead(403);
        res.end('{"message":"no"}');
      },
      message: (b: string) => `identity token URL ${b}/token answered HTTP 403`,
      retryable: false,
    },
    {
      name: 'a body over 64 KiB',
      answer: (res: ServerResponse) => res.end('x'.repeat(70 * 1024)),
      message: (b: string) => `identity token URL ${b}/token answered with more than 64 KiB`,
      retryable: false,
    },
    {
      name: 'a body that is not JSON',
      answer: (res: ServerResponse) => res.end(`<html>${REQUEST_SECRET}</html>`),
      message: (b: string) => `identity token URL ${b}/token did not answer JSON (field value was expected)`,
      retryable: false,
    },
    {
      name: 'JSON without the field',
      answer: (res: ServerResponse) => res.end(JSON.stringify({ other: REQUEST_SECRET })),
      message: (b: string) => `identity token URL ${b}/token answered JSON without a string field value`,
      retryable: false,
    },
    {
      name: 'no answer in time',
      answer: () => undefined,
      message: (b: string) => `identity token URL ${b}/token did not answer within 0.3 s`,
      retryable: true,
    },
  ])('$name', async ({ answer: respond, message, retryable }) => {
    answer = respond;
    const error = await readError(source(urlConfig({ timeoutMs: 300 }), env));
    expect(error.message).toBe(message(base));
    expect(error.retryable).toBe(retryable);
    expect(seen).toHaveLength(1);
  });

  it('an unreachable URL is retryable and shows no query', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => { resolve(); }));
    const error = await readError(source(urlConfig({ url: `http://127.0.0.1:${port}/t?sig=${QUERY_SECRET}` }), env));
    expect(error.message).toMatch(new RegExp(`^identity token URL http://127\\.0\\.0\\.1:${port}/t could not be reached: .*ECONNREFUSED`));
    expect(error.retryable).toBe(true);
  });

  it.each([
    { config: { url: 'http://example.com/token' }, env, message: 'ANTHROPIC_WIF_IDENTITY_TOKEN_URL must be an https:// URL (plain http:// only to localhost, 127.0.0.0/8 or [::1]) without user:password, got "http://example.com/token"' },
    { config: { url: '::nope' }, env, message: 'ANTHROPIC_WIF_IDENTITY_TOKEN_URL is not a URL' },
    { config: {}, env: {}, message: 'ANTHROPIC_WIF_IDENTITY_TOKEN_URL_HEADERS: header Authorization uses ${REQ_TOKEN}, which is not set' },
    { config: { headers: ['no colon here'] }, env, message: 'ANTHROPIC_WIF_IDENTITY_TOKEN_URL_HEADERS: each header must be "Name: value" (got one with no name)' },
    { config: { headers: ['Bad Name: x'] }, env, message: 'ANTHROPIC_WIF_IDENTITY_TOKEN_URL_HEADERS: each header must be "Name: value" (got one with name "Bad Name")' },
    { config: { headers: ['X-A: ${NL}'] }, env: { NL: 'a\r\nInjected: 1' }, message: 'ANTHROPIC_WIF_IDENTITY_TOKEN_URL_HEADERS: header X-A has a line break in its value' },
  ])('refuses at construction: $message', ({ config, env: e, message }) => {
    const build = (): unknown => source(urlConfig(config), e);
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(message);
  });

  it('expandHeaders keeps colons in values and expands several variables', () => {
    expect(expandHeaders(['X-Url: https://a:b/${A}-${B}'], { A: '1', B: '2' })).toEqual({ 'x-url': 'https://a:b/1-2' });
  });

  it('the GitHub Actions preset asks for the audience with the request token', async () => {
    const jwt = await mint('jti-gha');
    answer = (res) => res.end(JSON.stringify({ count: 2188, value: jwt }));
    const ghEnv = { ACTIONS_ID_TOKEN_REQUEST_URL: `${base}/idtoken?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_SECRET };
    const config = githubActionsSourceConfig(ghEnv, 'https://api.anthropic.com');
    expect(config).toEqual({
      kind: 'url',
      url: `${base}/idtoken?api-version=2.0&audience=https%3A%2F%2Fapi.anthropic.com`,
      headers: ['Authorization: Bearer ${ACTIONS_ID_TOKEN_REQUEST_TOKEN}'],
      field: 'value',
      timeoutMs: 10_000,
    });
    const token = await source(config, ghEnv).read();
    expect(token.jwt).toBe(jwt);
    expect(seen[0]?.url).toBe('/idtoken?api-version=2.0&audience=https%3A%2F%2Fapi.anthropic.com');
    expect(seen[0]?.headers.authorization).toBe(`Bearer ${REQUEST_SECRET}`);
  });

  it.each([
    { env: {}, message: 'ACTIONS_ID_TOKEN_REQUEST_URL is not set: give the GitHub Actions job "permissions: id-token: write"' },
    { env: { ACTIONS_ID_TOKEN_REQUEST_URL: 'https://x' }, message: 'ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set: give the GitHub Actions job "permissions: id-token: write"' },
  ])('the GitHub Actions preset outside a job: $message', ({ env: e, message }) => {
    expect(() => githubActionsSourceConfig(e, 'aud')).toThrow(message);
  });

  it('errors are WifErrors', () => {
    expect(new IdentityTokenError('x', 'y')).toBeInstanceOf(WifError);
  });
});
