/**
 * One read of the identity token source for the refresher: the token checked (shape,
 * expiry, audience) and turned into the planner's facts, or the reason it is unusable,
 * logged once per kind of problem.
 */
import { nowSeconds, type Clock } from '../../runtime/clock.ts';
import { WifError, describeError, errorFields } from '../../runtime/errors.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { IdentityTokenSource } from './identity-sources.ts';
import { checkIdentityToken, type IdentityToken } from './identity-token.ts';
import { assertionFacts } from './planner-facts.ts';
import type { AssertionFacts } from './refresh-schedule.ts';

export type SourceRead =
  | { readonly kind: 'assertion'; readonly assertion: AssertionFacts; readonly identity: IdentityToken }
  | { readonly kind: 'unusable'; readonly message: string };

export interface SourceReaderOptions {
  readonly source: IdentityTokenSource;
  /** The audience the identity token must carry; undefined skips the check. */
  readonly expectedAudience: string | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly identityTokenRead?: ((expiresAtMs: number | undefined) => void) | undefined;
}

export class SourceReader {
  readonly #options: SourceReaderOptions;
  #lastProblem: string | undefined;

  constructor(options: SourceReaderOptions) {
    this.#options = options;
  }

  /** Throws only when `signal` aborted the read. */
  async read(signal: AbortSignal): Promise<SourceRead> {
    const { source, clock, logger } = this.#options;
    try {
      const identity = await source.read(signal);
      checkIdentityToken(identity, { expectedAudience: this.#options.expectedAudience, nowSeconds: nowSeconds(clock) });
      const assertion = assertionFacts(identity);
      this.#options.identityTokenRead?.(assertion.expiresAtMs);
      if (this.#lastProblem !== undefined) logger.info({ source: source.description }, 'identity token is usable again');
      this.#lastProblem = undefined;
      return { kind: 'assertion', assertion, identity };
    } catch (error) {
      if (signal.aborted) throw error;
      const message = describeError(error);
      // Once per kind of problem: a missing file re-read every few seconds must not flood the log.
      const problem = error instanceof WifError ? error.code : message;
      if (problem !== this.#lastProblem) logger.warn({ source: source.description, error: errorFields(error) }, `identity token unusable: ${message}`);
      this.#lastProblem = problem;
      return { kind: 'unusable', message };
    }
  }
}
