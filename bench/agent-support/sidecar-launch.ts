/**
 * How production starts the agent: the sidecar container the webhook injects (rendered by the
 * webhook's own code, webhook/injected-objects.ts), reduced to what a benchmark needs to run
 * the same thing from dist/: its arguments and the Node options its environment sets.
 */
import { AgentCommand, Default, type Mode } from '../../contract/index.ts';
import { agentContainer } from '../../webhook/injected-objects.ts';
import { TEST_FEDERATION_RULE_ID, TEST_ORGANIZATION_ID, testInjectionDefaults } from '../../test/support/injection-defaults.ts';

export interface SidecarLaunch {
  /** Node options before the CLI script, from the container's `command` (none when it keeps the entrypoint). */
  readonly nodeOptions: readonly string[];
  /** After the CLI (`anthropic-wif`), e.g. `['agent']`. */
  readonly args: readonly string[];
  /** Variables the container sets that change how Node runs (NODE_OPTIONS), by name; the
   *  benchmark supplies the agent's own variables (paths, endpoint) itself. */
  readonly nodeEnv: Readonly<Record<string, string>>;
}

const NODE_ENV_NAMES = new Set(['NODE_OPTIONS']);

export function injectedSidecarLaunch(mode: Mode): SidecarLaunch {
  const defaults = testInjectionDefaults({ mode });
  const container = agentContainer({
    kind: 'native-sidecar',
    settings: {
      organizationId: TEST_ORGANIZATION_ID,
      federationRuleId: TEST_FEDERATION_RULE_ID,
      serviceAccountId: undefined,
      workspaceId: undefined,
      audience: Default.audience,
      tokenExpirationSeconds: Default.tokenExpirationSeconds,
      mode,
      baseUrl: Default.baseUrl,
      skipContainers: [],
    },
    defaults,
    runAsUser: Default.agentRunAsUser,
  });
  const args = container.args;
  const env = container.env;
  if (!Array.isArray(args) || !Array.isArray(env)) throw new Error('the injected sidecar has no args or env');
  const command = Array.isArray(container.command) ? container.command.map(String) : [AgentCommand.cli];
  // [node, …options, cli] or the entrypoint alone.
  if (command.at(-1) !== AgentCommand.cli || (command.length > 1 && command[0] !== AgentCommand.node)) {
    throw new Error(`unexpected sidecar command ${JSON.stringify(command)}`);
  }
  const nodeEnv: Record<string, string> = {};
  for (const entry of env as readonly { readonly name?: unknown; readonly value?: unknown }[]) {
    if (typeof entry.name === 'string' && typeof entry.value === 'string' && NODE_ENV_NAMES.has(entry.name)) nodeEnv[entry.name] = entry.value;
  }
  return { nodeOptions: command.slice(1, -1), args: args.map(String), nodeEnv };
}
