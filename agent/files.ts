/**
 * The files the sidecar keeps in the output directory, written atomically (temp file in
 * the same directory, fsync, rename, directory fsync) with the contract's modes.
 * OWNER: agent-io. Signatures here are what the refresher codes against.
 */

export interface StoredToken {
  readonly accessToken: string;
  readonly expiresAtMs: number;
}

/** What the agent remembers across restarts: never the assertion or the token. */
export interface AgentState {
  readonly version: 1;
  /** sha256 hex of the last assertion's jti (or of the JWT when it has none). */
  readonly assertionKey: string;
  readonly hasJti: boolean;
  /** `sent` is recorded before the request leaves, `accepted` after the files are written. */
  readonly outcome: 'sent' | 'accepted' | 'rejected';
  readonly atMs: number;
}

export interface ProfileSettings {
  readonly organizationId: string;
  readonly workspaceId?: string | undefined;
}

export interface TokenFileStore {
  readonly outputDir: string;
  /** `configs/default.json` (0644), pointing at `<outputDir>/credentials/default.json`. */
  writeProfile(settings: ProfileSettings): Promise<void>;
  /** `token` and `credentials/default.json` (0600). Refuses a token that is already expired. */
  writeToken(token: StoredToken, nowMs: number): Promise<void>;
  /** Removes `token` and `credentials/default.json`; the profile stays. */
  removeToken(): Promise<void>;
  /** The token on disk (from credentials/default.json), for adoption at start. */
  readToken(): Promise<StoredToken | undefined>;
  readState(): Promise<AgentState | undefined>;
  writeState(state: AgentState): Promise<void>;
}

export function createTokenFileStore(_outputDir: string): TokenFileStore {
  throw new Error('not implemented');
}
