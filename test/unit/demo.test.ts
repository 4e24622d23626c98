/** The demo's pure parts: flags, the unified diff, pod views, fingerprints and time stamps. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../runtime/errors.ts';
import { fingerprint } from '../../demo/fingerprint.ts';
import { elapsedStamp } from '../../demo/narrator.ts';
import { DEFAULT_CYCLES, parseDemoArgs } from '../../demo/options.ts';
import { containerEnvUnderRoot, summarizeInjection } from '../../demo/pod-view.ts';
import { unifiedDiff } from '../../demo/unified-diff.ts';

describe('parseDemoArgs', () => {
  it.each([
    { argv: [], options: { cycles: DEFAULT_CYCLES, keepRunning: false, color: undefined } },
    { argv: ['--cycles', '1'], options: { cycles: 1, keepRunning: false, color: undefined } },
    { argv: ['--cycles=20', '--keep-running', '--no-color'], options: { cycles: 20, keepRunning: true, color: false } },
  ])('$argv', ({ argv, options }) => {
    expect(parseDemoArgs(argv)).toEqual({ help: false, options });
  });

  it.each([['--help'], ['-h'], ['--cycles', '2', '--help']])('%s asks for the usage', (...argv) => {
    const parsed = parseDemoArgs(argv);
    expect(parsed.help && parsed.text.split('\n')[0]).toBe('Usage: npm run demo -- [flags]');
  });

  it.each([
    { argv: ['--cycles', '0'], message: '--cycles: expected a whole number from 1 to 20, got "0"' },
    { argv: ['--cycles', '21'], message: '--cycles: expected a whole number from 1 to 20, got "21"' },
    { argv: ['--cycles=2.5'], message: '--cycles: expected a whole number from 1 to 20, got "2.5"' },
    { argv: ['--cycles'], message: '--cycles: expected a whole number from 1 to 20, got ""' },
    { argv: ['--keep-running=yes'], message: 'unknown argument "--keep-running=yes" (see --help)' },
    { argv: ['cluster'], message: 'unknown argument "cluster" (see --help)' },
  ])('refuses $argv', ({ argv, message }) => {
    expect(() => parseDemoArgs(argv)).toThrow(new ConfigError(message));
  });
});

describe('unifiedDiff', () => {
  const labels = { fromLabel: 'a', toLabel: 'b' };

  it.each([
    { name: 'equal texts', before: 'x\ny\n', after: 'x\ny\n', diff: [] },
    { name: 'an insertion in the middle', before: 'a\nb\nc\n', after: 'a\nb\nNEW\nc\n', diff: ['--- a', '+++ b', '@@ -1,3 +1,4 @@', ' a', ' b', '+NEW', ' c'] },
    { name: 'a change: removal before addition', before: 'a\nold\nc\n', after: 'a\nnew\nc\n', diff: ['--- a', '+++ b', '@@ -1,3 +1,3 @@', ' a', '-old', '+new', ' c'] },
    { name: 'into an empty text', before: '', after: 'a\n', diff: ['--- a', '+++ b', '@@ -0,0 +1,1 @@', '+a'] },
  ])('$name', ({ before, after, diff }) => {
    expect(unifiedDiff(before, after, labels)).toEqual(diff);
  });

  it('keeps three lines of context and starts a new hunk past them', () => {
    const before = Array.from({ length: 12 }, (_, i) => `l${String(i + 1)}`).join('\n');
    const after = before.replace('l1\n', 'l1\nA\n').replace('l12', 'l12\nB');
    expect(unifiedDiff(before, after, labels)).toEqual(['--- a', '+++ b', '@@ -1,4 +1,5 @@', ' l1', '+A', ' l2', ' l3', ' l4', '@@ -10,3 +11,4 @@', ' l10', ' l11', ' l12', '+B']);
  });

  it('merges changes whose context overlaps into one hunk', () => {
    expect(unifiedDiff('a\nb\nc\nd\ne\n', 'A\nb\nc\nd\nE\n', { ...labels, context: 2 })).toEqual(['--- a', '+++ b', '@@ -1,5 +1,5 @@', '-a', '+A', ' b', ' c', ' d', '-e', '+E']);
  });
});

describe('pod views', () => {
  const app = {
    name: 'app',
    env: [{ name: 'MODEL', value: 'm' }, { name: 'ANTHROPIC_CONFIG_DIR', value: '/var/run/anthropic' }, { name: 'TOKEN', value: '/var/run/anthropic/token' }, { name: 'ELSEWHERE', value: '/var/run/anthropic-other' }, { name: 'FROM_SECRET' }],
    volumeMounts: [{ name: 'anthropic-credentials', mountPath: '/var/run/anthropic', readOnly: true }],
  };

  it('moves env values inside a mount under the root and leaves the rest alone', () => {
    expect(containerEnvUnderRoot(app, '/tmp/root')).toEqual({
      MODEL: 'm',
      ANTHROPIC_CONFIG_DIR: '/tmp/root/var/run/anthropic',
      TOKEN: '/tmp/root/var/run/anthropic/token',
      ELSEWHERE: '/var/run/anthropic-other',
    });
  });

  it('summarizes what admission added', () => {
    const before = { metadata: {}, spec: { containers: [{ name: 'app', env: [{ name: 'MODEL', value: 'm' }] }] } };
    const after = {
      metadata: { annotations: { 'example/status': '{}' } },
      spec: {
        initContainers: [{ name: 'side', image: 'img:1', args: ['agent'], restartPolicy: 'Always' }],
        containers: [app],
        volumes: [{ name: 'anthropic-credentials', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } }],
      },
    };
    expect(summarizeInjection(before, after)).toEqual([
      'added native sidecar (init container, restartPolicy: Always) side: img:1 agent',
      'added volume anthropic-credentials: emptyDir (medium Memory, sizeLimit 1Mi)',
      'container app: env ANTHROPIC_CONFIG_DIR=/var/run/anthropic, TOKEN=/var/run/anthropic/token, ELSEWHERE=/var/run/anthropic-other, FROM_SECRET=(from a reference)',
      'container app: mounts anthropic-credentials at /var/run/anthropic (read-only)',
      'added annotation example/status',
    ]);
  });
});

describe('what the demo prints instead of secrets and times', () => {
  it('fingerprints with the first and last four hex digits of the SHA-256', () => {
    expect(fingerprint('abc')).toBe('sha256:ba78…15ad');
  });

  it.each([
    { ms: 0, stamp: '[+0.0s]' },
    { ms: 12_345, stamp: '[+12.3s]' },
    { ms: -5, stamp: '[+0.0s]' },
  ])('stamps $ms ms as $stamp', ({ ms, stamp }) => {
    expect(elapsedStamp(ms)).toBe(stamp);
  });
});
