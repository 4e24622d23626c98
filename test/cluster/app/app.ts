/**
 * The cluster suite's app container: the official SDK with no credentials in code. It reports
 * what it sees at start (its uid, the token files' modes and owners, whether a projected JWT is
 * visible), then calls the Messages API once (APP_ONCE=1, exit status = success) or every
 * APP_INTERVAL_MS. One JSON line per event on stdout, never a token.
 */
import { existsSync, statSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';

const FILES = ['/var/run/anthropic/token', '/var/run/anthropic/credentials/default.json', '/var/run/anthropic/configs/default.json'];
const JWT_PATHS = ['/var/run/secrets/anthropic.com/token'];

interface FileFact {
  readonly path: string;
  readonly mode?: string;
  readonly uid?: number;
}

function log(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ at: Date.now(), ...event })}\n`);
}

function fileFacts(): FileFact[] {
  return FILES.map((path) => {
    if (!existsSync(path)) return { path };
    const stat = statSync(path);
    return { path, mode: (stat.mode & 0o777).toString(8).padStart(4, '0'), uid: stat.uid };
  });
}

async function callOnce(client: Anthropic, n: number): Promise<boolean> {
  try {
    const answer = await client.messages.create({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: `call ${n}` }] });
    log({ event: 'call', n, ok: true, id: answer.id });
    return true;
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    log({ event: 'call', n, ok: false, status: typeof status === 'number' ? status : null, error: (error as Error).name });
    return false;
  }
}

async function main(): Promise<void> {
  log({
    event: 'started',
    uid: process.getuid?.() ?? null,
    files: fileFacts(),
    jwtVisible: JWT_PATHS.some((p) => existsSync(p)),
    env: Object.keys(process.env).filter((k) => k.startsWith('ANTHROPIC_')).sort(),
    authTokenIsPlaceholder: process.env.ANTHROPIC_AUTH_TOKEN === 'managed-by-anthropic-wif',
  });
  const client = new Anthropic({ maxRetries: 0, timeout: 10_000 });
  if (process.env.APP_ONCE === '1') {
    process.exitCode = (await callOnce(client, 1)) ? 0 : 1;
    return;
  }
  const interval = Number(process.env.APP_INTERVAL_MS ?? '5000');
  for (let n = 1; ; n++) {
    await callOnce(client, n);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

process.on('SIGTERM', () => process.exit(0));
await main();
