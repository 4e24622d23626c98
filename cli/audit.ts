/**
 * `anthropic-wif audit`: the thin shell around audit/. Flags, the kubeconfig (--kubeconfig,
 * else KUBECONFIG, ~/.kube/config or in-cluster, as the client library loads it), one
 * authenticated GET, progress on a terminal, the report on stdout and the exit code.
 */
import type { Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { AUDIT_SEVERITIES, USER_AGENT } from '../contract/index.ts';
import type { CommandContext } from '../runtime/command.ts';
import { formatHelp, option, parseArgv, resolveConfig } from '../runtime/config.ts';
import { ConfigError, ExitCode, WifError, describeError } from '../runtime/errors.ts';
import { failsAt, renderJson, renderTable, summaryLine } from '../audit/report.ts';
import { scanCluster, type KubeGet, type KubeResponse } from '../audit/scan.ts';

export const AUDIT_COMMAND = 'audit';
export const AUDIT_SUMMARY = 'Report static Anthropic keys, missed or stale injections, drift and failing bindings across a cluster.';

const NAME = /^[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?$/;

function namespacedName(raw: string): { readonly namespace: string; readonly name: string } {
  const [namespace = '', name = '', ...rest] = raw.split('/');
  if (rest.length > 0 || !NAME.test(namespace) || !NAME.test(name)) throw new Error('<namespace>/<name> of a Deployment');
  return { namespace, name };
}

export const AUDIT_OPTIONS = {
  kubeconfig: option.string({ flag: 'kubeconfig', description: 'Kubeconfig file; else KUBECONFIG, ~/.kube/config or the in-cluster ServiceAccount.', valueName: '<file>' }),
  context: option.string({ flag: 'context', description: 'Kubeconfig context to use instead of the current one.', valueName: '<name>' }),
  namespace: option.string({ flag: 'namespace', description: 'Audit this namespace only (-n); default every namespace.', valueName: '<namespace>', pattern: NAME, expected: 'a namespace name' }),
  output: option.enumeration({ flag: 'output', description: 'Output format (-o): a table for people, or JSON for tools.', values: ['table', 'json'] as const, defaultValue: 'table' }),
  failOn: option.enumeration({
    flag: 'fail-on',
    description: 'Exit 1 when a finding at or above this severity is found (default: exit 0 whatever is found).',
    values: AUDIT_SEVERITIES,
  }),
  readSecrets: option.switch({ flag: 'read-secrets', description: 'Read the Secrets that containers take ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN from (get secrets); no value is ever printed.' }),
  metrics: option.switch({ flag: 'metrics', description: "Read each running sidecar's /metrics through the API server's pod proxy (get pods/proxy) and report each binding." }),
  webhookDeployment: option.custom({
    flag: 'webhook-deployment',
    description: "The webhook's Deployment, whose flags are today's defaults; default: the one with the chart's labels.",
    valueName: '<namespace>/<name>',
    parse: namespacedName,
  }),
  pageSize: option.integer({ flag: 'page-size', description: 'Objects per list request (limit/continue paging).', min: 1, max: 5_000, defaultValue: 500 }),
};

/** kubectl's short flags. */
const SHORT_FLAGS = new Map([
  ['-o', '--output'],
  ['-n', '--namespace'],
]);

function expandShortFlags(argv: readonly string[]): string[] {
  return argv.map((arg) => SHORT_FLAGS.get(arg) ?? arg);
}

const REQUEST_TIMEOUT_MS = 30_000;
const METRICS_CONCURRENCY = 8;

const HELP_NOTES = [
  'Severities, lowest first: info, low, medium, high, critical. A literal key in a spec is critical.',
  "Today's injection defaults are the webhook Deployment's flags (and literal ANTHROPIC_WIF_ variables).",
  'RBAC (manifests/audit-rbac.yaml): list pods, serviceaccounts, deployments, statefulsets, daemonsets, replicasets,',
  'jobs, cronjobs; get deployments (--webhook-deployment); get secrets only with --read-secrets; get pods/proxy only',
  'with --metrics (README: audit).',
];

async function loadCluster(path: string | undefined, context: string | undefined): Promise<KubeConfig> {
  const { loadKubeConfig } = await import('../webhook/kubernetes.ts');
  const kubeConfig = loadKubeConfig(path);
  if (context !== undefined) {
    if (kubeConfig.getContextObject(context) === null) throw new ConfigError(`invalid --context "${context}": no such context in the kubeconfig`);
    kubeConfig.setCurrentContext(context);
  }
  if (kubeConfig.getCurrentCluster() === null) throw new ConfigError('the kubeconfig has no current cluster (use --context or --kubeconfig)');
  return kubeConfig;
}

async function kubeGetter(kubeConfig: KubeConfig): Promise<KubeGet> {
  const { HttpMethod, RequestContext } = await import('@kubernetes/client-node');
  const { fetch } = await import('undici');
  const server = (kubeConfig.getCurrentCluster()?.server ?? '').replace(/\/+$/, '');
  return async (path: string, signal: AbortSignal): Promise<KubeResponse> => {
    const request = new RequestContext(`${server}${path}`, HttpMethod.GET);
    await kubeConfig.applySecurityAuthentication(request);
    try {
      const response = await fetch(request.getUrl(), {
        headers: { ...request.getHeaders(), accept: 'application/json', 'user-agent': USER_AGENT },
        dispatcher: request.getDispatcher(),
        signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
      });
      return { status: response.status, text: await response.text() };
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      throw new WifError('audit-unreachable', `GET ${path} on ${server} failed: ${describeError(cause)}`, { retryable: true });
    }
  };
}

/** One status line on a terminal, rewritten in place; nothing when stderr is not a TTY. */
function progressLine(stderr: Writable): { readonly update: (text: string) => void; readonly done: () => void } {
  const tty = (stderr as Writable & { isTTY?: boolean }).isTTY === true;
  if (!tty) return { update: () => undefined, done: () => undefined };
  return {
    update: (text) => stderr.write(`\r\x1b[Kaudit: ${text}`),
    done: () => stderr.write('\r\x1b[K'),
  };
}

export async function runAudit(context: CommandContext): Promise<number> {
  const parsed = parseArgv(AUDIT_OPTIONS, expandShortFlags(context.argv), AUDIT_COMMAND);
  if (parsed.help) {
    context.stdout.write(formatHelp(AUDIT_COMMAND, AUDIT_SUMMARY, AUDIT_OPTIONS, HELP_NOTES));
    return ExitCode.ok;
  }
  const config = resolveConfig(AUDIT_OPTIONS, parsed, context.env);
  const get = await kubeGetter(await loadCluster(config.kubeconfig, config.context));
  const progress = progressLine(context.stderr);
  const report = await scanCluster(get, {
    namespace: config.namespace,
    pageSize: config.pageSize,
    readSecrets: config.readSecrets,
    metrics: config.metrics,
    webhookDeployment: config.webhookDeployment,
    metricsConcurrency: METRICS_CONCURRENCY,
    now: () => new Date(),
    progress: progress.update,
    signal: context.signal,
  }).finally(progress.done);
  context.stdout.write(config.output === 'json' ? renderJson(report) : renderTable(report));
  if (config.failOn !== undefined && failsAt(report, config.failOn)) {
    context.stderr.write(`anthropic-wif audit: ${summaryLine(report)}: at or above --fail-on ${config.failOn}\n`);
    return ExitCode.failure;
  }
  return ExitCode.ok;
}
