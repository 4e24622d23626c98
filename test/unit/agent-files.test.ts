import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { constants as fsConstants } from 'node:fs';
import { lstat, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { OutputFile } from '../../contract/index.ts';
import {
  TokenFileError,
  createTokenFileStore,
  nodeFileSystem,
  type AgentState,
  type FileSystemOps,
  type TokenFileStore,
  type WritableFile,
} from '../../agent/refresh/files.ts';

const NOW_MS = 1_750_000_000_000;
const TOKEN = 'sk-ant-oat01-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const ORG = '6d8f3c1e-2b4a-4c5d-9e8f-0a1b2c3d4e5f';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wif-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** Every file under dir, relative, sorted (to find leftover temp files). */
async function listing(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true });
  return entries.sort();
}

function errnoError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated`), { code });
}

type FailingOp = 'open' | 'writeFile' | 'sync' | 'rename' | 'mkdir';

/** The real filesystem, except that one operation fails with `errno` for paths matching `where`. */
function failingFs(op: FailingOp, errno: string, where: (path: string) => boolean = () => true): FileSystemOps {
  const fail = (path: string): void => {
    if (where(path)) throw errnoError(errno);
  };
  return {
    ...nodeFileSystem,
    open: async (path, flags, m) => {
      if (op === 'open') fail(path);
      const handle = await nodeFileSystem.open(path, flags, m);
      const wrapped: WritableFile = {
        writeFile: async (data) => {
          if (op === 'writeFile') fail(path);
          await handle.writeFile(data);
        },
        chmod: (m2) => handle.chmod(m2),
        sync: async () => {
          if (op === 'sync') fail(path);
          await handle.sync();
        },
        close: () => handle.close(),
      };
      return wrapped;
    },
    rename: async (from, to) => {
      if (op === 'rename') fail(to);
      await nodeFileSystem.rename(from, to);
    },
    mkdir: async (path, options) => {
      if (op === 'mkdir') fail(path);
      return nodeFileSystem.mkdir(path, options);
    },
  };
}

describe('token file store: contents and modes', () => {
  it('writes the three contract files exactly, with their modes', async () => {
    const store = createTokenFileStore(dir);
    await store.writeProfile({ organizationId: ORG, workspaceId: 'wrkspc_01' });
    await store.writeToken({ accessToken: TOKEN, expiresAtMs: NOW_MS + 600_500 }, NOW_MS);
    expect(await readFile(join(dir, 'token'), 'utf8')).toBe(TOKEN);
    expect(await readFile(join(dir, 'credentials/default.json'), 'utf8')).toBe(
      `{"version":"1.0","type":"oauth_token","access_token":"${TOKEN}","expires_at":1750000600}`,
    );
    expect(await readFile(join(dir, 'configs/default.json'), 'utf8')).toBe(
      `{"version":"1.0","authentication":{"type":"user_oauth","credentials_path":"${dir}/credentials/default.json"},"organization_id":"${ORG}","workspace_id":"wrkspc_01"}`,
    );
    expect(await mode(join(dir, 'token'))).toBe(0o600);
    expect(await mode(join(dir, 'credentials/default.json'))).toBe(0o600);
    expect(await mode(join(dir, 'configs/default.json'))).toBe(0o644);
    expect(await mode(join(dir, 'credentials'))).toBe(0o755);
    expect(await mode(join(dir, 'configs'))).toBe(0o755);
    expect(await listing(dir)).toEqual(['configs', 'configs/default.json', 'credentials', 'credentials/default.json', 'token']);
  });

  it.each([undefined, ''])('leaves workspace_id out when it is %j', async (workspaceId) => {
    const store = createTokenFileStore(dir);
    await store.writeProfile({ organizationId: ORG, workspaceId });
    expect(JSON.parse(await readFile(join(dir, 'configs/default.json'), 'utf8'))).toEqual({
      version: '1.0',
      authentication: { type: 'user_oauth', credentials_path: `${dir}/credentials/default.json` },
      organization_id: ORG,
    });
  });

  it('resolves a relative output directory in credentials_path', async () => {
    const store = createTokenFileStore(join(dir, 'a', '..', 'out'));
    expect(store.outputDir).toBe(join(dir, 'out'));
    await store.writeProfile({ organizationId: ORG });
    const profile = JSON.parse(await readFile(join(dir, 'out/configs/default.json'), 'utf8')) as { authentication: { credentials_path: string } };
    expect(profile.authentication.credentials_path).toBe(`${dir}/out/credentials/default.json`);
  });

  it.each([0o000, 0o077, 0o022, 0o777])('modes do not depend on the umask (%o)', async (umask) => {
    const previous = process.umask(umask);
    try {
      const store = createTokenFileStore(join(dir, 'out'));
      await store.writeProfile({ organizationId: ORG });
      await store.writeToken({ accessToken: TOKEN, expiresAtMs: NOW_MS + 60_000 }, NOW_MS);
      await store.writeState({ version: 1, assertionKey: 'a'.repeat(64), hasJti: true, outcome: 'sent', atMs: NOW_MS });
    } finally {
      process.umask(previous);
    }
    expect(await mode(join(dir, 'out/token'))).toBe(0o600);
    expect(await mode(join(dir, 'out/credentials/default.json'))).toBe(0o600);
    expect(await mode(join(dir, 'out/configs/default.json'))).toBe(0o644);
    expect(await mode(join(dir, 'out/.anthropic-wif-state.json'))).toBe(0o600);
    expect(await mode(join(dir, 'out/credentials'))).toBe(0o755);
    expect(await mode(join(dir, 'out/configs'))).toBe(0o755);
  });

  it('replaces an existing file with a looser mode by one with the contract mode', async () => {
    await writeFile(join(dir, 'token'), 'old', { mode: 0o666 });
    const store = createTokenFileStore(dir);
    await store.writeToken({ accessToken: TOKEN, expiresAtMs: NOW_MS + 1 }, NOW_MS);
    expect(await mode(join(dir, 'token'))).toBe(0o600);
  });
});

describe('token file store: rules', () => {
  it.each([
    { expiresAtMs: NOW_MS, message: 'refusing to write a token that expired at 2025-06-15T15:06:40.000Z' },
    { expiresAtMs: NOW_MS - 1, message: 'refusing to write a token that expired at 2025-06-15T15:06:39.999Z' },
  ])('refuses a token expiring at $expiresAtMs', async ({ expiresAtMs, message }) => {
    const store = createTokenFileStore(dir);
    const error = await store.writeToken({ accessToken: TOKEN, expiresAtMs }, NOW_MS).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenFileError);
    expect((error as TokenFileError).message).toBe(message);
    expect((error as TokenFileError).code).toBe('token-file-expired');
    expect((error as TokenFileError).retryable).toBe(false);
    expect(await listing(dir)).toEqual([]);
  });

  it('refuses a token with whitespace in it', async () => {
    const store = createTokenFileStore(dir);
    await expect(store.writeToken({ accessToken: 'sk-ant-oat01-a\n', expiresAtMs: NOW_MS + 1000 }, NOW_MS)).rejects.toThrow(
      'refusing to write an access token that is not a printable token',
    );
  });

  it('removeToken removes the token files and keeps the profile; twice is fine', async () => {
    const store = createTokenFileStore(dir);
    await store.writeProfile({ organizationId: ORG });
    await store.writeToken({ accessToken: TOKEN, expiresAtMs: NOW_MS + 1000 }, NOW_MS);
    await store.removeToken();
    await store.removeToken();
    expect(await listing(dir)).toEqual(['configs', 'configs/default.json', 'credentials']);
    expect(await store.readToken()).toBeUndefined();
  });
});

describe('token file store: adoption', () => {
  it('reads back what it wrote, expiry in whole seconds', async () => {
    const store = createTokenFileStore(dir);
    await store.writeToken({ accessToken: TOKEN, expiresAtMs: NOW_MS + 600_999 }, NOW_MS);
    expect(await store.readToken()).toEqual({ accessToken: TOKEN, expiresAtMs: NOW_MS + 600_000 });
  });

  it.each([
    { name: 'missing', content: undefined },
    { name: 'empty', content: '' },
    { name: 'not JSON', content: '{"version":"1.0",' },
    { name: 'an array', content: '[]' },
    { name: 'wrong type', content: `{"version":"1.0","type":"api_key","access_token":"${TOKEN}","expires_at":1}` },
    { name: 'no access_token', content: '{"version":"1.0","type":"oauth_token","expires_at":1}' },
    { name: 'access_token with a space', content: '{"version":"1.0","type":"oauth_token","access_token":"a b","expires_at":1}' },
    { name: 'expires_at a string', content: `{"version":"1.0","type":"oauth_token","access_token":"${TOKEN}","expires_at":"1"}` },
    { name: 'no expires_at', content: `{"version":"1.0","type":"oauth_token","access_token":"${TOKEN}"}` },
    { name: 'binary', content: '\u0000\u00ff\u0001' },
  ])('readToken gives undefined for a credentials file that is $name', async ({ content }) => {
    if (content !== undefined) {
      await mkdir(join(dir, 'credentials'));
      await writeFile(join(dir, 'credentials/default.json'), content);
    }
    expect(await createTokenFileStore(dir).readToken()).toBeUndefined();
  });

  it('round-trips the state file, which never holds a token', async () => {
    const store = createTokenFileStore(dir);
    const state: AgentState = { version: 1, assertionKey: 'ab'.repeat(32), hasJti: true, outcome: 'accepted', atMs: NOW_MS };
    await store.writeToken({ accessToken: TOKEN, expiresAtMs: NOW_MS + 1000 }, NOW_MS);
    await store.writeState(state);
    expect(await store.readState()).toEqual(state);
    const raw = await readFile(join(dir, '.anthropic-wif-state.json'), 'utf8');
    expect(raw).toBe(`{"version":1,"assertionKey":"${'ab'.repeat(32)}","hasJti":true,"outcome":"accepted","atMs":${NOW_MS}}`);
    expect(raw).not.toContain(TOKEN);
  });

  it.each([
    { name: 'missing', content: undefined },
    { name: 'garbage', content: 'garbage' },
    { name: 'version 2', content: `{"version":2,"assertionKey":"${'a'.repeat(64)}","hasJti":true,"outcome":"sent","atMs":1}` },
    { name: 'a short key', content: '{"version":1,"assertionKey":"abc","hasJti":true,"outcome":"sent","atMs":1}' },
    { name: 'an unknown outcome', content: `{"version":1,"assertionKey":"${'a'.repeat(64)}","hasJti":true,"outcome":"maybe","atMs":1}` },
    { name: 'no atMs', content: `{"version":1,"assertionKey":"${'a'.repeat(64)}","hasJti":false,"outcome":"sent"}` },
  ])('readState gives undefined for a state file that is $name', async ({ content }) => {
    if (content !== undefined) await writeFile(join(dir, '.anthropic-wif-state.json'), content);
    expect(await createTokenFileStore(dir).readState()).toBeUndefined();
  });

  it.each([
    { file: 'credentials/default.json', read: (store: TokenFileStore) => store.readToken() },
    { file: '.anthropic-wif-state.json', read: (store: TokenFileStore) => store.readState() },
  ])('reports a $file it cannot read (EACCES) instead of taking it for missing', async ({ file, read }) => {
    const fs: FileSystemOps = { ...nodeFileSystem, readFile: () => Promise.reject(errnoError('EACCES')) };
    const error = await read(createTokenFileStore(dir, { fs })).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(TokenFileError);
    expect((error as TokenFileError).message).toBe(`cannot read ${join(dir, file)} (EACCES, permission denied)`);
  });
});

describe('token file store: symbolic links below the output directory', () => {
  const ORIGINAL = 'not the agent\'s file';
  let out: string;
  let outside: string;

  beforeEach(async () => {
    out = join(dir, 'out');
    outside = join(dir, 'outside');
    await mkdir(out);
    await mkdir(outside);
    await writeFile(join(outside, 'victim'), ORIGINAL);
  });

  /** The error the operation rejects with. */
  async function failure(operation: Promise<unknown>): Promise<TokenFileError> {
    const error = await operation.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(TokenFileError);
    return error as TokenFileError;
  }

  /** What is outside the output directory: only the victim, unchanged. */
  async function expectOutsideUntouched(): Promise<void> {
    expect(await listing(outside)).toEqual(['victim']);
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe(ORIGINAL);
  }

  const refusal = (action: string, file: string, link: string): string =>
    `refusing to ${action} ${join(out, file)}: ${join(out, link)} is a symbolic link, which the agent never follows or replaces`;

  it('refuses to write the token through a directory link (credentials -> outside), and writes neither file', async () => {
    await symlink(outside, join(out, dirname(OutputFile.credentials)));
    const error = await failure(createTokenFileStore(out).writeToken({ accessToken: TOKEN, expiresAtMs: NOW_MS + 1000 }, NOW_MS));
    expect([error.code, error.message]).toEqual(['token-file-symlink', refusal('write', OutputFile.credentials, dirname(OutputFile.credentials))]);
    await expectOutsideUntouched();
    expect(await readdir(out)).toEqual([dirname(OutputFile.credentials)]);
  });

  it.each([
    { name: 'an existing file outside', target: 'victim' },
    { name: 'a missing file outside (dangling)', target: 'created-through-the-link' },
  ])('refuses to replace a token file linked to $name, and leaves the link and the credentials file alone', async ({ target }) => {
    await symlink(join(outside, target), join(out, OutputFile.token));
    const error = await failure(createTokenFileStore(out).writeToken({ accessToken: TOKEN, expiresAtMs: NOW_MS + 1000 }, NOW_MS));
    expect([error.code, error.message]).toEqual(['token-file-symlink', refusal('write', OutputFile.token, OutputFile.token)]);
    await expectOutsideUntouched();
    expect((await lstat(join(out, OutputFile.token))).isSymbolicLink()).toBe(true);
    expect(await listing(out)).toEqual([dirname(OutputFile.credentials), OutputFile.token]);
  });

  it('refuses the profile through a linked configs directory and the state file when it is a link', async () => {
    await symlink(outside, join(out, dirname(OutputFile.profile)));
    await symlink(join(outside, 'victim'), join(out, OutputFile.state));
    const store = createTokenFileStore(out);
    expect((await failure(store.writeProfile({ organizationId: ORG }))).message).toBe(refusal('write', OutputFile.profile, dirname(OutputFile.profile)));
    const state: AgentState = { version: 1, assertionKey: 'ab'.repeat(32), hasJti: true, outcome: 'sent', atMs: NOW_MS };
    expect((await failure(store.writeState(state))).message).toBe(refusal('write', OutputFile.state, OutputFile.state));
    await expectOutsideUntouched();
  });

  it('refuses to adopt a credentials file or state file reached through a link, at any depth', async () => {
    const content = `{"version":"1.0","type":"oauth_token","access_token":"${TOKEN}","expires_at":${String(NOW_MS / 1000 + 600)}}`;
    await writeFile(join(outside, basename(OutputFile.credentials)), content);
    await symlink(outside, join(out, dirname(OutputFile.credentials)));
    await symlink(join(outside, basename(OutputFile.credentials)), join(out, OutputFile.state));
    const store = createTokenFileStore(out);
    expect((await failure(store.readToken())).message).toBe(refusal('read', OutputFile.credentials, dirname(OutputFile.credentials)));
    expect((await failure(store.readState())).message).toBe(refusal('read', OutputFile.state, OutputFile.state));
  });

  it('opens files it adopts with O_NOFOLLOW, so a link swapped in after the check is still not followed', async () => {
    await mkdir(join(out, dirname(OutputFile.credentials)));
    await symlink(join(outside, 'victim'), join(out, OutputFile.credentials));
    const blindLstat: FileSystemOps = { ...nodeFileSystem, lstat: () => Promise.reject(errnoError('ENOENT')) };
    const error = await failure(createTokenFileStore(out, { fs: blindLstat }).readToken());
    expect([error.errno, error.message]).toEqual(['ELOOP', `cannot read ${join(out, OutputFile.credentials)} (ELOOP, a symbolic link, never followed)`]);
  });

  it('creates temp files with O_CREAT|O_EXCL|O_NOFOLLOW, so a link planted at the temp path is refused', async () => {
    const flagsSeen: number[] = [];
    const planting: FileSystemOps = {
      ...nodeFileSystem,
      open: async (path, flags, m) => {
        if (path.endsWith('.tmp')) {
          flagsSeen.push(flags);
          await symlink(join(outside, 'victim'), path);
        }
        return nodeFileSystem.open(path, flags, m);
      },
    };
    const error = await failure(createTokenFileStore(out, { fs: planting }).writeToken({ accessToken: TOKEN, expiresAtMs: NOW_MS + 1000 }, NOW_MS));
    const required = fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
    expect(flagsSeen.map((flags) => flags & required)).toEqual([required]);
    expect([error.errno, error.message]).toEqual(['EEXIST', `cannot write ${join(out, OutputFile.credentials)} (EEXIST, something is already at the temp path)`]);
    await expectOutsideUntouched();
  });

  it('removes nothing through a linked credentials directory', async () => {
    await writeFile(join(outside, basename(OutputFile.credentials)), 'outside');
    await symlink(outside, join(out, dirname(OutputFile.credentials)));
    const error = await failure(createTokenFileStore(out).removeToken());
    expect(error.message).toBe(refusal('remove', OutputFile.credentials, dirname(OutputFile.credentials)));
    expect(await listing(outside)).toEqual([basename(OutputFile.credentials), 'victim']);
  });

  it('still works when the output directory itself is reached through a link (as /var/run often is)', async () => {
    const linkedOut = join(dir, 'linked-out');
    await symlink(out, linkedOut);
    const store = createTokenFileStore(linkedOut);
    await store.writeToken({ accessToken: TOKEN, expiresAtMs: NOW_MS + 1000 }, NOW_MS);
    expect(await readFile(join(out, OutputFile.token), 'utf8')).toBe(TOKEN);
    expect(await store.readToken()).toEqual({ accessToken: TOKEN, expiresAtMs: NOW_MS + 1000 });
  });
});

describe('token file store: failures leave the old files', () => {
  const NEW_TOKEN = 'sk-ant-oat01-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';

  async function seed(): Promise<{ token: string; credentials: string }> {
    const store = createTokenFileStore(dir);
    await store.writeProfile({ organizationId: ORG });
    await store.writeToken({ accessToken: TOKEN, expiresAtMs: NOW_MS + 600_000 }, NOW_MS);
    return { token: await readFile(join(dir, 'token'), 'utf8'), credentials: await readFile(join(dir, 'credentials/default.json'), 'utf8') };
  }

  it.each([
    { op: 'writeFile', errno: 'ENOSPC', meaning: 'no space left on the volume' },
    { op: 'open', errno: 'EROFS', meaning: 'the volume is mounted read-only' },
    { op: 'open', errno: 'EACCES', meaning: 'permission denied' },
    { op: 'sync', errno: 'EIO', meaning: 'I/O error' },
    { op: 'rename', errno: 'EDQUOT', meaning: 'disk quota exceeded' },
  ] as const)('$errno on $op: typed error, old files intact, no temp file left', async ({ op, errno, meaning }) => {
    const before = await seed();
    const store = createTokenFileStore(dir, { fs: failingFs(op, errno) });
    const error = await store.writeToken({ accessToken: NEW_TOKEN, expiresAtMs: NOW_MS + 1_200_000 }, NOW_MS).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenFileError);
    const fileError = error as TokenFileError;
    expect(fileError.message).toBe(`cannot write ${dir}/credentials/default.json (${errno}, ${meaning})`);
    expect(fileError.errno).toBe(errno);
    expect(fileError.path).toBe(`${dir}/credentials/default.json`);
    expect(fileError.retryable).toBe(true);
    expect(fileError.message).not.toContain(NEW_TOKEN);
    expect(await readFile(join(dir, 'token'), 'utf8')).toBe(before.token);
    expect(await readFile(join(dir, 'credentials/default.json'), 'utf8')).toBe(before.credentials);
    expect(await listing(dir)).toEqual(['configs', 'configs/default.json', 'credentials', 'credentials/default.json', 'token']);
  });

  it('a failure on the second file leaves the first one new and the second one old (both valid)', async () => {
    const before = await seed();
    const store = createTokenFileStore(dir, { fs: failingFs('writeFile', 'ENOSPC', (p) => p.includes('/.token.')) });
    await expect(store.writeToken({ accessToken: NEW_TOKEN, expiresAtMs: NOW_MS + 1_200_000 }, NOW_MS)).rejects.toThrow(
      `cannot write ${dir}/token (ENOSPC, no space left on the volume)`,
    );
    expect(await readFile(join(dir, 'token'), 'utf8')).toBe(before.token);
    expect(await store.readToken()).toEqual({ accessToken: NEW_TOKEN, expiresAtMs: NOW_MS + 1_200_000 });
  });

  it('a directory that cannot be created is a typed error', async () => {
    const store = createTokenFileStore(join(dir, 'sub'), { fs: failingFs('mkdir', 'EROFS') });
    await expect(store.writeProfile({ organizationId: ORG })).rejects.toThrow(`cannot create directory ${dir}/sub (EROFS, the volume is mounted read-only)`);
  });

  it('the store keeps working after a failure', async () => {
    let failing = true;
    const fs: FileSystemOps = { ...nodeFileSystem, rename: async (from, to) => {
      if (failing) throw errnoError('ENOSPC');
      await nodeFileSystem.rename(from, to);
    } };
    const store = createTokenFileStore(dir, { fs });
    await expect(store.writeToken({ accessToken: TOKEN, expiresAtMs: NOW_MS + 1000 }, NOW_MS)).rejects.toThrow(TokenFileError);
    failing = false;
    await store.writeToken({ accessToken: NEW_TOKEN, expiresAtMs: NOW_MS + 1000 }, NOW_MS);
    expect(await readFile(join(dir, 'token'), 'utf8')).toBe(NEW_TOKEN);
  });
});

describe('token file store: a concurrent reader', () => {
  const READER = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { readFileSync } = require('node:fs');
    let reads = 0, bad = [], running = true;
    parentPort.on('message', () => { running = false; });
    function loop() {
      for (let i = 0; i < 200 && running; i++) {
        for (const [file, check] of [['token', (t) => /^sk-ant-oat01-[A-Za-z0-9]+$/.test(t) && t.length === Number(t.slice(13, 18))],
                                     ['credentials/default.json', (t) => { const c = JSON.parse(t); return c.access_token.length === Number(c.access_token.slice(13, 18)); }]]) {
          let text;
          try { text = readFileSync(workerData.dir + '/' + file, 'utf8'); } catch (e) { if (e.code === 'ENOENT') continue; throw e; }
          reads++;
          let ok = false;
          try { ok = check(text); } catch {}
          if (!ok && bad.length < 5) bad.push(file + ': ' + text.length + ' bytes');
        }
      }
      if (running) setImmediate(loop); else parentPort.postMessage({ reads, bad });
    }
    loop();
  `;

  /** A token whose characters 13..18 spell its own length, so a reader can tell a partial one. */
  function tokenOfLength(length: number): string {
    const prefix = `sk-ant-oat01-${String(length).padStart(5, '0')}`;
    return prefix + 'x'.repeat(length - prefix.length);
  }

  it('never sees a partial or empty token or credentials file', async () => {
    const store = createTokenFileStore(dir);
    await store.writeToken({ accessToken: tokenOfLength(100), expiresAtMs: NOW_MS + 1000 }, NOW_MS);
    const worker = new Worker(READER, { eval: true, workerData: { dir } });
    const result = new Promise<{ reads: number; bad: string[] }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    for (let i = 0; i < 150; i++) {
      await store.writeToken({ accessToken: tokenOfLength(100 + ((i * 7919) % 60_000)), expiresAtMs: NOW_MS + 1000 }, NOW_MS);
    }
    worker.postMessage('stop');
    const { reads, bad } = await result;
    await worker.terminate();
    expect(bad).toEqual([]);
    expect(reads).toBeGreaterThan(0);
  });
});
