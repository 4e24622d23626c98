/**
 * `anthropic-wif issuer`: reads the cluster's service-account issuer and JWKS through the
 * kubeconfig (the same raw reads as `kubectl get --raw /.well-known/openid-configuration`
 * and `/openid/v1/jwks`) and prints what to register in the Anthropic Console. The shell:
 * flags, kubeconfig loading, two GETs. The report itself is issuer-report.ts.
 */
import { existsSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIPv6 } from 'node:net';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { CommandContext } from '../runtime/command.ts';
import { formatHelp, option, parseArgv, resolveConfig, type Env } from '../runtime/config.ts';
import { ConfigError, ExitCode, WifError } from '../runtime/errors.ts';
import { Default, Limit, USER_AGENT } from '../contract/index.ts';
import { buildIssuerReport, checkRuleTarget, formatIssuerText, parseDiscoveryDocument, parseJwks } from './issuer-report.ts';
import { readBoundedBody } from '../runtime/http-response.ts';

const SUMMARY = "Print what to register in the Anthropic Console for this cluster's service-account issuer.";

export const ISSUER_OPTIONS = {
  kubeconfig: option.string({
    flag: 'kubeconfig',
    description: 'Kubeconfig file to use; default $KUBECONFIG, then ~/.kube/config, then the in-cluster service account.',
    valueName: '<file>',
  }),
  context: option.string({ flag: 'context', description: 'Kubeconfig context to use instead of the current one.', valueName: '<name>' }),
  namespace: option.string({ flag: 'namespace', description: 'Namespace of the workload, for the federation rule subject.', valueName: '<namespace>' }),
  serviceAccount: option.string({ flag: 'service-account', description: 'ServiceAccount of the workload, for the federation rule subject.', valueName: '<name>' }),
  audience: option.string({
    flag: 'audience',
    description: 'Audience of the projected token, which the rule must match.',
    valueName: '<audience>',
    maxLength: Limit.audienceMaxLength,
    defaultValue: Default.audience,
  }),
  json: option.switch({ flag: 'json', description: 'Print the report as JSON.' }),
};

export const DiscoveryPath = {
  configuration: '/.well-known/openid-configuration',
  jwks: '/openid/v1/jwks',
} as const;

const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const MAX_BODY_BYTES = 1024 * 1024;
const REQUEST_TIMEOUT_MS = 15_000;

export type KubeconfigSource =
  | { readonly kind: 'files'; readonly files: readonly string[]; readonly from: string }
  | { readonly kind: 'in-cluster'; readonly host: string; readonly port: string };

/** Where the kubeconfig comes from: --kubeconfig, KUBECONFIG (a list), ~/.kube/config, or in-cluster. */
export function chooseKubeconfigSource(flag: string | undefined, env: Env, exists: (path: string) => boolean): KubeconfigSource {
  if (flag !== undefined) return { kind: 'files', files: [flag], from: '--kubeconfig' };
  const list = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  if (list.length > 0) return { kind: 'files', files: list, from: 'KUBECONFIG' };
  const home = env.HOME;
  if (home !== undefined && home !== '' && exists(join(home, '.kube', 'config'))) {
    return { kind: 'files', files: [join(home, '.kube', 'config')], from: '~/.kube/config' };
  }
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host !== undefined && host !== '' && port !== undefined && exists(join(IN_CLUSTER_DIR, 'token'))) return { kind: 'in-cluster', host, port };
  throw new ConfigError('no kubeconfig: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run inside a cluster');
}

function loadKubeConfig(source: KubeconfigSource, context: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (source.kind === 'in-cluster') {
      const host = isIPv6(source.host) ? `[${source.host}]` : source.host;
      kc.loadFromOptions({
        clusters: [{ name: 'in-cluster', server: `https://${host}:${source.port}`, caFile: join(IN_CLUSTER_DIR, 'ca.crt'), skipTLSVerify: false }],
        users: [{ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile: join(IN_CLUSTER_DIR, 'token') } } }],
        contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster' }],
        currentContext: 'in-cluster',
      });
    } else {
      const [first = '', ...rest] = source.files;
      kc.loadFromFile(first);
      for (const file of rest) {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kc.mergeConfig(more, true);
      }
    }
  } catch (error) {
    throw new ConfigError(`cannot load the kubeconfig from ${source.kind === 'files' ? source.from : 'the in-cluster service account'}: ${(error as Error).message}`);
  }
  if (context !== undefined) {
    if (kc.getContextObject(context) === null) throw new ConfigError(`invalid --context "${context}": no such context in the kubeconfig`);
    kc.setCurrentContext(context);
  }
  return kc;
}

function statusHint(status: number, path: string): string {
  if (status === 401 || status === 403) {
    return `the API server answered ${status} for ${path}: these credentials may not read service-account issuer discovery (ClusterRole system:service-account-issuer-discovery)`;
  }
  if (status === 404) return `the API server answered 404 for ${path}: service-account issuer discovery is not served (Kubernetes 1.21 or later serves it)`;
  return `the API server answered ${status} for ${path}`;
}

async function readBody(res: IncomingMessage): Promise<string> {
  const { bytes, truncated } = await readBoundedBody(res, MAX_BODY_BYTES);
  if (truncated) throw new WifError('issuer-too-large', `the answer is larger than ${String(MAX_BODY_BYTES)} bytes`);
  return bytes.toString('utf8');
}

/** GET `path` on the current cluster with the kubeconfig's credentials and TLS settings. */
async function getRaw(kc: KubeConfig, path: string, signal: AbortSignal): Promise<string> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new ConfigError('the kubeconfig has no current cluster (use --context)');
  const url = new URL(`${cluster.server.replace(/\/+$/, '')}${path}`);
  const options: RequestOptions = { method: 'GET', headers: { accept: 'application/json', 'user-agent': USER_AGENT }, signal };
  await kc.applyToHTTPSOptions(options);
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = send(url, options, resolve);
    req.on('error', reject);
    req.end();
  }).catch((error: unknown) => {
    throw new WifError('issuer-unreachable', `cannot reach the API server at ${cluster.server}: ${(error as Error).message}`, { retryable: true });
  });
  const body = await readBody(res);
  if (res.statusCode !== 200) throw new WifError('issuer-http', statusHint(res.statusCode ?? 0, path), { status: res.statusCode });
  return body;
}

export async function runIssuer(context: CommandContext): Promise<number> {
  const parsed = parseArgv(ISSUER_OPTIONS, context.argv, 'issuer');
  if (parsed.help) {
    context.stdout.write(
      formatHelp('issuer', SUMMARY, ISSUER_OPTIONS, [
        'It reads /.well-known/openid-configuration and /openid/v1/jwks from the API server, as',
        '`kubectl get --raw` does, and prints the issuer URL, whether the Console can fetch its keys',
        'itself (a public https issuer) or needs them inline, and a matching federation rule.',
      ]),
    );
    return ExitCode.ok;
  }
  const config = resolveConfig(ISSUER_OPTIONS, parsed, context.env);
  const target = { namespace: config.namespace, serviceAccount: config.serviceAccount, audience: config.audience };
  checkRuleTarget(target);
  const kc = loadKubeConfig(chooseKubeconfigSource(config.kubeconfig, context.env, existsSync), config.context);
  const signal = AbortSignal.any([context.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]);
  const discovery = parseDiscoveryDocument(await getRaw(kc, DiscoveryPath.configuration, signal), DiscoveryPath.configuration);
  const jwks = parseJwks(await getRaw(kc, DiscoveryPath.jwks, signal), DiscoveryPath.jwks);
  const report = buildIssuerReport({ apiServer: kc.getCurrentCluster()?.server ?? '', discovery, jwks, target });
  context.stdout.write(config.json ? `${JSON.stringify(report, null, 2)}\n` : formatIssuerText(report));
  return ExitCode.ok;
}
