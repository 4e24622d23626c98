/**
 * The pod-dependent half of the decision: given valid settings, what exactly to inject into
 * this pod (or why it cannot be injected), and the warnings that explain every guess.
 *
 * Decisions are made on the pod as it would be without the webhook's earlier injection
 * (recorded in the status annotation), so re-admitting an injected pod plans the same
 * injection again, and a pod whose settings changed is re-injected consistently.
 */
import { Annotation, ContainerName, Default, Path, SHADOWING_ENV, VolumeName, type Mode } from '../contract/index.ts';
import type {
  ContainerInjection,
  EffectiveSettings,
  InjectionDecision,
  InjectionDefaults,
  InjectionPlan,
} from './types.ts';
import {
  agentContainer,
  appInjection,
  caBundleVolume,
  credentialsVolume,
  proxyAddress,
  identityTokenVolume,
} from './injected-objects.ts';
import { isJsonObject, nameRecord, objectField, objectsField, stringField, type JsonObject } from './json.ts';
import { isPreviousEnv, isPreviousMount, isWebhookContainer, isWebhookVolume } from './ownership.ts';
import {
  agentInitIndex,
  containerName,
  containerPorts,
  declaredRunAsUser,
  describeContainers,
  envEntries,
  isWindowsPod,
  podAnnotations,
  podShapeError,
  podSpec,
  usesHostNetwork,
  volumeMounts,
} from './pod.ts';
import { STATUS_VERSION, formatStatus, readStatus, settingsHash, type ContainerRecord, type Layout } from './status.ts';

export interface PlanInput {
  readonly pod: JsonObject;
  readonly settings: EffectiveSettings;
  readonly defaults: InjectionDefaults;
  /** The pod's ServiceAccount name, recorded in the status annotation. */
  readonly serviceAccount: string;
  readonly warnings: readonly string[];
}

/** A container with what an earlier injection added taken away. */
interface ContainerView {
  readonly name: string;
  readonly init: boolean;
  readonly container: JsonObject;
  readonly env: readonly JsonObject[];
  readonly mounts: readonly JsonObject[];
}

interface PodView {
  readonly spec: JsonObject;
  /** Every container that is not the webhook's: init containers, then app containers. */
  readonly all: readonly ContainerView[];
  /** Those that may get the injection: init containers after the agent's place, then app containers. */
  readonly candidates: readonly ContainerView[];
}

/** A step's outcome: its part of the plan, or denial reasons; warnings either way. */
interface Findings {
  readonly errors: string[];
  readonly warnings: string[];
}

function viewContainer(container: JsonObject, init: boolean, previous: Readonly<Record<string, ContainerRecord>>): ContainerView {
  const name = containerName(container);
  const record = previous[name];
  return {
    name,
    init,
    container,
    env: envEntries(container).filter((entry) => !isPreviousEnv(entry, record)),
    mounts: volumeMounts(container).filter((mount) => !isPreviousMount(mount, record)),
  };
}

function viewPod(pod: JsonObject, previous: Readonly<Record<string, ContainerRecord>>): PodView {
  const spec = podSpec(pod);
  const inits = objectsField(spec, 'initContainers').filter((container) => !isWebhookContainer(container));
  const apps = objectsField(spec, 'containers').filter((container) => !isWebhookContainer(container));
  const initViews = inits.map((container) => viewContainer(container, true, previous));
  const appViews = apps.map((container) => viewContainer(container, false, previous));
  return {
    spec,
    all: [...initViews, ...appViews],
    // Native sidecars that start before the agent (a mesh proxy) start before any token exists.
    candidates: [...initViews.slice(agentInitIndex(inits)), ...appViews],
  };
}

function foreignObjectErrors(spec: JsonObject): string[] {
  const containers = [...objectsField(spec, 'initContainers'), ...objectsField(spec, 'containers')]
    .filter(isWebhookContainer)
    .map((container) => `container ${JSON.stringify(containerName(container))}`);
  const volumes = objectsField(spec, 'volumes')
    .filter(isWebhookVolume)
    .map((volume) => `volume ${JSON.stringify(stringField(volume, 'name'))}`);
  return [...containers, ...volumes].map(
    (what) =>
      `the pod already has ${what} but no ${Annotation.status} annotation, so the webhook did not inject it; ` +
      `remove it (the webhook adds its own) or set ${Annotation.inject}: "false"`,
  );
}

function portErrors(view: PodView, settings: EffectiveSettings, defaults: InjectionDefaults): string[] {
  if (settings.mode === 'sdk') return [];
  const needed = [
    { port: Default.agentHealthPort, use: 'its health and metrics listener' },
    ...(settings.mode === 'proxy' ? [{ port: defaults.proxyPort, use: "its proxy (the webhook's --proxy-port)" }] : []),
  ];
  return needed.flatMap(({ port, use }) =>
    view.all
      .filter((entry) => containerPorts(entry.container).includes(port))
      .map((entry) => `${describeContainers([entry.name])} declares port ${String(port)}, which the ${ContainerName.agent} sidecar needs for ${use}; use another port or sdk mode`),
  );
}

/** The webhook's volumes only the agent may mount (in a mode): what they hold, for the message. */
const AGENT_ONLY_VOLUMES: readonly { readonly name: string; readonly holds: string; readonly modes: readonly Mode[] }[] = [
  { name: VolumeName.identityToken, holds: "the pod's Kubernetes token for the exchange", modes: ['file', 'proxy', 'sdk'] },
  { name: VolumeName.credentials, holds: 'the access token, which proxy mode keeps out of the app containers', modes: ['proxy'] },
];

/**
 * Mounts of the webhook's credential volumes that the webhook did not put there (its own were
 * taken out of the view): the pod author cannot hand an app container the sidecar's secrets.
 */
function credentialMountErrors(view: PodView, settings: EffectiveSettings): string[] {
  return AGENT_ONLY_VOLUMES.filter((volume) => volume.modes.includes(settings.mode)).flatMap((volume) =>
    view.all.flatMap((entry) =>
      entry.mounts
        .filter((mount) => stringField(mount, 'name') === volume.name)
        .map(
          (mount) =>
            `${describeContainers([entry.name])} mounts volume ${volume.name} at ${JSON.stringify(stringField(mount, 'mountPath') ?? '')}, ` +
            `which holds ${volume.holds}; only the webhook mounts it, ${settings.mode === 'sdk' ? 'in the app containers it injects' : `in the ${ContainerName.agent} sidecar`}; remove the mount`,
        ),
    ),
  );
}

function podLevelFindings(view: PodView, settings: EffectiveSettings, defaults: InjectionDefaults): Findings {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (isWindowsPod(view.spec)) {
    errors.push(`Windows pods cannot be injected: the ${ContainerName.agent} image and its token files need Linux; set ${Annotation.inject}: "false" on this pod`);
  }
  if (usesHostNetwork(view.spec)) {
    if (settings.mode === 'proxy') {
      errors.push(
        `hostNetwork pods cannot use proxy mode: the proxy on ${proxyAddress(defaults.proxyPort)} would serve every process on the node; use file or sdk mode`,
      );
    } else {
      warnings.push(hostNetworkWarning(settings));
    }
  }
  return { errors: [...errors, ...credentialMountErrors(view, settings), ...portErrors(view, settings, defaults)], warnings };
}

function hostNetworkWarning(settings: EffectiveSettings): string {
  const port = String(Default.agentHealthPort);
  return settings.mode === 'file'
    ? `hostNetwork: the ${ContainerName.agent} sidecar's health and metrics listener binds port ${port} on the node, so a second such pod on the same node cannot start its sidecar`
    : `hostNetwork: sdk mode injects no listener, but file mode would bind port ${port} on the node and proxy mode is not allowed`;
}

function skipWarnings(view: PodView, settings: EffectiveSettings): string[] {
  const names = new Set(view.all.map((entry) => entry.name));
  return settings.skipContainers
    .filter((name) => !names.has(name))
    .map((name) => `${Annotation.skipContainers} names ${JSON.stringify(name)}, which is not a container of this pod`);
}

interface Shadowing {
  readonly container: string;
  readonly variable: string;
  readonly source: string;
}

/** An empty literal counts as unset in the SDKs, so it shadows nothing. */
function shadowingOf(target: ContainerView): Shadowing[] {
  return target.env
    .filter((entry) => SHADOWING_ENV.includes(stringField(entry, 'name') ?? ''))
    .filter((entry) => isJsonObject(entry.valueFrom) || (stringField(entry, 'value') ?? '') !== '')
    .map((entry) => ({ container: target.name, variable: stringField(entry, 'name') ?? '', source: valueSource(entry) }));
}

function valueSource(entry: JsonObject): string {
  const valueFrom = objectField(entry, 'valueFrom');
  const secret = stringField(objectField(valueFrom, 'secretKeyRef'), 'name');
  if (secret !== undefined) return ` from Secret ${JSON.stringify(secret)}`;
  const configMap = stringField(objectField(valueFrom, 'configMapKeyRef'), 'name');
  return configMap === undefined ? '' : ` from ConfigMap ${JSON.stringify(configMap)}`;
}

function shadowingFindings(targets: readonly ContainerView[], defaults: InjectionDefaults): Findings & { readonly shadowed: ReadonlySet<string> } {
  const found = targets.flatMap(shadowingOf);
  const describe = (s: Shadowing): string => `${describeContainers([s.container])} sets ${s.variable}${s.source}`;
  const shadowed = new Set(found.map((s) => `${s.container}/${s.variable}`));
  if (defaults.shadowing === 'deny') {
    const errors = found.map(
      (s) =>
        `${describe(s)}, which the SDKs use before workload identity (the webhook runs with --shadowing=deny); ` +
        `remove the variable or list the container in ${Annotation.skipContainers}`,
    );
    return { errors, warnings: [], shadowed };
  }
  const warnings = found.map((s) => `${describe(s)}: the SDKs use it before workload identity, so the container keeps using it; remove the variable to use the injected identity`);
  return { errors: [], warnings, shadowed };
}

interface ContainerPlan extends Findings {
  readonly injection: ContainerInjection;
}

/** Never replaces a variable the container sets itself, and never mounts over its mounts. */
function planContainer(target: ContainerView, desired: ContainerInjection, shadowed: ReadonlySet<string>): ContainerPlan {
  const setNames = new Set(target.env.map((entry) => stringField(entry, 'name')));
  const mountPaths = new Set(target.mounts.map((mount) => stringField(mount, 'mountPath')));
  const clashes = desired.env.filter((entry) => setNames.has(stringField(entry, 'name')));
  const warnings = clashes
    .filter((entry) => !shadowed.has(`${target.name}/${stringField(entry, 'name') ?? ''}`))
    .map(
      (entry) =>
        `${describeContainers([target.name])} already sets ${stringField(entry, 'name') ?? ''}; ` +
        `the webhook left it unchanged instead of setting it to ${JSON.stringify(entry.value)}`,
    );
  const errors = desired.volumeMounts
    .filter((mount) => mountPaths.has(stringField(mount, 'mountPath')))
    .map(
      (mount) =>
        `${describeContainers([target.name])} already mounts a volume at ${stringField(mount, 'mountPath') ?? ''}, ` +
        `where the webhook mounts ${stringField(mount, 'name') ?? ''}; move that mount or list the container in ${Annotation.skipContainers}`,
    );
  const injection = { env: desired.env.filter((entry) => !clashes.includes(entry)), volumeMounts: desired.volumeMounts };
  return { injection, warnings, errors };
}

/** The app containers' uid decides before an init container's: they read the token all along. */
function agentUserFindings(readers: readonly ContainerView[], spec: JsonObject): { readonly uid: number; readonly warnings: string[] } {
  const ordered = [...readers.filter((reader) => !reader.init), ...readers.filter((reader) => reader.init)];
  const uids = ordered.map((reader) => ({ name: reader.name, uid: declaredRunAsUser(reader.container, spec) }));
  // Root reads any file, so uid 0 containers neither choose the uid nor need a warning.
  const declared = uids.filter((entry) => entry.uid !== undefined && entry.uid !== 0);
  const uid = declared[0]?.uid ?? Default.agentRunAsUser;
  const undeclared = uids.filter((entry) => entry.uid === undefined).map((entry) => entry.name);
  const others = declared.filter((entry) => entry.uid !== uid);
  const warnings: string[] = [];
  if (undeclared.length > 0) {
    warnings.push(
      `no runAsUser is declared for ${describeContainers(undeclared)}: the token files in ${Path.outputDir} (mode 0600) ` +
        `belong to uid ${String(uid)}, so only a process running as uid ${String(uid)} or as root can read them; ` +
        `set securityContext.runAsUser on the Pod or the container to the uid the image runs as`,
    );
  }
  if (others.length > 0) {
    const described = others.map((entry) => `${JSON.stringify(entry.name)} (uid ${String(entry.uid)})`).join(', ');
    warnings.push(
      `${others.length === 1 ? 'container' : 'containers'} ${described} cannot read the token files in ${Path.outputDir} ` +
        `(mode 0600, uid ${String(uid)} like the ${ContainerName.agent} sidecar); run the containers that read the token ` +
        `as one uid, or list the others in ${Annotation.skipContainers}`,
    );
  }
  return { uid, warnings };
}

function layoutOf(settings: EffectiveSettings, defaults: InjectionDefaults): Layout {
  if (settings.mode === 'sdk') return 'none';
  return defaults.nativeSidecar.enabled ? 'native' : 'legacy';
}

function layoutWarnings(layout: Layout, spec: JsonObject, defaults: InjectionDefaults): string[] {
  if (layout !== 'legacy') return [];
  const warnings = [
    `legacy sidecar layout (${defaults.nativeSidecar.reason}): the ${ContainerName.init} init container fetches the first token ` +
      `and ${ContainerName.agent} runs as a regular container`,
  ];
  const restartPolicy = stringField(spec, 'restartPolicy');
  if (restartPolicy === 'Never' || restartPolicy === 'OnFailure') {
    warnings.push(
      `restartPolicy ${restartPolicy} with the legacy layout: ${ContainerName.agent} keeps running after the other containers exit, ` +
        `so the pod does not complete on its own`,
    );
  }
  return warnings;
}

function targetWarnings(settings: EffectiveSettings, targets: readonly ContainerView[]): string[] {
  if (targets.length === 0) {
    return [`no container gets the injected identity: every container is listed in ${Annotation.skipContainers} or starts before the agent`];
  }
  if (settings.mode !== 'sdk' || targets.length < 2) return [];
  return [
    `sdk mode: ${describeContainers(targets.map((target) => target.name))} would each exchange the same single-use projected token, ` +
      `and every exchange after the first is refused (its jti was already used); use file mode, or list the containers ` +
      `that do not call Claude in ${Annotation.skipContainers}`,
  ];
}

function settingsHashOf(input: PlanInput, layout: Layout, runAsUser: number): string {
  const { settings, defaults } = input;
  const sidecar =
    layout === 'none'
      ? {}
      : {
          agentImage: defaults.agentImage,
          agentImagePullPolicy: defaults.agentImagePullPolicy,
          agentResources: defaults.agentResources,
          runAsUser,
          // Only when set, so pods injected before these existed keep their hash.
          ...(defaults.caBundle === undefined ? {} : { caBundle: defaults.caBundle }),
          ...(defaults.agentEnv.length === 0 ? {} : { agentEnv: defaults.agentEnv }),
        };
  return settingsHash({
    serviceAccount: input.serviceAccount,
    mode: settings.mode,
    layout,
    organizationId: settings.organizationId,
    federationRuleId: settings.federationRuleId,
    serviceAccountId: settings.serviceAccountId,
    workspaceId: settings.workspaceId,
    audience: settings.audience,
    tokenExpirationSeconds: settings.tokenExpirationSeconds,
    baseUrl: settings.baseUrl,
    skipContainers: settings.skipContainers,
    ...sidecar,
    ...(settings.mode === 'proxy' ? { proxyPort: defaults.proxyPort } : {}),
  });
}

function statusRecords(containers: Readonly<Record<string, ContainerInjection>>): Record<string, ContainerRecord> {
  return nameRecord(
    Object.entries(containers).map(([name, injection]) => [
      name,
      {
        env: injection.env.map((entry) => stringField(entry, 'name') ?? ''),
        mountPaths: injection.volumeMounts.map((mount) => stringField(mount, 'mountPath') ?? ''),
      },
    ]),
  );
}

interface Assembly {
  readonly layout: Layout;
  readonly runAsUser: number;
  readonly containers: Readonly<Record<string, ContainerInjection>>;
  readonly previous: Readonly<Record<string, ContainerRecord>>;
}

function assemblePlan(input: PlanInput, assembly: Assembly): InjectionPlan {
  const { settings, defaults } = input;
  const { layout, runAsUser } = assembly;
  const agent = { settings, defaults, runAsUser };
  const status = formatStatus({
    version: STATUS_VERSION,
    mode: settings.mode,
    serviceAccount: input.serviceAccount,
    layout,
    hash: settingsHashOf(input, layout, runAsUser),
    containers: statusRecords(assembly.containers),
  });
  const initKind = layout === 'native' ? 'native-sidecar' : 'init';
  return {
    mode: settings.mode,
    layout,
    volumes: podVolumes(settings, defaults),
    initContainer: layout === 'none' ? undefined : agentContainer({ ...agent, kind: initKind }),
    sidecar: layout === 'legacy' ? agentContainer({ ...agent, kind: 'sidecar' }) : undefined,
    containers: assembly.containers,
    previous: assembly.previous,
    status,
  };
}

/** sdk mode has no sidecar, so no credentials volume and no CA bundle (the app's own SDK brings its trust). */
function podVolumes(settings: EffectiveSettings, defaults: InjectionDefaults): JsonObject[] {
  if (settings.mode === 'sdk') return [identityTokenVolume(settings)];
  const caBundle = defaults.caBundle === undefined ? [] : [caBundleVolume(defaults.caBundle)];
  return [identityTokenVolume(settings), credentialsVolume(), ...caBundle];
}

/** What the webhook injected before, or why it cannot tell what it owns. */
function previousInjection(pod: JsonObject): { readonly previous: Readonly<Record<string, ContainerRecord>> } | { readonly errors: string[] } {
  const status = readStatus(podAnnotations(pod)[Annotation.status]);
  if (status.kind === 'present') return { previous: status.containers };
  if (status.kind === 'invalid') {
    return {
      errors: [
        `the ${Annotation.status} annotation was not written by this webhook, so it cannot tell what it injected before; ` +
          `remove the annotation together with the injected containers, volumes and variables, or recreate the pod from its template`,
      ],
    };
  }
  const foreign = foreignObjectErrors(podSpec(pod));
  return foreign.length > 0 ? { errors: foreign } : { previous: nameRecord() };
}

export function planInjection(input: PlanInput): InjectionDecision {
  const { pod, settings, defaults } = input;
  // A denial carries only the warnings about settings: the others describe an injection that is not made.
  const deny = (errors: readonly string[]): InjectionDecision => ({ kind: 'deny', reason: errors.join('; '), warnings: input.warnings, mode: settings.mode });
  const shapeError = podShapeError(pod);
  if (shapeError !== undefined) return deny([`the pod is not well-formed: ${shapeError}; the webhook injects only into a well-formed Pod`]);
  const owned = previousInjection(pod);
  if ('errors' in owned) return deny(owned.errors);
  const { previous } = owned;
  const view = viewPod(pod, previous);
  const skipped = new Set(settings.skipContainers);
  const targets = view.candidates.filter((candidate) => !skipped.has(candidate.name));
  const podLevel = podLevelFindings(view, settings, defaults);
  const shadowing = shadowingFindings(targets, defaults);
  const desired = appInjection(settings.mode, settings, defaults.proxyPort);
  const planned = targets.map((target) => ({ name: target.name, ...planContainer(target, desired, shadowing.shadowed) }));
  const errors = [...podLevel.errors, ...shadowing.errors, ...planned.flatMap((entry) => entry.errors)];
  if (errors.length > 0) return deny(errors);
  const layout = layoutOf(settings, defaults);
  const user = settings.mode === 'file' ? agentUserFindings(targets, view.spec) : { uid: Default.agentRunAsUser, warnings: [] };
  const warnings = [
    ...input.warnings,
    ...skipWarnings(view, settings),
    ...shadowing.warnings,
    ...planned.flatMap((entry) => entry.warnings),
    ...targetWarnings(settings, targets),
    ...user.warnings,
    ...podLevel.warnings,
    ...layoutWarnings(layout, view.spec, defaults),
  ];
  const containers = nameRecord(
    planned
      .filter((entry) => entry.injection.env.length > 0 || entry.injection.volumeMounts.length > 0)
      .map((entry) => [entry.name, entry.injection]),
  );
  const plan = assemblePlan(input, { layout, runAsUser: user.uid, containers, previous });
  return { kind: 'inject', plan, warnings };
}
