/**
 * Everything an agent integration test needs around the real CLI: an OIDC issuer, the
 * token endpoint stand-in trusting it, a kubelet-style projected token directory, an output
 * directory, the agent's environment, and a list of every secret that must never appear in
 * the agent's output.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOidcIssuer, type OidcIssuer, type ProjectedTokenOptions } from './oidc-issuer.ts';
import { createKubeletTokenDir, type KubeletTokenDir } from './kubelet-token-file.ts';
import { startTokenEndpoint, type TokenEndpoint } from './token-endpoint.ts';
import type { ListenOptions } from './listen.ts';
import { runCli, startCli, type CliProcess, type Env } from './cli.ts';
import { FileMode, OutputFile } from '../../contract/index.ts';
import { TEST_FEDERATION_RULE_ID, TEST_ORGANIZATION_ID } from './injection-defaults.ts';

export const AUDIENCE = 'https://api.anthropic.com';
export const SUBJECT = 'system:serviceaccount:default:app';

export interface AgentWorld {
  readonly dir: string;
  readonly outputDir: string;
  readonly issuer: OidcIssuer;
  readonly endpoint: TokenEndpoint;
  readonly kubelet: KubeletTokenDir;
  /** The agent's environment, as the webhook would inject it (health on 127.0.0.1:0). */
  readonly env: Env;
  /** Mints a projected token (remembered as a secret). */
  mintJwt(options?: ProjectedTokenOptions): Promise<string>;
  /** Mints a new projected token and swaps it in through `..data`. */
  rotate(options?: ProjectedTokenOptions): Promise<string>;
  /** Every assertion minted and every access token issued so far. */
  secrets(): string[];
  close(): Promise<void>;
}

export interface AgentWorldOptions {
  readonly ruleLifetimeSeconds?: number;
  readonly jwtLifetimeSeconds?: number;
  /** Where the token endpoint listens (https with a test CA, another address); default http on 127.0.0.1. */
  readonly endpointListen?: ListenOptions;
}

export async function startAgentWorld(options: AgentWorldOptions = {}): Promise<AgentWorld> {
  const dir = await mkdtemp(join(tmpdir(), 'wif-agent-'));
  const issuer = await createOidcIssuer({ issuer: 'https://oidc.cluster.test' });
  const endpoint = await startTokenEndpoint({
    organizationId: TEST_ORGANIZATION_ID,
    jwks: issuer.jwks,
    issuer: issuer.issuer,
    rules: [{ id: TEST_FEDERATION_RULE_ID, subjectPrefix: SUBJECT, audience: AUDIENCE, lifetimeSeconds: options.ruleLifetimeSeconds ?? 3600 }],
    ...(options.endpointListen === undefined ? {} : { listen: options.endpointListen }),
  });
  const jwts: string[] = [];
  const mintJwt = async (mint: ProjectedTokenOptions = {}): Promise<string> => {
    const jwt = await issuer.mintProjectedToken({ lifetimeSeconds: options.jwtLifetimeSeconds ?? 600, ...mint });
    jwts.push(jwt);
    return jwt;
  };
  const kubelet = await createKubeletTokenDir(join(dir, 'projected'), await mintJwt());
  const outputDir = join(dir, 'output');
  return {
    dir,
    outputDir,
    issuer,
    endpoint,
    kubelet,
    env: {
      ANTHROPIC_FEDERATION_RULE_ID: TEST_FEDERATION_RULE_ID,
      ANTHROPIC_ORGANIZATION_ID: TEST_ORGANIZATION_ID,
      ANTHROPIC_IDENTITY_TOKEN_FILE: kubelet.tokenPath,
      ANTHROPIC_BASE_URL: endpoint.url,
      ANTHROPIC_WIF_OUTPUT_DIR: outputDir,
      ANTHROPIC_WIF_HEALTH_ADDR: '127.0.0.1:0',
    },
    mintJwt,
    rotate: async (mint) => {
      const jwt = await mintJwt(mint);
      await kubelet.rotate(jwt);
      return jwt;
    },
    secrets: () => [...jwts, ...jwts.map((jwt) => jwt.split('.')[2] ?? jwt), ...endpoint.issuedTokens.map((t) => t.accessToken)],
    close: async () => {
      await endpoint.close();
      await issuer.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts `anthropic-wif agent` with the world's environment plus `env`. */
export function startAgent(world: AgentWorld, args: readonly string[] = [], env: Env = {}): CliProcess {
  return startCli(['agent', ...args], { env: { ...world.env, ...env } });
}

/** An agent that holds a token and waits for the kubelet's next JWT (see startAgentAwaitingRotation). */
export interface AgentAwaitingRotation {
  readonly agent: CliProcess;
  /** Access token #1, adopted from disk. */
  readonly token: string;
}

/**
 * Starts an agent that exchanges the next rotated JWT at once. A fresh agent would wait for
 * 40 % of its token's life; so token #1 comes from `anthropic-wif token`, as the legacy init
 * container leaves it, with its state record backdated an hour, as if the agent restarted
 * late in the token's life: the refresh is due at once, the assertion is spent, and the
 * agent waits for the kubelet. With a rule lifetime of 180 s (no time to spare beyond the
 * refresher's margin) the rotated JWT is then exchanged without a spreading delay.
 */
export async function startAgentAwaitingRotation(world: AgentWorld, args: readonly string[] = []): Promise<AgentAwaitingRotation> {
  const token = await writeFirstToken(world);
  const statePath = join(world.outputDir, OutputFile.state);
  const state = JSON.parse(await readFile(statePath, 'utf8')) as { atMs: number };
  await writeFile(statePath, JSON.stringify({ ...state, atMs: state.atMs - 3_600_000 }), { mode: FileMode.state });
  const agent = startAgent(world, args);
  await agent.waitForJson((line) => line.msg === 'adopted the access token already on disk');
  return { agent, token };
}

/** `anthropic-wif token --output-dir`: one exchange of the current JWT into the world's output files; resolves with the token. */
export async function writeFirstToken(world: AgentWorld): Promise<string> {
  const first = await runCli(['token', '--identity-token-file', world.kubelet.tokenPath, '--output-dir', world.outputDir], { env: world.env });
  if (first.code !== 0) throw new Error(`anthropic-wif token exited ${String(first.code)}: ${first.stderr}`);
  const token = world.endpoint.issuedTokens[0]?.accessToken;
  if (token === undefined) throw new Error('anthropic-wif token left no issued token');
  return token;
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

export function httpGet(port: number, path: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls `check` every 50 ms until it returns a value, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
