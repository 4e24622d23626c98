/**
 * Findings 2–4 for one pod, from the webhook's own decision core: what the webhook would do
 * with this pod today (decideInjection, the same function admission calls) against what its
 * status annotation records.
 *
 * - missed: opted in (Pod label or annotation, or its ServiceAccount) but no status annotation;
 * - stale: injected, but today's settings hash differs (or it would now be skipped or denied);
 * - drift: a sidecar image other than the configured one; sdk mode with several exchangers.
 */
import { Annotation, ContainerName, OPT_IN_LABEL, Path, SdkEnv, VolumeName, type Mode } from '../contract/index.ts';
import { decideInjection } from '../webhook/decide.ts';
import { isJsonObject, objectField, objectsField, stringField, type JsonObject, type JsonValue } from '../webhook/json.ts';
import { decideOptIn } from '../webhook/opt-in.ts';
import { podAnnotations, podLabels, podSpec } from '../webhook/pod.ts';
import { readStatus } from '../webhook/status.ts';
import type { InjectionDefaults, InjectionPlan, ServiceAccountLookup } from '../webhook/types.ts';
import type { FindingDraft } from './model.ts';

export interface InjectionContext {
  readonly serviceAccount: ServiceAccountLookup;
  /** The webhook's defaults as deployed; undefined when unknown (stale and image checks are skipped). */
  readonly defaults: InjectionDefaults | undefined;
  /** How to restart the pod's owner, for fixes: `kubectl rollout restart deployment/x -n ns`. */
  readonly restart: string;
}

/** The status annotation's fields audit compares (readStatus reads only what undoing needs). */
export interface RecordedStatus {
  readonly mode: Mode | undefined;
  readonly serviceAccount: string | undefined;
  readonly layout: string | undefined;
  readonly hash: string | undefined;
  /** Containers the webhook injected into, with their recorded mount paths. */
  readonly containers: ReadonlyMap<string, readonly string[]>;
}

function field(value: JsonValue | undefined, key: string): string | undefined {
  return isJsonObject(value) ? stringField(value, key) : undefined;
}

export function readRecordedStatus(raw: string): RecordedStatus | undefined {
  const read = readStatus(raw);
  if (read.kind !== 'present') return undefined;
  const parsed = JSON.parse(raw) as JsonValue;
  const mode = field(parsed, 'mode');
  return {
    mode: mode === 'file' || mode === 'proxy' || mode === 'sdk' ? mode : undefined,
    serviceAccount: field(parsed, 'serviceAccount'),
    layout: field(parsed, 'layout'),
    hash: field(parsed, 'hash'),
    containers: new Map(Object.entries(read.containers).map(([name, record]) => [name, record.mountPaths])),
  };
}

function optInSource(pod: JsonObject, serviceAccount: ServiceAccountLookup): string {
  if (podAnnotations(pod)[Annotation.inject] !== undefined) return `annotation ${Annotation.inject} on the Pod`;
  if (podLabels(pod)[OPT_IN_LABEL] !== undefined) return `label ${OPT_IN_LABEL} on the Pod`;
  const account = serviceAccount.kind === 'found' ? serviceAccount.serviceAccount.name : '';
  return `annotation ${Annotation.inject} on ServiceAccount ${JSON.stringify(account)}`;
}

function missedInjection(pod: JsonObject, context: InjectionContext): FindingDraft | undefined {
  const account = context.serviceAccount.kind === 'found' ? context.serviceAccount.serviceAccount : undefined;
  const optIn = decideOptIn({
    podAnnotations: podAnnotations(pod),
    podLabels: podLabels(pod),
    serviceAccount: account === undefined ? undefined : { annotations: account.annotations, where: '' },
  });
  if (optIn.kind !== 'in') return undefined;
  return {
    kind: 'missed-injection',
    severity: 'high',
    message:
      `opted in (${optInSource(pod, context.serviceAccount)}) but has no ${Annotation.status} annotation: it was admitted ` +
      `while the webhook was unavailable or not yet installed, and runs without workload identity`,
    fix: `check the webhook is up (kubectl get mutatingwebhookconfigurations, its pods), then ${context.restart}`,
  };
}

/** The sidecar images of a pod: the webhook's containers, by name. */
function agentImages(pod: JsonObject): string[] {
  const spec = podSpec(pod);
  const names: ReadonlySet<string> = new Set(Object.values(ContainerName));
  return [...objectsField(spec, 'initContainers'), ...objectsField(spec, 'containers')]
    .filter((container) => names.has(stringField(container, 'name') ?? ''))
    .map((container) => stringField(container, 'image') ?? '');
}

function sdkExchangers(pod: JsonObject, recorded: RecordedStatus): FindingDraft | undefined {
  if (recorded.mode !== 'sdk') return undefined;
  const exchangers = [...recorded.containers].filter(([, paths]) => paths.includes(Path.identityTokenDir)).map(([name]) => name);
  if (exchangers.length < 2) return undefined;
  const named = exchangers.map((name) => JSON.stringify(name)).join(', ');
  return {
    kind: 'sdk-several-exchangers',
    severity: 'medium',
    message: `sdk mode with ${String(exchangers.length)} containers (${named}) exchanging the same single-use assertion: every exchange after the first is refused`,
    fix: `use file mode (annotation ${Annotation.mode}: file), or list the containers that do not call Claude in ${Annotation.skipContainers}; then restart`,
  };
}

/** Name → value of the literal variables of the container(s) that carry the federation settings. */
function injectedEnv(envLists: readonly (readonly JsonObject[])[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const list of envLists) {
    for (const entry of list) {
      const name = stringField(entry, 'name');
      const value = stringField(entry, 'value');
      if (name !== undefined && value !== undefined && !env.has(name)) env.set(name, value);
    }
  }
  return env;
}

function tokenVolumeSettings(volumes: readonly JsonObject[]): Map<string, string> {
  const volume = volumes.find((v) => stringField(v, 'name') === VolumeName.identityToken);
  const source = objectsField(objectField(volume, 'projected'), 'sources')[0];
  const token = objectField(source, 'serviceAccountToken');
  const settings = new Map<string, string>();
  const audience = stringField(token, 'audience');
  const expiration = token?.expirationSeconds;
  if (audience !== undefined) settings.set(Annotation.audience, audience);
  if (typeof expiration === 'number') settings.set(Annotation.tokenExpiration, String(expiration));
  return settings;
}

const COMPARED_ENV = [SdkEnv.federationRuleId, SdkEnv.organizationId, SdkEnv.serviceAccountId, SdkEnv.workspaceId, SdkEnv.baseUrl];

/** What differs between the pod's injection and today's plan, as `name old → new` (ids and settings, never a secret). */
function settingDifferences(pod: JsonObject, plan: InjectionPlan, recorded: RecordedStatus): string[] {
  const spec = podSpec(pod);
  const all = [...objectsField(spec, 'initContainers'), ...objectsField(spec, 'containers')];
  const podCarriers = all.filter((c) => (recorded.mode === 'sdk' ? recorded.containers.has(stringField(c, 'name') ?? '') : stringField(c, 'name') === ContainerName.agent));
  const planEnv = plan.mode === 'sdk' ? Object.values(plan.containers).flatMap((c) => c.env) : objectsField(plan.initContainer, 'env');
  const before = new Map([...injectedEnv(podCarriers.map((c) => objectsField(c, 'env'))), ...tokenVolumeSettings(objectsField(spec, 'volumes'))]);
  const after = new Map([...injectedEnv([planEnv]), ...tokenVolumeSettings(plan.volumes)]);
  const keys = [...COMPARED_ENV, Annotation.audience, Annotation.tokenExpiration];
  const changes = keys.filter((key) => before.get(key) !== after.get(key)).map((key) => `${key} ${before.get(key) ?? '(unset)'} → ${after.get(key) ?? '(unset)'}`);
  if (recorded.mode !== plan.mode) changes.unshift(`mode ${recorded.mode ?? '(unknown)'} → ${plan.mode}`);
  if (recorded.layout !== plan.layout) changes.push(`layout ${recorded.layout ?? '(unknown)'} → ${plan.layout}`);
  return changes;
}

function planHash(plan: InjectionPlan): string | undefined {
  return field(JSON.parse(plan.status) as JsonValue, 'hash');
}

function imageDrift(images: readonly string[], configured: string, restart: string): FindingDraft {
  const running = [...new Set(images.filter((image) => image !== configured))].join(', ');
  return {
    kind: 'sidecar-image-drift',
    severity: 'low',
    message: `the ${ContainerName.agent} sidecar runs ${running}, not the configured ${configured}`,
    fix: restart,
  };
}

function staleDraft(message: string, fix: string): FindingDraft {
  return { kind: 'stale-injection', severity: 'medium', message, fix };
}

interface InjectedCheck {
  readonly pod: JsonObject;
  readonly recorded: RecordedStatus;
  readonly defaults: InjectionDefaults;
  readonly context: InjectionContext;
}

function injectedDrafts({ pod, recorded, defaults, context }: InjectedCheck): FindingDraft[] {
  const decision = decideInjection(pod, context.serviceAccount, defaults);
  if (decision.kind === 'skip') return [staleDraft(`injected, but the webhook would no longer inject it (${decision.reason})`, `re-create it without the injection: ${context.restart}`)];
  if (decision.kind === 'deny') return [staleDraft(`injected, but the webhook would now deny it: ${decision.reason}`, `fix the settings named, then ${context.restart}`)];
  if (decision.kind !== 'inject') return [];
  const images = recorded.layout === 'none' ? [] : agentImages(pod);
  const drifted = images.some((image) => image !== defaults.agentImage);
  if (planHash(decision.plan) === recorded.hash) return drifted ? [imageDrift(images, defaults.agentImage, context.restart)] : [];
  // Only the image changed (a new chart version): drift, not a change of identity settings.
  const running = images.find((image) => image !== defaults.agentImage);
  if (running !== undefined) {
    const asRunning = decideInjection(pod, context.serviceAccount, { ...defaults, agentImage: running });
    if (asRunning.kind === 'inject' && planHash(asRunning.plan) === recorded.hash) return [imageDrift(images, defaults.agentImage, context.restart)];
  }
  const changes = settingDifferences(pod, decision.plan, recorded);
  const what = changes.length === 0 ? 'the sidecar settings (image, resources, uid or extra variables) changed' : changes.join('; ');
  return [
    staleDraft(
      `injected with settings the webhook would no longer use (${what}): the ServiceAccount's annotations or the webhook's defaults changed since it started`,
      context.restart,
    ),
  ];
}

/** Findings 2–4 for one pod. */
export function injectionDrafts(pod: JsonObject, context: InjectionContext): FindingDraft[] {
  const raw = podAnnotations(pod)[Annotation.status];
  if (raw === undefined) {
    const missed = missedInjection(pod, context);
    return missed === undefined ? [] : [missed];
  }
  const recorded = readRecordedStatus(raw);
  if (recorded === undefined) {
    return [
      {
        kind: 'foreign-status',
        severity: 'medium',
        message: `its ${Annotation.status} annotation was not written by this webhook, so the webhook will deny its re-admission`,
        fix: `remove the annotation from the workload's pod template, then ${context.restart}`,
      },
    ];
  }
  const sdk = sdkExchangers(pod, recorded);
  const rest = context.defaults === undefined ? [] : injectedDrafts({ pod, recorded, defaults: context.defaults, context });
  return [...(sdk === undefined ? [] : [sdk]), ...rest];
}
