/**
 * The agent footprint benchmark's world, in its own process so none of its memory or CPU is
 * counted against the agent: an OIDC issuer, the token endpoint stand-in trusting it
 * (signature, audience, subject, single-use jti, the lifetime rule), a TLS front for it (as
 * api.anthropic.com is reached over https, which loads TLS into the agent), and kubelet-style
 * projected token directories. The benchmark drives it over the fork IPC channel.
 *
 * Run by `bench/agent-footprint.ts` with `child_process.fork`; not a CLI of its own.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOidcIssuer } from '../../test/support/oidc-issuer.ts';
import { createKubeletTokenDir } from '../../test/support/kubelet-token-file.ts';
import { startTokenEndpoint } from '../../test/support/token-endpoint.ts';
import { TEST_FEDERATION_RULE_ID, TEST_ORGANIZATION_ID } from '../../test/support/injection-defaults.ts';
import { createTestCa, issueServingCertificate } from '../../test/support/tls.ts';

export const WORLD_SUBJECT = 'system:serviceaccount:default:app';
export const WORLD_AUDIENCE = 'https://api.anthropic.com';

/** What the benchmark asks for. */
export type EndpointRequest =
  /** A kubelet-style directory under `dir` holding a fresh projected token. */
  | { readonly id: number; readonly kind: 'prepare-token-dir'; readonly dir: string; readonly lifetimeSeconds: number }
  /** A fresh projected token, for timing the endpoint on its own. */
  | { readonly id: number; readonly kind: 'mint-jwt'; readonly lifetimeSeconds: number }
  /** Exchanges answered so far. */
  | { readonly id: number; readonly kind: 'stats' };

export type EndpointReply =
  | { readonly id: number; readonly tokenPath: string }
  | { readonly id: number; readonly jwt: string }
  | { readonly id: number; readonly exchanges: number; readonly denials: number }
  | { readonly id: number; readonly error: string };

/** Sent once, unprompted, when the world is up. */
export interface EndpointReady {
  readonly kind: 'ready';
  /** `http://127.0.0.1:<port>`: the stand-in itself. */
  readonly baseUrl: string;
  /** `https://127.0.0.1:<port>`: the TLS front forwarding to it. */
  readonly tlsBaseUrl: string;
  /** The test CA that signed the front's certificate (for NODE_EXTRA_CA_CERTS). */
  readonly caFile: string;
  readonly organizationId: string;
  readonly federationRuleId: string;
}

/** A TLS-terminating front: each request is forwarded as is to the plain-http stand-in. */
async function startTlsFront(target: URL, pki: { readonly certPem: string; readonly keyPem: string }): Promise<Server> {
  const server = createHttpsServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
    const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

async function main(): Promise<void> {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('endpoint-process.ts must be started with child_process.fork');
  const issuer = await createOidcIssuer({ issuer: 'https://oidc.cluster.test' });
  const endpoint = await startTokenEndpoint({
    organizationId: TEST_ORGANIZATION_ID,
    jwks: issuer.jwks,
    issuer: issuer.issuer,
    // 3600 s tokens from 3600 s JWTs: the next refresh is ~30 min away, so 10 minutes are steady state.
    rules: [{ id: TEST_FEDERATION_RULE_ID, subjectPrefix: WORLD_SUBJECT, audience: WORLD_AUDIENCE, lifetimeSeconds: 3600 }],
  });

  const pkiDir = await mkdtemp(join(tmpdir(), 'wif-bench-pki-'));
  const ca = await createTestCa(pkiDir);
  const front = await startTlsFront(new URL(endpoint.url), await issueServingCertificate(ca, { serial: 1n }));

  const answer = async (request: EndpointRequest): Promise<EndpointReply> => {
    switch (request.kind) {
      case 'prepare-token-dir': {
        const jwt = await issuer.mintProjectedToken({ lifetimeSeconds: request.lifetimeSeconds });
        const kubelet = await createKubeletTokenDir(join(request.dir, 'projected'), jwt);
        return { id: request.id, tokenPath: kubelet.tokenPath };
      }
      case 'mint-jwt':
        return { id: request.id, jwt: await issuer.mintProjectedToken({ lifetimeSeconds: request.lifetimeSeconds }) };
      case 'stats':
        return {
          id: request.id,
          exchanges: endpoint.issuedTokens.length,
          denials: endpoint.events.filter((e) => e.outcome === 'denied').length,
        };
    }
  };

  process.on('message', (message: EndpointRequest) => {
    answer(message).then(send, (error: unknown) => send({ id: message.id, error: String(error) }));
  });
  process.on('disconnect', () => {
    front.closeAllConnections();
    front.close();
    void endpoint
      .close()
      .then(() => issuer.close())
      .then(() => rm(pkiDir, { recursive: true, force: true }))
      .finally(() => process.exit(0));
  });
  const tlsBaseUrl = `https://127.0.0.1:${(front.address() as AddressInfo).port}`;
  const ready: EndpointReady = { kind: 'ready', baseUrl: endpoint.url, tlsBaseUrl, caFile: ca.certFile, organizationId: TEST_ORGANIZATION_ID, federationRuleId: TEST_FEDERATION_RULE_ID };
  send(ready);
}

await main();
