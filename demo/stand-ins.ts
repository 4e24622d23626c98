/**
 * The demo's outside world, all on 127.0.0.1: an OIDC issuer in the cluster's place (it signs
 * the projected tokens and serves discovery and JWKS), and one base URL standing in for
 * api.anthropic.com: the token endpoint (trusting that issuer through a federation rule, as
 * the Console would be set up) and the Messages API (accepting only tokens it issued).
 */
import { Default } from '../contract/index.ts';
import { startAnthropicApi, type AnthropicApiStandIn } from '../test/support/anthropic-api.ts';
import { createOidcIssuer, serviceAccountSubject, type OidcIssuer } from '../test/support/oidc-issuer.ts';
import type { Narrator } from './narrator.ts';

/** Clearly fake ids, in the formats the Console uses. */
export const DEMO_ORGANIZATION_ID = '11111111-2222-4333-8444-555555555555';
export const DEMO_FEDERATION_RULE_ID = 'fdrl_local_demo';
/** The rule's token lifetime: the real minimum, so minted tokens live 60 s. */
export const DEMO_RULE_LIFETIME_SECONDS = 60;
export const STAND_IN_REPLY = 'Hello from the local Messages stand-in (not Claude).';

export interface StandIns {
  readonly issuer: OidcIssuer;
  readonly api: AnthropicApiStandIn;
  close(): Promise<void>;
}

export async function startStandIns(identity: { readonly namespace: string; readonly serviceAccount: string }, narrator: Narrator): Promise<StandIns> {
  const issuer = await createOidcIssuer({ serve: true, kid: 'demo-cluster-key' });
  const jwksUrl = issuer.jwksUrl ?? '';
  narrator.say(`OIDC issuer (in the cluster's place) at ${issuer.issuer}: discovery and JWKS (${jwksUrl})`);
  const subject = serviceAccountSubject(identity.namespace, identity.serviceAccount);
  try {
    const api = await startAnthropicApi(
      {
        organizationId: DEMO_ORGANIZATION_ID,
        issuer: issuer.issuer,
        jwks: { url: jwksUrl },
        rules: [{ id: DEMO_FEDERATION_RULE_ID, subjectPrefix: subject, audience: Default.audience, lifetimeSeconds: DEMO_RULE_LIFETIME_SECONDS }],
      },
      { responseText: STAND_IN_REPLY },
    );
    narrator.say(`Anthropic API stand-in at ${api.url}: POST /v1/oauth/token and POST /v1/messages`);
    narrator.details([
      `organization ${DEMO_ORGANIZATION_ID}, federation rule ${DEMO_FEDERATION_RULE_ID}:`,
      `  issuer ${issuer.issuer} (keys from its JWKS), subject ${subject}, audience ${Default.audience}`,
      `  token lifetime ${String(DEMO_RULE_LIFETIME_SECONDS)} s; each JWT exchanged once (jti checked); Messages accepts only tokens issued here`,
    ]);
    return {
      issuer,
      api,
      close: async () => {
        await Promise.all([api.close(), issuer.close()]);
      },
    };
  } catch (error) {
    await issuer.close();
    throw error;
  }
}
