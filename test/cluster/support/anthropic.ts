/**
 * The Anthropic side of the cluster suite, on the host (outside every pod): the token endpoint
 * and the Messages API stand-ins behind one https address on the pod bridge
 * (`https://<host ip>:9443`, as api.anthropic.com serves both), with a certificate from a test
 * CA the pods are given. The token endpoint verifies the cluster's real service-account JWTs
 * against the keys found by OIDC discovery on the API server (unauthenticated, as Anthropic
 * fetches them), refuses a reused `jti` and mints min(rule lifetime, 2 × the JWT's remaining
 * life), floor 60 s. The Messages stand-in accepts only an unexpired token minted here, as
 * `Bearer`, with the `oauth-2025-04-20` beta.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { cacheRoot } from '../../support/k8s-tools.ts';
import { listenStandIn } from '../../support/listen.ts';
import { startMessagesEndpoint, type MessagesEndpoint } from '../../support/messages-endpoint.ts';
import { createTestCa, issueServingCertificate, type TestCa } from '../../support/tls.ts';
import { startTokenEndpoint, type FederationRule, type TokenEndpoint } from '../../support/token-endpoint.ts';
import type { ClusterEnv } from './cluster-env.ts';

export const ORGANIZATION_ID = '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b';
export const RULE_ID = 'fdrl_cluster_suite';
export const AUDIENCE = 'https://api.anthropic.com';
export const FRONT_PORT = 9443;
export const OAUTH_BETA = 'oauth-2025-04-20';

/** One CA for the cluster suite, kept in the cache (the sidecar test image embeds it); renewed when half its day is gone. */
export async function suiteCa(): Promise<TestCa> {
  const dir = join(cacheRoot(), 'cluster-test-ca');
  const certFile = join(dir, 'ca.crt');
  if (existsSync(certFile) && Date.now() - statSync(certFile).mtimeMs < 12 * 3600_000) {
    return { certFile, keyFile: join(dir, 'ca.key'), certPem: readFileSync(certFile, 'utf8') };
  }
  return createTestCa(dir);
}

export interface AnthropicStandIns {
  /** `https://<host ip>:9443`: the base URL for the token exchange and the Messages API. */
  readonly url: string;
  readonly tokens: TokenEndpoint;
  readonly messages: MessagesEndpoint;
  /** Successful Messages calls made with a token this endpoint minted. */
  authorizedCalls(): number;
  /** Stops answering (connections are refused) until `resume`. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

interface Discovery {
  readonly issuer: string;
  readonly jwks_uri: string;
}

async function discover(env: ClusterEnv): Promise<Discovery> {
  const dispatcher = new Agent({ connect: { ca: readFileSync(env.clusterCaFile) } });
  try {
    const response = await request(`${env.apiServer}/.well-known/openid-configuration`, { dispatcher });
    if (response.statusCode !== 200) throw new Error(`OIDC discovery answered ${response.statusCode}`);
    return (await response.body.json()) as Discovery;
  } finally {
    await dispatcher.close();
  }
}

export function suiteRule(namespacePrefix: string, lifetimeSeconds = 3600): FederationRule {
  return { id: RULE_ID, subjectPrefix: `system:serviceaccount:${namespacePrefix}*`, audience: AUDIENCE, lifetimeSeconds };
}

function forward(target: string, req: IncomingMessage, res: ServerResponse): void {
  const upstream = httpRequest(`${target}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => {
    res.destroy();
  });
  req.pipe(upstream);
}

/** `port` defaults to FRONT_PORT, the chart's base URL; a scenario that runs beside the others takes its own. */
export async function startAnthropicStandIns(env: ClusterEnv, rules: readonly FederationRule[], port: number = FRONT_PORT): Promise<AnthropicStandIns> {
  const discovery = await discover(env);
  const tokens = await startTokenEndpoint({
    organizationId: ORGANIZATION_ID,
    rules,
    issuer: discovery.issuer,
    jwks: { url: discovery.jwks_uri, ca: readFileSync(env.clusterCaFile) },
  });
  const messages = await startMessagesEndpoint({
    authorize: ({ authorization, anthropicBeta }) => {
      const token = /^Bearer (sk-ant-oat01-\S+)$/.exec(authorization ?? '')?.[1];
      const betas = (anthropicBeta ?? '').split(',').map((b) => b.trim());
      return token !== undefined && tokens.isValidToken(token) && betas.includes(OAUTH_BETA);
    },
  });
  const ca = await suiteCa();
  const serving = await issueServingCertificate(ca, { serial: BigInt(Date.now()), commonName: env.hostIp, ipAddresses: [env.hostIp], dnsNames: ['localhost'] });
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    forward((req.url ?? '').startsWith('/v1/oauth/') ? tokens.url : messages.url, req, res);
  };
  let front = await listenStandIn(handler, { host: env.hostIp, port, tls: { cert: serving.certPem, key: serving.keyPem } });
  const closeFront = async (): Promise<void> => {
    front.server.closeAllConnections();
    await new Promise<void>((resolve) => {
      front.server.close(() => {
        resolve();
      });
    });
  };
  return {
    url: front.url,
    tokens,
    messages,
    authorizedCalls: () => messages.requests.filter((r) => r.status === 200).length,
    pause: closeFront,
    resume: async () => {
      front = await listenStandIn(handler, { host: env.hostIp, port, tls: { cert: serving.certPem, key: serving.keyPem } });
    },
    close: async () => {
      await closeFront().catch(() => undefined);
      await tokens.close();
      await messages.close();
    },
  };
}
