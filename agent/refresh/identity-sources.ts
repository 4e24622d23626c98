/**
 * Where the identity token comes from: a file (default; re-read for every exchange,
 * symlink swaps followed) or a literal, here; a command (command-source.ts) or a URL
 * (url-source.ts). The interface they share is in identity-source.ts.
 * OWNER: agent-io. Signatures here are what the refresher codes against.
 *
 * No message of this module holds a token, a header value, an expanded `${VAR}`, a URL's
 * query, a command's arguments or a response body: any of them may carry a secret.
 */
import { watch as watchPath, type FSWatcher } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../../runtime/errors.ts';
import { SdkEnv } from '../../contract/index.ts';
import { parseIdentityToken, type IdentityTokenError } from './identity-token.ts';
import { SOURCE_MAX_BYTES, sourceError, type IdentitySourceConfig, type IdentitySourceDeps, type IdentityTokenSource } from './identity-source.ts';
import { commandSource } from './command-source.ts';
import { urlSource } from './url-source.ts';

export type { IdentitySourceConfig, IdentitySourceDeps, IdentityTokenSource } from './identity-source.ts';
export { SOURCE_MAX_BYTES } from './identity-source.ts';
export { redactStderr } from './command-source.ts';
export { expandHeaders, githubActionsSourceConfig } from './url-source.ts';

export const DEFAULT_WATCH_POLL_INTERVAL_MS = 10_000;

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
