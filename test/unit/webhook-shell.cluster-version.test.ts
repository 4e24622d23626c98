import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../runtime/logger.ts';
import {
  decideNativeSidecar,
  parseKubernetesVersion,
  readKubernetesVersion,
  watchClusterVersion,
  type KubernetesVersionInfo,
  type NativeSidecarDecision,
} from '../../webhook/cluster-version.ts';
import type { KubernetesApi } from '../../webhook/kubernetes.ts';
import { FakeClock, flushMicrotasks } from '../support/fake-clock.ts';

describe('parseKubernetesVersion', () => {
  it.each([
    { info: { major: '1', minor: '29', gitVersion: 'v1.29.0' }, want: { major: 1, minor: 29 } },
    { info: { major: '1', minor: '28+', gitVersion: 'v1.28.9-eks-036c24b' }, want: { major: 1, minor: 28 } },
    { info: { major: '', minor: '', gitVersion: 'v1.30.2-gke.1587003' }, want: { major: 1, minor: 30 } },
    { info: { gitVersion: 'v1.20.2' }, want: { major: 1, minor: 20 } },
    { info: { major: 'one', minor: 'x', gitVersion: 'dev' }, want: undefined },
    { info: {}, want: undefined },
  ])('$info → $want', ({ info, want }) => {
    expect(parseKubernetesVersion(info)).toEqual(want);
  });
});

describe('decideNativeSidecar', () => {
  it.each([
    { setting: 'auto', info: { major: '1', minor: '29', gitVersion: 'v1.29.0' }, enabled: true, reason: 'the API server is v1.29.0, which has native sidecars (1.29 or later)' },
    { setting: 'auto', info: { major: '1', minor: '33', gitVersion: 'v1.33.1' }, enabled: true, reason: 'the API server is v1.33.1, which has native sidecars (1.29 or later)' },
    { setting: 'auto', info: { major: '2', minor: '0', gitVersion: 'v2.0.0' }, enabled: true, reason: 'the API server is v2.0.0, which has native sidecars (1.29 or later)' },
    { setting: 'auto', info: { major: '1', minor: '28+', gitVersion: 'v1.28.9-eks-036c24b' }, enabled: false, reason: 'the API server is v1.28.9-eks-036c24b; native sidecars need 1.29' },
    { setting: 'auto', info: { major: '1', minor: '20', gitVersion: 'v1.20.2' }, enabled: false, reason: 'the API server is v1.20.2; native sidecars need 1.29' },
    { setting: 'auto', info: { major: '1', minor: '20' }, enabled: false, reason: 'the API server is v1.20; native sidecars need 1.29' },
    { setting: 'auto', info: { gitVersion: 'dev' }, enabled: true, reason: 'the API server reported a version this webhook cannot read ("dev"); assuming native sidecars' },
    { setting: 'true', info: { major: '1', minor: '20', gitVersion: 'v1.20.2' }, enabled: true, reason: 'native sidecars are forced on (--native-sidecar=true)' },
    { setting: 'false', info: { major: '1', minor: '30', gitVersion: 'v1.30.0' }, enabled: false, reason: 'native sidecars are turned off (--native-sidecar=false)' },
  ] as const)('$setting with $info.gitVersion → $enabled', ({ setting, info, enabled, reason }) => {
    expect(decideNativeSidecar(setting, { kind: 'version', info })).toEqual({ enabled, reason });
  });

  it('assumes native when the API server cannot be reached', () => {
    expect(decideNativeSidecar('auto', { kind: 'unreachable', reason: 'GET /version failed: connect ECONNREFUSED 127.0.0.1:6443' })).toEqual({
      enabled: true,
      reason: 'the API server version could not be read (GET /version failed: connect ECONNREFUSED 127.0.0.1:6443); assuming native sidecars',
    });
  });

  it('assumes native without cluster access, unless forced off', () => {
    expect(decideNativeSidecar('auto', { kind: 'no-cluster' })).toEqual({
      enabled: true,
      reason: 'the webhook runs without cluster access (--service-account-lookup=false); assuming native sidecars',
    });
    expect(decideNativeSidecar('false', { kind: 'no-cluster' }).enabled).toBe(false);
  });
});

describe('readKubernetesVersion', () => {
  it('reads major, minor and gitVersion from /version', async () => {
    const api: KubernetesApi = { getJson: (path) => Promise.resolve(path === '/version' ? { status: 200, body: { major: '1', minor: '20', gitVersion: 'v1.20.2', platform: 'linux/amd64' } } : { status: 404, body: undefined }) };
    await expect(readKubernetesVersion(api, new AbortController().signal)).resolves.toEqual({ major: '1', minor: '20', gitVersion: 'v1.20.2' });
  });

  it('fails on a non-200 answer', async () => {
    const api: KubernetesApi = { getJson: () => Promise.resolve({ status: 401, body: { kind: 'Status' } }) };
    await expect(readKubernetesVersion(api, new AbortController().signal)).rejects.toThrow('GET /version answered HTTP 401');
  });
});

describe('watchClusterVersion', () => {
  function start(answers: (KubernetesVersionInfo | Error)[], setting: 'auto' | 'true' | 'false' = 'auto'): { decisions: NativeSidecarDecision[]; clock: FakeClock; stop: () => void; reads: () => number; decided: Promise<void> } {
    const clock = new FakeClock();
    const decisions: NativeSidecarDecision[] = [];
    let reads = 0;
    const watch = watchClusterVersion({
      setting,
      readVersion: () => {
        const answer = answers[Math.min(reads, answers.length - 1)];
        reads += 1;
        return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer ?? {});
      },
      recheckIntervalMs: 600_000,
      clock,
      logger: silentLogger(),
      onDecision: (decision) => decisions.push(decision),
    });
    return { decisions, clock, stop: () => { watch.stop(); }, reads: () => reads, decided: watch.decided };
  }

  const v120 = { major: '1', minor: '20', gitVersion: 'v1.20.2' };
  const v130 = { major: '1', minor: '30', gitVersion: 'v1.30.0' };

  it('decides from the first read and re-checks every interval, reporting only changes', async () => {
    const w = start([v120, v120, v130]);
    await w.decided;
    expect(w.decisions).toEqual([{ enabled: false, reason: 'the API server is v1.20.2; native sidecars need 1.29' }]);
    await w.clock.advanceBy(599_999);
    expect(w.reads()).toBe(1);
    await w.clock.advanceBy(1);
    expect(w.reads()).toBe(2);
    expect(w.decisions).toHaveLength(1);
    await w.clock.advanceBy(600_000);
    expect(w.decisions).toEqual([
      { enabled: false, reason: 'the API server is v1.20.2; native sidecars need 1.29' },
      { enabled: true, reason: 'the API server is v1.30.0, which has native sidecars (1.29 or later)' },
    ]);
    w.stop();
  });

  it('assumes native when the first read fails, and corrects itself when a later read succeeds', async () => {
    const w = start([new Error('connect ECONNREFUSED 127.0.0.1:6443'), v120]);
    await w.decided;
    expect(w.decisions).toEqual([{ enabled: true, reason: 'the API server version could not be read (connect ECONNREFUSED 127.0.0.1:6443); assuming native sidecars' }]);
    await w.clock.advanceBy(600_000);
    expect(w.decisions.at(-1)).toEqual({ enabled: false, reason: 'the API server is v1.20.2; native sidecars need 1.29' });
    w.stop();
  });

  it('keeps a decision made from a real version when a re-check fails', async () => {
    const w = start([v120, new Error('timed out')]);
    await w.decided;
    await w.clock.advanceBy(1_200_000);
    expect(w.reads()).toBe(3);
    expect(w.decisions).toEqual([{ enabled: false, reason: 'the API server is v1.20.2; native sidecars need 1.29' }]);
    w.stop();
  });

  it('never reads when forced, and stop ends the re-checks', async () => {
    const forced = start([v120], 'true');
    await forced.decided;
    expect(forced.reads()).toBe(0);
    expect(forced.decisions).toEqual([{ enabled: true, reason: 'native sidecars are forced on (--native-sidecar=true)' }]);

    const w = start([v120]);
    await w.decided;
    w.stop();
    await flushMicrotasks();
    await w.clock.advanceBy(6_000_000);
    expect(w.reads()).toBe(1);
    expect(w.clock.pendingTimers).toBe(0);
  });
});
