/**
 * A projected-token directory laid out and rotated exactly like the kubelet's AtomicWriter:
 *
 *   <dir>/..2025_01_01_10_00_00.1234567890/token   the payload, in a timestamped directory
 *   <dir>/..data  -> ..2025_01_01_10_00_00.1234567890   swapped atomically (rename of ..data_tmp)
 *   <dir>/token   -> ..data/token                        created once, never changes
 *
 * After each swap the previous timestamped directory is removed, so a reader that resolved
 * the old real path and opens it late gets ENOENT, as on a real node.
 */
import { chmod, mkdir, mkdtemp, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const DATA_DIR_LINK = '..data';
const DATA_DIR_TMP_LINK = '..data_tmp';

export interface KubeletTokenDirOptions {
  /** File name of the projected item. Default `token`. */
  readonly item?: string;
  /** Payload file mode. Default 0o644 (the projected volume's defaultMode). */
  readonly mode?: number;
}

export interface KubeletTokenDir {
  readonly dir: string;
  /** `<dir>/token`: the path the agent is configured with. */
  readonly tokenPath: string;
  /** Writes a new timestamped directory, swaps `..data` to it and removes the old one. */
  rotate(newToken: string): Promise<void>;
  /** The timestamped directory `..data` currently points at (its name only). */
  currentDataDir(): Promise<string>;
  /** How many times the payload was written (1 after creation). */
  readonly writes: number;
}

export async function createKubeletTokenDir(dir: string, initialToken: string, options: KubeletTokenDirOptions = {}): Promise<KubeletTokenDir> {
  const item = options.item ?? 'token';
  const mode = options.mode ?? 0o644;
  await mkdir(dir, { recursive: true });
  let writes = 0;

  async function writePayload(token: string): Promise<void> {
    const previous = await readlink(join(dir, DATA_DIR_LINK)).catch(() => undefined);
    const tsDir = await mkdtemp(join(dir, timestampPrefix(new Date())));
    const payload = join(tsDir, item);
    await writeFile(payload, token, { mode });
    await chmod(payload, mode);
    await chmod(tsDir, 0o755);
    const tmpLink = join(dir, DATA_DIR_TMP_LINK);
    await rm(tmpLink, { force: true });
    await symlink(baseName(tsDir), tmpLink);
    await rename(tmpLink, join(dir, DATA_DIR_LINK));
    await symlink(join(DATA_DIR_LINK, item), join(dir, item)).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    });
    if (previous !== undefined) await rm(join(dir, previous), { recursive: true, force: true });
    writes += 1;
  }

  await writePayload(initialToken);
  return {
    dir,
    tokenPath: join(dir, item),
    rotate: writePayload,
    currentDataDir: () => readlink(join(dir, DATA_DIR_LINK)),
    get writes() {
      return writes;
    },
  };
}

/** `..2006_01_02_15_04_05.` as Go's `time.Format` spells the kubelet's prefix (mkdtemp adds the suffix). */
function timestampPrefix(now: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `..${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}.`;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
