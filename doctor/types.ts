/**
 * What `anthropic-wif doctor` observes and what it reports: the types the checks, the
 * diagnosis and the text report share.
 */
import type { Env } from '../runtime/config.ts';
import type { CredentialResolution, FileSnapshot } from './credential-resolution.ts';
import type { Finding } from './findings.ts';

export interface DoctorSettings {
  /** `--output-dir` or ANTHROPIC_WIF_OUTPUT_DIR: set in the sidecar. */
  readonly outputDir?: string | undefined;
  /** `--identity-token-file` or ANTHROPIC_IDENTITY_TOKEN_FILE. */
  readonly identityTokenFile?: string | undefined;
  /** The audience the identity token must carry. */
  readonly expectedAudience: string;
}

export interface ProcessIdentity {
  readonly uid: number;
  readonly gids: readonly number[];
}

/** What the agent's health listener said, when it was asked. */
export interface AgentProbe {
  readonly address: string;
  readonly ready?: boolean | undefined;
  readonly exchanges?: { readonly success: number; readonly failure: number } | undefined;
  /** Why it could not be asked (connection refused, timeout). */
  readonly error?: string | undefined;
}

export interface DoctorObservation {
  readonly env: Env;
  readonly nowMs: number;
  readonly identity: ProcessIdentity;
  readonly files: ReadonlyMap<string, FileSnapshot>;
  readonly agent?: AgentProbe | undefined;
}

export interface IdentityTokenFacts {
  readonly source: string;
  readonly iss?: string | undefined;
  readonly sub?: string | undefined;
  readonly aud: readonly string[];
  readonly expiresAt?: string | undefined;
  readonly secondsLeft?: number | undefined;
  readonly hasJti: boolean;
  readonly audienceMatches: boolean;
  readonly expired: boolean;
  /** File sources: when the kubelet should have replaced it (80 % of its lifetime, at most 24 h). */
  readonly rotationDueAt?: string | undefined;
  readonly rotationOverdueSeconds?: number | undefined;
}

export interface AccessTokenFacts {
  readonly path: string;
  readonly expiresAt: string;
  readonly secondsLeft: number;
}

export interface FileFacts {
  readonly path: string;
  readonly role: string;
  readonly kind: FileSnapshot['kind'];
  readonly mode?: string | undefined;
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  readonly readable: boolean;
}

export interface LastExchange {
  readonly outcome: string;
  readonly at: string;
}

export interface DoctorReport {
  readonly healthy: boolean;
  /** `sidecar` when ANTHROPIC_WIF_OUTPUT_DIR is set (the agent's environment), else `app`. */
  readonly role: 'sidecar' | 'app';
  readonly checkedAt: string;
  readonly uid: number;
  readonly credential: { readonly choice: CredentialResolution['choice']['kind']; readonly summary: string; readonly why: readonly string[] };
  readonly identityToken?: IdentityTokenFacts | undefined;
  readonly accessToken?: AccessTokenFacts | undefined;
  readonly lastExchange?: LastExchange | undefined;
  readonly agent?: AgentProbe | undefined;
  readonly files: readonly FileFacts[];
  readonly findings: readonly Finding[];
}
