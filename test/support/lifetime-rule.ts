/**
 * The token endpoint's lifetime rule (../shared/docs/anthropic-wif-facts.md): a minted token
 * lives min(the rule's token lifetime, 2 × the JWT's remaining life), never below 60 s. One
 * definition for every stand-in: the HTTP token endpoint, the in-memory one and the fleet
 * simulation.
 */
export const MIN_MINTED_LIFETIME_SECONDS = 60;

export function mintedLifetimeSeconds(ruleLifetimeSeconds: number, jwtExpSeconds: number, nowMs: number): number {
  const remainingSeconds = jwtExpSeconds - Math.floor(nowMs / 1000);
  return Math.max(MIN_MINTED_LIFETIME_SECONDS, Math.min(ruleLifetimeSeconds, 2 * remainingSeconds));
}
