/**
 * The files the sidecar keeps in the output directory, written atomically (temp file in
 * the same directory, fsync, rename, directory fsync) with the contract's modes.
 * OWNER: agent-io. Signatures here are what the refresher codes against.
 *
 * Each write: a temp file with an unpredictable name opened O_CREAT|O_EXCL|O_NOFOLLOW with
 * the final mode (then fchmod, so the umask cannot loosen or tighten it), write, fsync,
 * close, rename over the target, fsync the directory. A reader sees the old file or the new
 * one, never a partial or empty one. On any failure the temp file is removed and the old
 * file stays.
 *
 * No symbolic link below the output directory is ever followed or replaced (issue #16): every
 * write, read and removal first checks each path component below the directory with lstat
 * and refuses a link with a `token-file-symlink` error, and reads open with O_NOFOLLOW. The
 * directory itself may be reached through links (`/var/run` often is one). Node has no
 * openat, so a writer racing the check could still swap a link in; only the agent can write
 * this volume (app containers mount it read-only, and the webhook denies any other mount).
 *
 * Write order for a new token: `credentials/default.json` first, then `token`. The two
 * renames follow each other at once; if the second fails, the SDK-facing file (which also
 * carries the expiry) is already current and `token` still holds the previous token, which
 * is still valid (a new token is only written before the old one expires).
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { WifError } from '../../runtime/errors.ts';
import { ACCESS_TOKEN_PATTERN, FileMode, OutputFile, SdkFileFormat } from '../../contract/index.ts';
import { parseJsonObject } from '../../runtime/json.ts';

export interface StoredToken {
  readonly accessToken: string;
  readonly expiresAtMs: number;
}

/** What the agent remembers across restarts: never the assertion or the token. */
export interface AgentState {
  readonly version: 1;
  /** sha256 hex of the last assertion's jti (or of the JWT when it has none). */
  readonly assertionKey: string;
  readonly hasJti: boolean;
  /** `sent` is recorded before the request leaves, `accepted` after the files are written. */
  readonly outcome: 'sent' | 'accepted' | 'rejected';
  readonly atMs: number;
}

export interface ProfileSettings {
  readonly organizationId: string;
  readonly workspaceId?: string | undefined;
}

export interface TokenFileStore {
  readonly outputDir: string;
  /** `configs/default.json` (0644), pointing at `<outputDir>/credentials/default.json`. */
  writeProfile(settings: ProfileSettings): Promise<void>;
  /** `token` and `credentials/default.json` (0600). Refuses a token that is already expired. */
  writeToken(token: StoredToken, nowMs: number): Promise<void>;
  /** Removes `token` and `credentials/default.json`; the profile stays. */
  removeToken(): Promise<void>;
  /** The token on disk (from credentials/default.json), for adoption at start. */
  readToken(): Promise<StoredToken | undefined>;
  readState(): Promise<AgentState | undefined>;
  writeState(state: AgentState): Promise<void>;
}

/** The part of an open file the store uses. */
export interface WritableFile {
  writeFile(data: string): Promise<void>;
  chmod(mode: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file operations the store uses: `node:fs/promises` by default. Tests inject a layer
 * that fails on demand, because the test runner is root (permissions do not stop root) and
 * cannot mount a full filesystem.
 */
/** What lstat says about a path, as far as the store asks. */
export interface LinkStatus {
  isSymbolicLink(): boolean;
}

export interface FileSystemOps {
  open(path: string, flags: number, mode?: number): Promise<WritableFile>;
  lstat(path: string): Promise<LinkStatus>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string, options: { readonly mode: number; readonly recursive?: boolean }): Promise<string | undefined>;
  chmod(path: string, mode: number): Promise<void>;
  /** The whole file as UTF-8, opened with `flags`. */
  readFile(path: string, flags: number): Promise<string>;
}

export const nodeFileSystem: FileSystemOps = {
  open: (path, flags, mode) => nodeFs.open(path, flags, mode),
  rename: (from, to) => nodeFs.rename(from, to),
  unlink: (path) => nodeFs.unlink(path),
  mkdir: (path, options) => nodeFs.mkdir(path, options),
  chmod: (path, mode) => nodeFs.chmod(path, mode),
  lstat: (path) => nodeFs.lstat(path),
  readFile: async (path, flags) => {
    const handle = await nodeFs.open(path, flags);
    try {
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  },
};

export interface TokenFileStoreOptions {
  readonly fs?: FileSystemOps | undefined;
}

/** Why a file could not be written, with the errno when there was one. Never holds file contents. */
export class TokenFileError extends WifError {
  readonly errno: string | undefined;
  readonly path: string;
  constructor(code: string, message: string, context: { readonly path: string; readonly errno?: string | undefined; readonly cause?: unknown; readonly retryable?: boolean }) {
    super(code, message, { cause: context.cause, retryable: context.retryable ?? true });
    this.errno = context.errno;
    this.path = context.path;
  }
}

const ERRNO_MEANING: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the volume',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the volume is mounted read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'the directory does not exist',
  EIO: 'I/O error',
  ELOOP: 'a symbolic link, never followed',
  EEXIST: 'something is already at the temp path',
};

function fileError(action: string, path: string, error: unknown): TokenFileError {
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  const meaning = errno === undefined ? (error instanceof Error ? error.message : String(error)) : `${errno}, ${ERRNO_MEANING[errno] ?? 'error'}`;
  return new TokenFileError('token-file-io', `cannot ${action} ${path} (${meaning})`, { path, errno, cause: error });
}

const TEMP_WRITE_FLAGS = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
const READ_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW;
const DIRECTORY_FLAGS = fsConstants.O_RDONLY | fsConstants.O_DIRECTORY;

/** `root/a`, `root/a/b`, … down to `path` (which is below `root`). */
function pathsBelow(root: string, path: string): string[] {
  const parts = relative(root, path).split(sep);
  return parts.map((_, i) => join(root, ...parts.slice(0, i + 1)));
}

/** Refuses when any existing component of `path` below `root` is a symbolic link; see the module comment. */
async function refuseLinksBelow(fs: FileSystemOps, root: string, path: string, action: string): Promise<void> {
  for (const component of pathsBelow(root, path)) {
    let status: LinkStatus;
    try {
      status = await fs.lstat(component);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw fileError(action, path, error);
    }
    if (status.isSymbolicLink()) {
      throw new TokenFileError('token-file-symlink', `refusing to ${action} ${path}: ${component} is a symbolic link, which the agent never follows or replaces`, { path });
    }
  }
}

/** Writes `data` to `path` atomically with exactly `mode`; see the module comment. */
export async function writeFileAtomically(fs: FileSystemOps, path: string, data: string, mode: number): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${path.slice(dir.length + 1)}.${randomBytes(12).toString('hex')}.tmp`);
  let handle: WritableFile | undefined;
  try {
    handle = await fs.open(temp, TEMP_WRITE_FLAGS, mode);
    await handle.chmod(mode);
    await handle.writeFile(data);
    await handle.sync();
    const closing = handle;
    handle = undefined;
    await closing.close();
    await fs.rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.unlink(temp).catch(() => undefined);
    throw fileError('write', path, error);
  }
  await syncDirectory(fs, dir);
}

/** Makes a rename or unlink durable; best effort, as in the SDK (some filesystems refuse it). */
async function syncDirectory(fs: FileSystemOps, dir: string): Promise<void> {
  try {
    const handle = await fs.open(dir, DIRECTORY_FLAGS);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // tmpfs and some overlay filesystems do not support it; the rename itself is atomic.
  }
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const OUTCOMES: ReadonlySet<string> = new Set(['sent', 'accepted', 'rejected']);

export function credentialsFileContent(token: StoredToken): string {
  return JSON.stringify({
    version: SdkFileFormat.version,
    type: SdkFileFormat.credentialsType,
    access_token: token.accessToken,
    // Rounded down: the file never claims a later expiry than the token has.
    expires_at: Math.floor(token.expiresAtMs / 1000),
  });
}

export function profileFileContent(outputDir: string, settings: ProfileSettings): string {
  return JSON.stringify({
    version: SdkFileFormat.version,
    authentication: { type: SdkFileFormat.profileAuthenticationType, credentials_path: join(outputDir, OutputFile.credentials) },
    organization_id: settings.organizationId,
    ...(settings.workspaceId === undefined || settings.workspaceId === '' ? {} : { workspace_id: settings.workspaceId }),
  });
}

export function createTokenFileStore(outputDir: string, options: TokenFileStoreOptions = {}): TokenFileStore {
  const fs = options.fs ?? nodeFileSystem;
  const root = resolve(outputDir);
  const paths = {
    token: join(root, OutputFile.token),
    credentials: join(root, OutputFile.credentials),
    profile: join(root, OutputFile.profile),
    state: join(root, OutputFile.state),
  };
  // One write at a time, in call order, so two writes never interleave their renames.
  let queue: Promise<unknown> = Promise.resolve();
  const serialized = <T>(operation: () => Promise<T>): Promise<T> => {
    const next = queue.then(operation, operation);
    queue = next.catch(() => undefined);
    return next;
  };
  /** The file's directories exist and nothing on the way to it is a link. */
  const prepareWrite = async (path: string): Promise<void> => {
    await refuseLinksBelow(fs, root, path, 'write');
    await ensureDirectoryOf(fs, root, path);
  };
  const write = async (path: string, data: string, mode: number): Promise<void> => {
    await refuseLinksBelow(fs, root, path, 'write');
    await writeFileAtomically(fs, path, data, mode);
  };
  const read = async (path: string): Promise<string | undefined> => {
    await refuseLinksBelow(fs, root, path, 'read');
    return readIfPresent(fs, path);
  };
  const remove = async (path: string): Promise<void> => {
    await refuseLinksBelow(fs, root, path, 'remove');
    await removeIfPresent(fs, path);
  };

  return {
    outputDir: root,
    writeProfile: (settings) =>
      serialized(async () => {
        await prepareWrite(paths.profile);
        await write(paths.profile, profileFileContent(root, settings), FileMode.profile);
      }),
    writeToken: (token, nowMs) =>
      serialized(async () => {
        if (token.expiresAtMs <= nowMs) {
          throw new TokenFileError('token-file-expired', `refusing to write a token that expired at ${new Date(token.expiresAtMs).toISOString()}`, { path: paths.token, retryable: false });
        }
        if (!ACCESS_TOKEN_PATTERN.test(token.accessToken)) {
          throw new TokenFileError('token-file-invalid', 'refusing to write an access token that is not a printable token', { path: paths.token, retryable: false });
        }
        await prepareWrite(paths.credentials);
        await refuseLinksBelow(fs, root, paths.token, 'write');
        await write(paths.credentials, credentialsFileContent(token), FileMode.credentials);
        await write(paths.token, token.accessToken, FileMode.token);
      }),
    removeToken: () =>
      serialized(async () => {
        await remove(paths.token);
        await remove(paths.credentials);
        await syncDirectory(fs, root);
        await syncDirectory(fs, dirname(paths.credentials));
      }),
    readToken: async () => parseCredentials(await read(paths.credentials)),
    readState: async () => parseState(await read(paths.state)),
    writeState: (state) =>
      serialized(async () => {
        await prepareWrite(paths.state);
        await write(paths.state, JSON.stringify(state), FileMode.state);
      }),
  };
}

/** Creates the output directory (if missing) and the file's subdirectory, 0755 despite the umask. */
async function ensureDirectoryOf(fs: FileSystemOps, root: string, file: string): Promise<void> {
  for (const dir of root === dirname(file) ? [root] : [root, dirname(file)]) {
    let created: string | undefined;
    try {
      created = await fs.mkdir(dir, { mode: FileMode.directory, recursive: true });
      if (created !== undefined) await fs.chmod(dir, FileMode.directory);
    } catch (error) {
      throw fileError('create directory', dir, error);
    }
  }
}

async function removeIfPresent(fs: FileSystemOps, path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fileError('remove', path, error);
  }
}

/** The file's text, or undefined when there is none; any other failure (permissions, I/O) is reported. */
async function readIfPresent(fs: FileSystemOps, path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, READ_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileError('read', path, error);
  }
}

/** A credentials file this agent (or the legacy init container) wrote; undefined for anything else. */
function parseCredentials(text: string | undefined): StoredToken | undefined {
  const data = parseJsonObject(text);
  if (data?.type !== SdkFileFormat.credentialsType) return undefined;
  const { access_token: accessToken, expires_at: expiresAt } = data;
  if (typeof accessToken !== 'string' || !ACCESS_TOKEN_PATTERN.test(accessToken)) return undefined;
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return undefined;
  return { accessToken, expiresAtMs: expiresAt * 1000 };
}

function parseState(text: string | undefined): AgentState | undefined {
  const data = parseJsonObject(text);
  if (data === undefined) return undefined;
  const { version, assertionKey, hasJti, outcome, atMs } = data;
  const valid =
    version === 1 && typeof assertionKey === 'string' && SHA256_HEX.test(assertionKey) && typeof hasJti === 'boolean' &&
    typeof outcome === 'string' && OUTCOMES.has(outcome) && typeof atMs === 'number' && Number.isFinite(atMs);
  return valid ? { version: 1, assertionKey, hasJti, outcome: outcome as AgentState['outcome'], atMs } : undefined;
}
