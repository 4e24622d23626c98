/**
 * The objects the webhook injects, exactly as the contract names them: volumes, the agent
 * containers, and the variables and mounts app containers get in each mode.
 */
import {
  AgentArgs,
  AgentCommand,
  AgentEnv,
  ContainerName,
  Default,
  HttpPath,
  OutputFile,
  PROXY_PLACEHOLDER_AUTH_TOKEN,
  Path,
  SdkEnv,
  VolumeName,
  type Mode,
} from '../contract/index.ts';
import type { CaBundleSource, ContainerInjection, EffectiveSettings, InjectionDefaults } from './types.ts';
import type { JsonObject } from './json.ts';

/** The startup probe allows this long for the first token before the kubelet restarts the sidecar. */
const STARTUP_PROBE = { periodSeconds: 1, failureThreshold: 120 } as const;
const LIVENESS_PROBE = { periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 } as const;

function envVar(name: string, value: string): JsonObject {
  return { name, value };
}

function withoutDefault(value: string, defaultValue: string): string | undefined {
  return value.replace(/\/+$/, '') === defaultValue ? undefined : value;
}

export function proxyAddress(port: number): string {
  return `127.0.0.1:${String(port)}`;
}

export function identityTokenVolume(settings: EffectiveSettings): JsonObject {
  return {
    name: VolumeName.identityToken,
    projected: {
      sources: [
        {
          serviceAccountToken: {
            audience: settings.audience,
            expirationSeconds: settings.tokenExpirationSeconds,
            path: Path.identityTokenItem,
          },
        },
      ],
    },
  };
}

export function credentialsVolume(): JsonObject {
  return { name: VolumeName.credentials, emptyDir: { medium: 'Memory', sizeLimit: Default.credentialsVolumeSizeLimit } };
}

/**
 * The CA bundle ConfigMap, mounted in the sidecar only. Not optional: a namespace without the
 * ConfigMap keeps the pod in ContainerCreating with an event naming it, rather than starting a
 * sidecar that would refuse the intercepting proxy's certificate.
 */
export function caBundleVolume(source: CaBundleSource): JsonObject {
  return { name: VolumeName.caBundle, configMap: { name: source.configMap, items: [{ key: source.key, path: Path.caBundleItem }] } };
}

/** The federation variables the SDKs read, shared by the sidecar and (sdk mode) the apps. */
function federationEnv(settings: EffectiveSettings): JsonObject[] {
  const baseUrl = withoutDefault(settings.baseUrl, Default.baseUrl);
  return [
    envVar(SdkEnv.federationRuleId, settings.federationRuleId),
    envVar(SdkEnv.organizationId, settings.organizationId),
    ...(settings.serviceAccountId === undefined ? [] : [envVar(SdkEnv.serviceAccountId, settings.serviceAccountId)]),
    ...(settings.workspaceId === undefined ? [] : [envVar(SdkEnv.workspaceId, settings.workspaceId)]),
    envVar(SdkEnv.identityTokenFile, Path.identityTokenFile),
    ...(baseUrl === undefined ? [] : [envVar(SdkEnv.baseUrl, baseUrl)]),
  ];
}

/** The contract's variables first, then the operator's `--agent-env` (which never repeats an `ANTHROPIC_` name). */
function agentEnv(settings: EffectiveSettings, defaults: InjectionDefaults, proxyPort: number | undefined): JsonObject[] {
  const audience = settings.audience === Default.audience ? undefined : settings.audience;
  return [
    ...federationEnv(settings),
    envVar(AgentEnv.outputDir, Path.outputDir),
    ...(audience === undefined ? [] : [envVar(AgentEnv.audience, audience)]),
    ...(proxyPort === undefined ? [] : [envVar(AgentEnv.proxyAddr, proxyAddress(proxyPort))]),
    ...(defaults.caBundle === undefined ? [] : [envVar(AgentEnv.caBundleFile, Path.caBundleFile)]),
    ...defaults.agentEnv.map(({ name, value }) => envVar(name, value)),
  ];
}

function agentMounts(defaults: InjectionDefaults): JsonObject[] {
  return [
    { name: VolumeName.identityToken, mountPath: Path.identityTokenDir, readOnly: true },
    { name: VolumeName.credentials, mountPath: Path.outputDir },
    ...(defaults.caBundle === undefined ? [] : [{ name: VolumeName.caBundle, mountPath: Path.caBundleDir, readOnly: true }]),
  ];
}

export interface AgentContainerOptions {
  readonly kind: 'native-sidecar' | 'sidecar' | 'init';
  readonly settings: EffectiveSettings;
  readonly defaults: InjectionDefaults;
  readonly runAsUser: number;
}

function agentResources(defaults: InjectionDefaults): JsonObject {
  const { requests, limits } = defaults.agentResources;
  return { ...(requests === undefined ? {} : { requests: { ...requests } }), ...(limits === undefined ? {} : { limits: { ...limits } }) };
}

function agentProbes(kind: AgentContainerOptions['kind']): JsonObject {
  const port = Default.agentHealthPort;
  const liveness = { livenessProbe: { httpGet: { path: HttpPath.healthz, port }, ...LIVENESS_PROBE } };
  if (kind === 'init') return {};
  if (kind === 'sidecar') return liveness;
  // Native sidecar: app containers start only once /readyz reports a valid token on disk.
  return { startupProbe: { httpGet: { path: HttpPath.readyz, port }, ...STARTUP_PROBE }, ...liveness };
}

/** The long-running sidecar runs Node with memory and CPU options (see AgentCommand); the init container keeps the entrypoint. */
function sidecarCommand(proxy: boolean): string[] {
  return [AgentCommand.node, ...(proxy ? AgentCommand.proxyModeNodeOptions : AgentCommand.fileModeNodeOptions), AgentCommand.cli];
}

/** The sidecar (native or regular) or the legacy `--once` init container. */
export function agentContainer(options: AgentContainerOptions): JsonObject {
  const { kind, settings, defaults } = options;
  const pullPolicy = defaults.agentImagePullPolicy;
  const proxyPort = settings.mode === 'proxy' && kind !== 'init' ? defaults.proxyPort : undefined;
  return {
    name: kind === 'init' ? ContainerName.init : ContainerName.agent,
    image: defaults.agentImage,
    ...(pullPolicy === undefined ? {} : { imagePullPolicy: pullPolicy }),
    ...(kind === 'init' ? {} : { command: sidecarCommand(proxyPort !== undefined) }),
    args: kind === 'init' ? [...AgentArgs.init] : [...AgentArgs.sidecar],
    ...(kind === 'native-sidecar' ? { restartPolicy: 'Always' } : {}),
    env: agentEnv(settings, defaults, proxyPort),
    volumeMounts: agentMounts(defaults),
    resources: agentResources(defaults),
    ...agentProbes(kind),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: options.runAsUser,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

/** What each app container (and each init container after the agent) gets in `mode`. */
export function appInjection(mode: Mode, settings: EffectiveSettings, proxyPort: number): ContainerInjection {
  switch (mode) {
    case 'file':
      return {
        env: [envVar(SdkEnv.configDir, Path.outputDir), envVar(SdkEnv.accessTokenFile, `${Path.outputDir}/${OutputFile.token}`)],
        volumeMounts: [{ name: VolumeName.credentials, mountPath: Path.outputDir, readOnly: true }],
      };
    case 'proxy':
      return {
        env: [envVar(SdkEnv.baseUrl, `http://${proxyAddress(proxyPort)}`), envVar(SdkEnv.authToken, PROXY_PLACEHOLDER_AUTH_TOKEN)],
        volumeMounts: [],
      };
    case 'sdk':
      return {
        env: [...federationEnv(settings), envVar(SdkEnv.configDir, Path.identityTokenDir)],
        volumeMounts: [{ name: VolumeName.identityToken, mountPath: Path.identityTokenDir, readOnly: true }],
      };
  }
}
