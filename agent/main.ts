/**
 * `anthropic-wif agent`: the sidecar's composition root. Parses the config, wires the
 * identity token source, the exchanger and the file store into the refresher, serves
 * /healthz, /readyz and /metrics, starts the proxy in proxy mode, and stops cleanly on
 * SIGTERM. `--once` exchanges once and exits (the legacy init container).
 */
import type { Registry } from 'prom-client';
import type { Clock, Random } from '../runtime/clock.ts';
import { systemClock, systemRandom } from '../runtime/clock.ts';
import type { CommandContext } from '../runtime/command.ts';
import type { Env } from '../runtime/config.ts';
import { ExitCode, errorFields } from '../runtime/errors.ts';
import { createLogger, type Logger } from '../runtime/logger.ts';
import { VERSION } from '../runtime/version.ts';
import { Limit } from '../contract/index.ts';
import { parseAgentConfig, type AgentConfig, type ExchangeSettings } from './config.ts';
import { createTokenExchanger, type TokenExchanger } from './refresh/exchange.ts';
import { createTokenFileStore, type TokenFileStore } from './refresh/files.ts';
import { createIdentityTokenSource } from './refresh/identity-sources.ts';
import { describeEgress } from './egress.ts';
import { METRICS_CONTENT_TYPE, createAgentMetrics, type AgentMetrics } from './metrics.ts';
import { Refresher, type RefreshEvents } from './refresh/refresher.ts';
import { isLoopAlive, isTokenReady } from './refresh/readiness.ts';
import { startHealthServer, type HealthServer } from './server.ts';

export interface RefresherParts {
  readonly refresher: Refresher;
  readonly exchanger: TokenExchanger;
}

/** Wires a refresher from a parsed config (shared by `agent` and `token`). */
export function buildRefresher(
  config: ExchangeSettings,
  deps: { readonly store: TokenFileStore; readonly env: Env; readonly logger: Logger; readonly clock: Clock; readonly random: Random; readonly events?: RefreshEvents },
): RefresherParts {
  const source = createIdentityTokenSource(config.source, { clock: deps.clock, env: deps.env, egress: config.egress });
  const exchanger = createTokenExchanger(config.exchange, { clock: deps.clock, egress: config.egress });
  const refresher = new Refresher({
    source,
    exchanger,
    store: deps.store,
    profile: { organizationId: config.exchange.organizationId, workspaceId: config.exchange.workspaceId },
    expectedAudience: config.audience,
    clock: deps.clock,
    random: deps.random,
    logger: deps.logger,
    events: deps.events,
  });
  deps.logger.info(
    {
      version: VERSION,
      source: source.description,
      tokenEndpoint: new URL(config.exchange.baseUrl).origin,
      outputDir: deps.store.outputDir,
      audience: config.audience,
      egress: describeEgress(config.egress),
    },
    'starting',
  );
  return { refresher, exchanger };
}

export async function runAgent(context: CommandContext): Promise<number> {
  const parsed = parseAgentConfig(context.argv, context.env);
  if (parsed.help) {
    context.stdout.write(parsed.text);
    return ExitCode.ok;
  }
  const { config } = parsed;
  const logger = createLogger({ name: 'anthropic-wif-agent', level: config.logLevel, destination: context.stdout });
  const clock = systemClock;
  const metrics = config.once ? undefined : createAgentMetrics({ clock });
  const parts = buildRefresher(config, { store: createTokenFileStore(config.outputDir), env: context.env, logger, clock, random: systemRandom, events: metrics });
  try {
    if (config.once) return await runOnce(parts.refresher, context.signal, logger);
    return await serve({ config, parts, metrics: metrics ?? createAgentMetrics({ clock }), logger, clock, signal: context.signal });
  } finally {
    await parts.exchanger.close?.();
  }
}

async function runOnce(refresher: Refresher, signal: AbortSignal, logger: Logger): Promise<number> {
  const result = await refresher.once(signal);
  logger.info(
    { expiresAt: new Date(result.expiresAtMs).toISOString() },
    result.kind === 'minted' ? 'wrote a new access token; exiting (--once)' : 'a valid access token is already on disk; exiting (--once)',
  );
  return ExitCode.ok;
}

interface ServeOptions {
  readonly config: AgentConfig;
  readonly parts: RefresherParts;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly signal: AbortSignal;
}

/** What the proxy seam gives back: enough for /readyz, /metrics and shutdown. */
interface ProxyHandle {
  readonly listening: boolean;
  /** The proxy's own series (prom-client, loaded only in proxy mode). */
  readonly registry: Registry;
  close(): Promise<void>;
}

/** Why `/readyz` answers 503: no token valid long enough on disk, or a wanted proxy not listening yet. */
export function notReadyReasons(state: { readonly tokenReady: boolean; readonly proxyWanted: boolean; readonly proxyListening: boolean }): string[] {
  return [
    ...(state.tokenReady ? [] : [`no access token valid for at least ${Limit.readyMinValiditySeconds} s is on disk yet`]),
    ...(state.proxyWanted && !state.proxyListening ? ['the proxy is not listening'] : []),
  ];
}

async function serve(options: ServeOptions): Promise<number> {
  const { config, parts, metrics, logger, clock } = options;
  const { refresher } = parts;
  let proxy: ProxyHandle | undefined;
  const health = await startHealthServer(config.healthAddr, {
    alive: () => isLoopAlive(refresher.status(), clock.now()),
    notReadyReasons: () =>
      notReadyReasons({ tokenReady: isTokenReady(refresher.status(), clock.now()), proxyWanted: config.proxyAddr !== undefined, proxyListening: proxy?.listening === true }),
    metrics: async () => metrics.render() + ((await proxy?.registry.metrics()) ?? ''),
    metricsContentType: METRICS_CONTENT_TYPE,
  });
  logger.info({ listener: 'health', address: health.address.host, port: health.address.port }, 'listening');
  try {
    proxy = await startProxyIfConfigured(options);
    await refresher.run(options.signal);
  } finally {
    await closeWithin([health, proxy], Limit.agentShutdownMs - 1000, logger);
  }
  logger.info('stopped');
  return ExitCode.ok;
}

/** Proxy mode: the credential-isolating proxy on loopback, fed by the refresher's current token. */
async function startProxyIfConfigured(options: ServeOptions): Promise<ProxyHandle | undefined> {
  const { config, parts, logger, clock } = options;
  const listen = config.proxyAddr;
  if (listen === undefined) return undefined;
  const [{ startProxy }, { Registry }] = await Promise.all([import('./proxy/proxy.ts'), import('prom-client')]);
  const registry = new Registry();
  const proxy = await startProxy({
    listen,
    upstreamUrl: config.upstreamUrl,
    egress: config.egress,
    currentToken: () => parts.refresher.currentToken(),
    clock,
    logger,
    registry,
  });
  return {
    registry,
    get listening(): boolean {
      return proxy.listening;
    },
    close: () => proxy.close(),
  };
}

/** SIGTERM must end the process within 5 s: give up waiting on a listener that will not close. */
async function closeWithin(handles: readonly (HealthServer | ProxyHandle | undefined)[], budgetMs: number, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => {
      resolve('late');
    }, budgetMs);
  });
  const closed = Promise.all(handles.map((h) => h?.close() ?? Promise.resolve())).then(
    () => 'closed' as const,
    (error: unknown) => {
      logger.warn({ error: errorFields(error) }, 'error while closing listeners');
      return 'closed' as const;
    },
  );
  const outcome = await Promise.race([closed, deadline]);
  clearTimeout(timer);
  if (outcome === 'late') logger.warn({ budgetMs }, 'listeners did not close in time; exiting anyway');
}
