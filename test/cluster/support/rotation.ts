/**
 * Scenario 2's long-running part: a real kubelet rotation of the projected JWT takes ~8 min
 * (`expirationSeconds: 600`, refreshed at 80 %), so its workload starts in global setup, on
 * stand-ins of its own port, and ages while the other files run; `rotation.test.ts` runs last
 * (test/cluster/support/sequencer.ts) and reads what these stand-ins saw over loopback.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Annotation } from '../../../contract/index.ts';
import { startAnthropicStandIns, suiteCa, suiteRule } from './anthropic.ts';
import { getJson, type ClusterEnv } from './cluster-env.ts';
import { NAMESPACE_PREFIX, appDeployment, createTestNamespace, deleteNamespace, rollOut } from './workloads.ts';

export const ROTATION_PORT = 9445;
export const ROTATION_NAMESPACE = `${NAMESPACE_PREFIX}rotation`;
export const ROTATION_DEPLOYMENT = 'rotation-app';

/** What the rotation stand-ins saw, with tokens replaced by their index in `issued`. */
export interface RotationRecords {
  readonly podName: string;
  readonly podUid: string;
  readonly podCreatedAtMs: number;
  readonly exchanges: readonly {
    readonly atMs: number;
    readonly outcome: string;
    readonly jti?: string;
    readonly subject?: string;
    readonly reason?: string;
    /** The projected JWT's iat (Unix seconds): when the kubelet issued it. */
    readonly assertionIat?: number;
    /** The pod the projected JWT is bound to (its `kubernetes.io.pod.uid` claim). */
    readonly podUid?: string;
  }[];
  readonly issued: readonly { readonly issuedAtMs: number; readonly expiresAtMs: number; readonly jti?: string; readonly subject: string }[];
  readonly calls: readonly { readonly atMs: number; readonly status: number; readonly tokenIndex: number }[];
}

export interface RotationScenario {
  readonly recordsUrl: string;
  stop(): Promise<void>;
}

/**
 * The rule's lifetime. Minted lifetime = min(this, 2 × the JWT's remaining life), so 800 s, and
 * the refresher's spread delay after a rotation (half the spare time beyond its 180 s margin)
 * is at most ~70 s: the second exchange comes within ~650 s of the first, with >150 s left on
 * the first token. With a 3600 s rule it could come as late as ~780 s.
 */
export const ROTATION_RULE_LIFETIME_S = 800;

export async function startRotationScenario(env: ClusterEnv): Promise<RotationScenario> {
  const anthropic = await startAnthropicStandIns(env, [suiteRule(NAMESPACE_PREFIX, ROTATION_RULE_LIFETIME_S)], ROTATION_PORT);
  await createTestNamespace(env, 'rotation', (await suiteCa()).certPem);
  const pod = await rollOut(
    env,
    ROTATION_NAMESPACE,
    appDeployment(env, ROTATION_NAMESPACE, { name: ROTATION_DEPLOYMENT, baseUrl: anthropic.url, intervalMs: 5000, annotations: { [Annotation.baseUrl]: anthropic.url } }),
  );
  const created = await getJson<{ metadata: { creationTimestamp: string; uid: string } }>(env, ['pod', '-n', ROTATION_NAMESPACE, pod.metadata.name]);
  const records = (): RotationRecords => {
    const issued = anthropic.tokens.issuedTokens;
    return {
      podName: pod.metadata.name,
      podUid: created.metadata.uid,
      podCreatedAtMs: Date.parse(created.metadata.creationTimestamp),
      exchanges: anthropic.tokens.events.map((e) => ({
        atMs: e.atMs,
        outcome: e.outcome,
        ...(e.outcome === 'scripted' ? {} : { jti: e.jti }),
        ...(e.outcome === 'success' ? { subject: e.subject, assertionIat: e.assertionIat, podUid: e.assertionPod?.uid } : {}),
        ...(e.outcome === 'denied' ? { reason: e.reason } : {}),
      })),
      issued: issued.map((t) => ({ issuedAtMs: t.issuedAtMs, expiresAtMs: t.expiresAtMs, jti: t.jti, subject: t.subject })),
      calls: anthropic.messages.requests.map((r) => {
        const token = /^Bearer (.+)$/.exec(r.authorization ?? '')?.[1];
        return { atMs: r.atMs, status: r.status, tokenIndex: issued.findIndex((t) => t.accessToken === token) };
      }),
    };
  };
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(records()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    recordsUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    stop: async () => {
      server.close();
      await deleteNamespace(env, ROTATION_NAMESPACE);
      await anthropic.close();
    },
  };
}
