/**
 * `--native-sidecar auto|true|false`: native sidecars (init containers with
 * `restartPolicy: Always`) are on by default from Kubernetes 1.29. `auto` reads the API
 * server's `/version` once at start and re-checks periodically; when it cannot be read the
 * contract says native. The decision carries a reason the core puts in its legacy warning.
 */
import type { Clock } from '../runtime/clock.ts';
import { WifError, describeError } from '../runtime/errors.ts';
import type { Logger } from '../runtime/logger.ts';
import type { KubernetesApi } from './kubernetes.ts';

export type NativeSidecarSetting = 'auto' | 'true' | 'false';

export interface NativeSidecarDecision {
  readonly enabled: boolean;
  readonly reason: string;
}

/** The fields of the API server's `/version` answer that matter here. */
export interface KubernetesVersionInfo {
  readonly major?: string | undefined;
  readonly minor?: string | undefined;
  readonly gitVersion?: string | undefined;
}

export type VersionObservation =
  | { readonly kind: 'version'; readonly info: KubernetesVersionInfo }
  /** The API server was asked and did not answer usefully. */
  | { readonly kind: 'unreachable'; readonly reason: string }
  /** The webhook runs with no cluster access (`--service-account-lookup=false`). */
  | { readonly kind: 'no-cluster' };

export const NATIVE_SIDECAR_MIN_VERSION = { major: 1, minor: 29 } as const;
const MIN_LABEL = `${NATIVE_SIDECAR_MIN_VERSION.major}.${NATIVE_SIDECAR_MIN_VERSION.minor}`;

/** `major`/`minor` as servers report them (`"29+"` on some managed clusters), else gitVersion. */
export function parseKubernetesVersion(info: KubernetesVersionInfo): { readonly major: number; readonly minor: number } | undefined {
  const major = /^(\d+)\+?$/.exec(info.major ?? '');
  const minor = /^(\d+)\+?$/.exec(info.minor ?? '');
  if (major?.[1] !== undefined && minor?.[1] !== undefined) return { major: Number(major[1]), minor: Number(minor[1]) };
  const git = /^v?(\d+)\.(\d+)/.exec(info.gitVersion ?? '');
  if (git?.[1] !== undefined && git[2] !== undefined) return { major: Number(git[1]), minor: Number(git[2]) };
  return undefined;
}

function versionLabel(info: KubernetesVersionInfo, parsed: { readonly major: number; readonly minor: number }): string {
  return info.gitVersion !== undefined && info.gitVersion !== '' ? info.gitVersion : `v${parsed.major}.${parsed.minor}`;
}

function decideFromVersion(info: KubernetesVersionInfo): NativeSidecarDecision {
  const parsed = parseKubernetesVersion(info);
  if (parsed === undefined) {
    return { enabled: true, reason: `the API server reported a version this webhook cannot read (${JSON.stringify(info.gitVersion ?? '')}); assuming native sidecars` };
  }
  const label = versionLabel(info, parsed);
  const { major, minor } = NATIVE_SIDECAR_MIN_VERSION;
  const native = parsed.major > major || (parsed.major === major && parsed.minor >= minor);
  return native
    ? { enabled: true, reason: `the API server is ${label}, which has native sidecars (${MIN_LABEL} or later)` }
    : { enabled: false, reason: `the API server is ${label}; native sidecars need ${MIN_LABEL}` };
}

/** Pure: the setting and what was observed of the cluster → native or legacy layout, and why. */
export function decideNativeSidecar(setting: NativeSidecarSetting, observation: VersionObservation): NativeSidecarDecision {
  if (setting === 'true') return { enabled: true, reason: 'native sidecars are forced on (--native-sidecar=true)' };
  if (setting === 'false') return { enabled: false, reason: 'native sidecars are turned off (--native-sidecar=false)' };
  switch (observation.kind) {
    case 'version':
      return decideFromVersion(observation.info);
    case 'unreachable':
      return { enabled: true, reason: `the API server version could not be read (${observation.reason}); assuming native sidecars` };
    case 'no-cluster':
      return { enabled: true, reason: 'the webhook runs without cluster access (--service-account-lookup=false); assuming native sidecars' };
  }
}

const VERSION_PATH = '/version';
export const VERSION_READ_TIMEOUT_MS = 5_000;

/** GET /version (readable by every authenticated client, unauthenticated ones too by default). */
export async function readKubernetesVersion(api: KubernetesApi, signal: AbortSignal): Promise<KubernetesVersionInfo> {
  const result = await api.getJson(VERSION_PATH, { timeoutMs: VERSION_READ_TIMEOUT_MS, signal });
  const body = result.body;
  if (result.status !== 200 || typeof body !== 'object' || body === null) {
    throw new WifError('kubernetes', `GET ${VERSION_PATH} answered HTTP ${result.status}`, { status: result.status });
  }
  const field = (key: string): string | undefined => {
    const value = (body as Record<string, unknown>)[key];
    return typeof value === 'string' ? value : undefined;
  };
  return { major: field('major'), minor: field('minor'), gitVersion: field('gitVersion') };
}

export interface ClusterVersionWatchOptions {
  readonly setting: NativeSidecarSetting;
  /** Absent when the webhook has no cluster access. */
  readonly readVersion: ((signal: AbortSignal) => Promise<KubernetesVersionInfo>) | undefined;
  readonly recheckIntervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called with the first decision and whenever it changes. */
  readonly onDecision: (decision: NativeSidecarDecision) => void;
}

export interface ClusterVersionWatch {
  /** Resolves once the first decision is made (after the first read, successful or not). */
  readonly decided: Promise<void>;
  stop(): void;
}

/**
 * Reads the version at start and every `recheckIntervalMs`. A failed re-check keeps the
 * last decision made from a real version: an API server blip must not flip the layout.
 */
export function watchClusterVersion(options: ClusterVersionWatchOptions): ClusterVersionWatch {
  const { setting, readVersion } = options;
  if (setting !== 'auto' || readVersion === undefined) {
    const decision = decideNativeSidecar(setting, { kind: 'no-cluster' });
    options.logger.info({ nativeSidecar: decision.enabled, reason: decision.reason }, 'sidecar layout decided');
    options.onDecision(decision);
    return { decided: Promise.resolve(), stop: () => undefined };
  }
  const controller = new AbortController();
  let current: NativeSidecarDecision | undefined;
  let fromVersion = false;
  const publish = (decision: NativeSidecarDecision): void => {
    if (current?.enabled === decision.enabled && current.reason === decision.reason) return;
    current = decision;
    options.logger.info({ nativeSidecar: decision.enabled, reason: decision.reason }, 'sidecar layout decided');
    options.onDecision(decision);
  };
  const check = async (): Promise<void> => {
    try {
      publish(decideNativeSidecar(setting, { kind: 'version', info: await readVersion(controller.signal) }));
      fromVersion = true;
    } catch (error) {
      if (controller.signal.aborted) return;
      const reason = describeError(error);
      options.logger.warn({ err: reason, keptPrevious: fromVersion }, 'could not read the API server version');
      if (!fromVersion) publish(decideNativeSidecar(setting, { kind: 'unreachable', reason }));
    }
  };
  const decided = check();
  const stopped = (): boolean => controller.signal.aborted;
  const loop = async (): Promise<void> => {
    await decided;
    while (!stopped()) {
      await options.clock.sleep(options.recheckIntervalMs, controller.signal).catch(() => undefined);
      if (!stopped()) await check();
    }
  };
  void loop();
  return {
    decided,
    stop: () => {
      controller.abort();
    },
  };
}
