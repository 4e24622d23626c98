/**
 * The token endpoint's lifetime rule (../shared/docs/anthropic-wif-facts.md): a minted token
 * lives min(the rule's token lifetime, 2 × the JWT's remaining life), never below 60 s. One
 * definition for every stand-in: the HTTP token endpoint, the in-memory one and the fleet
 * simulation.
 */
import { Limit } from '../../contract/index.ts';

export function mintedLifetimeSeconds(ruleLifetimeSeconds: number, jwtExpSeconds: number, nowMs: number): number {
  const remainingSeconds = jwtExpSeconds - Math.floor(nowMs / 1000);
  return Math.max(Limit.minMintedLifetimeSeconds, Math.min(ruleLifetimeSeconds, 2 * remainingSeconds));
}
