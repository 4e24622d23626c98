/**
 * `anthropic-wif token`: one exchange for a CI step. Prints the access token on stdout with
 * no trailing newline (exactly like the `token` file), or, with `--output-dir`, writes the
 * token, credentials and profile files (and the state file, so a rerun never replays an
 * assertion). Logs go to stderr so stdout holds the token alone.
 */
import { systemClock, systemRandom } from '../runtime/clock.ts';
import type { CommandContext } from '../runtime/command.ts';
import { ExitCode } from '../runtime/errors.ts';
import { createLogger } from '../runtime/logger.ts';
import { parseTokenConfig } from './config.ts';
import { createTokenFileStore, type AgentState, type StoredToken, type TokenFileStore } from './refresh/files.ts';
import { buildRefresher } from './main.ts';
import { RefreshFailedError } from './refresh/refresher.ts';

/** A store that keeps the token in memory: `token` without `--output-dir` writes nothing to disk. */
export function createMemoryTokenStore(): TokenFileStore {
  let token: StoredToken | undefined;
  let state: AgentState | undefined;
  return {
    outputDir: '(memory)',
    writeProfile: () => Promise.resolve(),
    writeToken: (next) => {
      token = next;
      return Promise.resolve();
    },
    removeToken: () => {
      token = undefined;
      return Promise.resolve();
    },
    readToken: () => Promise.resolve(token),
    readState: () => Promise.resolve(state),
    writeState: (next) => {
      state = next;
      return Promise.resolve();
    },
  };
}

export async function runToken(context: CommandContext): Promise<number> {
  const parsed = parseTokenConfig(context.argv, context.env);
  if (parsed.help) {
    context.stdout.write(parsed.text);
    return ExitCode.ok;
  }
  const { config } = parsed;
  const logger = createLogger({ name: 'anthropic-wif-token', level: config.logLevel, destination: context.stderr });
  const store = config.outputDir === undefined ? createMemoryTokenStore() : createTokenFileStore(config.outputDir);
  const { refresher, exchanger } = buildRefresher(config, { store, env: context.env, logger, clock: systemClock, random: systemRandom });
  try {
    const result = await refresher.once(context.signal);
    if (config.outputDir !== undefined) {
      logger.info({ outputDir: config.outputDir, expiresAt: new Date(result.expiresAtMs).toISOString(), adopted: result.kind === 'adopted' }, 'token files are up to date');
      return ExitCode.ok;
    }
    const token = refresher.currentToken();
    if (token === undefined) throw new RefreshFailedError('no-token', 'the access token expired before it could be printed');
    context.stdout.write(token.accessToken);
    return ExitCode.ok;
  } finally {
    await exchanger.close?.();
  }
}
