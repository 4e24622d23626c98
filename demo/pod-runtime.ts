/**
 * What a node would do with the admitted pod, minus the containers: the kubelet's projected
 * token (rotating), the in-memory volume, and the injected sidecar, run as the real
 * `anthropic-wif agent` with exactly the env and args the webhook gave it, every mount path
 * moved under the demo's root directory.
 */
import { mkdir } from 'node:fs/promises';
import { AgentEnv, ContainerName, VolumeName } from '../contract/index.ts';
import { startCli, type CliProcess } from '../test/support/cli.ts';
import type { OidcIssuer } from '../test/support/oidc-issuer.ts';
import { Arrivals, followAgentLog, type LoggedExchange, type LogRecord } from './agent-log.ts';
import type { ExamplePod, JsonObject } from './example-pod.ts';
import { fingerprint } from './fingerprint.ts';
import type { Narrator } from './narrator.ts';
import { containerEnvUnderRoot, findContainer, findVolume, mountPathUnderRoot, projectedTokenOf, type ContainerView } from './pod-view.ts';
import { startProjectedTokenRotation, type ProjectedTokenRotation } from './projected-token-rotation.ts';

/** The projected token's lifetime in the demo (a cluster allows 600 s at least). */
export const DEMO_JWT_LIFETIME_SECONDS = 30;
const AGENT_START_TIMEOUT_MS = 20_000;

export interface RunningPod {
  readonly agent: CliProcess;
  readonly healthPort: number;
  readonly rotation: ProjectedTokenRotation;
  /** The credentials volume, where the agent writes and the app reads. */
  readonly outputDir: string;
  /** The app container's env, paths under the demo's root. */
  readonly appEnv: Readonly<Record<string, string>>;
  readonly appContainer: string;
  readonly exchanges: Arrivals<LoggedExchange>;
}

export interface StartPodOptions {
  readonly root: string;
  readonly issuer: OidcIssuer;
  readonly narrator: Narrator;
  /** Called when something running in the background fails (the agent exits, a rotation fails). */
  readonly onFailure: (error: Error) => void;
  /** True once the demo is stopping, so the agent's exit is expected. */
  readonly stopping: () => boolean;
}

function firstAppContainer(pod: JsonObject): ContainerView {
  const app = (pod.spec as { containers?: ContainerView[] } | undefined)?.containers?.[0];
  if (app === undefined) throw new Error('the pod has no app container');
  return app;
}

function describeProblem(record: LogRecord): string {
  const error = record.error as { message?: unknown } | undefined;
  const detail = typeof error?.message === 'string' ? ` (${error.message})` : '';
  return `agent ${String(record.level)}: ${String(record.msg)}${detail}`;
}

async function startKubeletToken(example: ExamplePod, pod: JsonObject, sidecar: ContainerView, options: StartPodOptions): Promise<ProjectedTokenRotation> {
  const { narrator } = options;
  const projected = projectedTokenOf(findVolume(pod, VolumeName.identityToken));
  const dir = mountPathUnderRoot(sidecar, VolumeName.identityToken, options.root);
  narrator.say(
    `the pod asks for a projected token (audience ${projected.audience}, expirationSeconds ${String(projected.expirationSeconds)}); ` +
      `the demo's kubelet uses ${String(DEMO_JWT_LIFETIME_SECONDS)} s instead, so that it rotates within the minute`,
  );
  return startProjectedTokenRotation({
    issuer: options.issuer,
    dir,
    identity: { namespace: example.namespace, serviceAccount: example.serviceAccount, podName: example.podName, audience: projected.audience },
    lifetimeSeconds: DEMO_JWT_LIFETIME_SECONDS,
    onWritten: (written) => {
      const verb = written.generation === 1 ? 'wrote' : 'rotated (80 % of its life) to';
      narrator.say(
        `kubelet: ${verb} projected token #${String(written.generation)} ${fingerprint(written.jwt)}, ${String(written.lifetimeSeconds)} s JWT, ` +
          `..data -> ${written.dataDir}; next rotation in ${String(Math.round(written.nextRotationInMs / 1000))} s`,
      );
    },
    onError: (error) => {
      options.onFailure(new Error(`the kubelet stand-in could not rotate the projected token: ${String(error)}`));
    },
  });
}

function startAgent(sidecar: ContainerView, options: StartPodOptions, exchanges: Arrivals<LoggedExchange>): CliProcess {
  const env = { ...containerEnvUnderRoot(sidecar, options.root), [AgentEnv.healthAddr]: '127.0.0.1:0' };
  const args = [...(sidecar.args ?? [])];
  options.narrator.say(`started the sidecar ${sidecar.name} as the real \`anthropic-wif ${args.join(' ')}\`, with the env the webhook injected:`);
  options.narrator.details(Object.entries(env).map(([name, value]) => `${name}=${value.replaceAll(options.root, '<pod root>')}`));
  options.narrator.details([`(<pod root> is ${options.root}; health moved from :8424 to 127.0.0.1:0, loopback only)`]);
  const agent = startCli(args, { env });
  followAgentLog(agent.child.stdout!, {
    onExchange: (exchange) => {
      exchanges.push(exchange);
    },
    onProblem: (record) => {
      options.narrator.warn(describeProblem(record));
    },
  });
  void agent.exited.then((exit) => {
    if (options.stopping()) return;
    const tail = agent.stderrLines.slice(-3).join(' | ');
    options.onFailure(new Error(`the agent exited unexpectedly (code ${String(exit.code)}, signal ${String(exit.signal)})${tail === '' ? '' : `: ${tail}`}`));
  });
  return agent;
}

export async function startPod(example: ExamplePod, pod: JsonObject, options: StartPodOptions): Promise<RunningPod> {
  const sidecar = findContainer(pod, ContainerName.agent);
  const app = firstAppContainer(pod);
  const outputDir = mountPathUnderRoot(sidecar, VolumeName.credentials, options.root);
  // The emptyDir exists before any container starts.
  await mkdir(outputDir, { recursive: true, mode: 0o755 });
  const rotation = await startKubeletToken(example, pod, sidecar, options);
  const exchanges = new Arrivals<LoggedExchange>();
  const agent = startAgent(sidecar, options, exchanges);
  try {
    const health = await agent.waitForJson((r) => r.msg === 'listening' && r.listener === 'health', AGENT_START_TIMEOUT_MS);
    const healthPort = Number(health.port);
    options.narrator.say(`agent: health and metrics on http://127.0.0.1:${String(healthPort)} (/healthz, /readyz, /metrics)`);
    return { agent, healthPort, rotation, outputDir, appEnv: containerEnvUnderRoot(app, options.root), appContainer: app.name, exchanges };
  } catch (error) {
    rotation.stop();
    await agent.stop(5_000);
    throw error;
  }
}
