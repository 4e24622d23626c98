/**
 * What the refresher tells the planner (refresh-schedule.ts), translated from what it
 * observed: an identity token's facts, the state file's record, a failed exchange's
 * outcome; and the planner's rotation gap put in words for the log. Pure.
 */
import { Annotation } from '../../contract/index.ts';
import { ExchangeError } from './exchange.ts';
import type { AgentState } from './files.ts';
import type { IdentityToken } from './identity-token.ts';
import type { AssertionFacts, ExchangeOutcome, RotationGap, SavedAssertion } from './refresh-schedule.ts';

/** The planner's facts about an identity token (times in ms). */
export function assertionFacts(identity: IdentityToken): AssertionFacts {
  const { iat, exp } = identity.claims;
  return {
    key: identity.assertionKey,
    hasJti: identity.hasJti,
    issuedAtMs: iat === undefined ? undefined : iat * 1000,
    expiresAtMs: exp === undefined ? undefined : exp * 1000,
  };
}

/** The state file's record, as the planner reads it at start. */
export function savedAssertion(state: AgentState | undefined): SavedAssertion | undefined {
  return state === undefined ? undefined : { assertionKey: state.assertionKey, hasJti: state.hasJti, outcome: state.outcome, atMs: state.atMs };
}

/** How the planner should treat a failed exchange. */
export function failureOutcome(error: unknown): ExchangeOutcome {
  if (!(error instanceof ExchangeError)) return { kind: 'transient', retryAfterMs: undefined };
  if (error.retryable) return { kind: 'transient', retryAfterMs: error.retryAfterSeconds === undefined ? undefined : error.retryAfterSeconds * 1000 };
  return error.kind === 'rejected' ? { kind: 'rejected' } : { kind: 'invalid' };
}

/** The loud, one-time explanation of the too-short case, with the numbers and the fix. */
export function describeRotationGap(gap: RotationGap): string {
  const fixes = [
    ...(gap.maxTokenExpirationSeconds === undefined ? [] : [`lower the pod's ${Annotation.tokenExpiration} annotation to ${gap.maxTokenExpirationSeconds} or less`]),
    `raise the federation rule's token lifetime to ${gap.minRuleLifetimeSeconds} s or more`,
  ];
  return (
    `access tokens live ${gap.tokenLifetimeSeconds} s but a new identity token only arrives every ${gap.rotationIntervalSeconds} s: ` +
    `for ${gap.gapSeconds} s of each rotation there is no valid token and the token files are removed. ` +
    `Fix: ${fixes.join(', or ')}.`
  );
}
