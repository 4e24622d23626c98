/**
 * A local OIDC issuer that mints Kubernetes-style projected service-account tokens (RS256),
 * with its JWKS in memory and, optionally, served on 127.0.0.1 the way kube-apiserver does:
 * `/.well-known/openid-configuration` and `/openid/v1/jwks`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JSONWebKeySet, type JWTPayload } from 'jose';
import { systemClock, type Clock } from '../../runtime/clock.ts';

export const ISSUER_JWKS_PATH = '/openid/v1/jwks';
export const ISSUER_DISCOVERY_PATH = '/.well-known/openid-configuration';

export interface OidcIssuerOptions {
  /** The `iss` claim; with `serve`, defaults to the server's `http://127.0.0.1:<port>`. */
  readonly issuer?: string;
  /** Start the HTTP server on 127.0.0.1:0. */
  readonly serve?: boolean;
  /** Decides `iat`/`nbf`/`exp` when not given. Default: the system clock. */
  readonly clock?: Clock;
  /** Key id in the JWKS and in minted headers. Default `test-key-1`. */
  readonly kid?: string;
}

export interface ProjectedTokenOptions {
  /** Overrides the subject built from `namespace` and `serviceAccount`. */
  readonly sub?: string;
  readonly namespace?: string;
  readonly serviceAccount?: string;
  /** A string or an array; the token always carries an array, as Kubernetes does. */
  readonly aud?: string | readonly string[];
  /** `exp - iat`. Default 600 (the webhook's default `expirationSeconds`). */
  readonly lifetimeSeconds?: number;
  /** Unix seconds; default now on the issuer's clock. */
  readonly iat?: number;
  /** Default `iat`. */
  readonly nbf?: number;
  /** A string, or `null` for a token without `jti` (older clusters). Default: a random UUID. */
  readonly jti?: string | null;
  /** Default the issuer's. */
  readonly kid?: string;
  /** Default the issuer's `iss`. */
  readonly iss?: string;
  readonly podName?: string;
  /** `wrong-key`: signed by a key that is not in the JWKS (same kid), so verification fails. */
  readonly signWith?: 'issuer' | 'wrong-key';
  /** Merged last, so it can override anything (`undefined` values are dropped). */
  readonly extraClaims?: Readonly<Record<string, unknown>>;
}

export interface OidcIssuer {
  readonly issuer: string;
  readonly kid: string;
  /** The public keys, as `/openid/v1/jwks` serves them. */
  readonly jwks: JSONWebKeySet;
  /** `http://127.0.0.1:<port>` when serving, else undefined. */
  readonly url: string | undefined;
  /** `<url>/openid/v1/jwks` when serving. */
  readonly jwksUrl: string | undefined;
  mintProjectedToken(options?: ProjectedTokenOptions): Promise<string>;
  /** Signs arbitrary claims (no defaults added) with the issuer's key or the wrong key. */
  signClaims(claims: JWTPayload, options?: { readonly kid?: string; readonly signWith?: 'issuer' | 'wrong-key' }): Promise<string>;
  /** Count of JWKS fetches served (to check caching). */
  readonly jwksFetches: number;
  close(): Promise<void>;
}

export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_SERVICE_ACCOUNT = 'app';

export function serviceAccountSubject(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
}

export async function createOidcIssuer(options: OidcIssuerOptions = {}): Promise<OidcIssuer> {
  const clock = options.clock ?? systemClock;
  const kid = options.kid ?? 'test-key-1';
  const keys = await generateKeyPair('RS256', { extractable: true });
  const wrong = await generateKeyPair('RS256');
  const publicJwk = await exportJWK(keys.publicKey);
  const jwks: JSONWebKeySet = { keys: [{ ...publicJwk, kid, alg: 'RS256', use: 'sig' }] };
  let jwksFetches = 0;
  let server: Server | undefined;
  let url: string | undefined;
  if (options.serve === true) {
    const state = { issuer: '' };
    server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === ISSUER_JWKS_PATH) {
        jwksFetches += 1;
        sendJson(res, 200, jwks);
      } else if (path === ISSUER_DISCOVERY_PATH) {
        sendJson(res, 200, discoveryDocument(state.issuer));
      } else {
        sendJson(res, 404, { error: 'not found' });
      }
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    state.issuer = options.issuer ?? url;
  }
  const issuer = options.issuer ?? url ?? 'https://kubernetes.default.svc.cluster.local';

  async function signClaims(claims: JWTPayload, signOptions: { readonly kid?: string; readonly signWith?: 'issuer' | 'wrong-key' } = {}): Promise<string> {
    const key: CryptoKey = signOptions.signWith === 'wrong-key' ? wrong.privateKey : keys.privateKey;
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: signOptions.kid ?? kid }).sign(key);
  }

  return {
    issuer,
    kid,
    jwks,
    url,
    jwksUrl: url === undefined ? undefined : `${url}${ISSUER_JWKS_PATH}`,
    get jwksFetches() {
      return jwksFetches;
    },
    mintProjectedToken: (mint = {}) => signClaims(projectedClaims({ ...mint, iss: mint.iss ?? issuer }, clock), mint),
    signClaims,
    close: async () => {
      const running = server;
      if (running === undefined) return;
      running.closeAllConnections();
      await new Promise<void>((resolve) => {
        running.close(() => {
          resolve();
        });
      });
    },
  };
}

/** The claims kube-apiserver puts in a projected token bound to a pod. */
export function projectedClaims(options: ProjectedTokenOptions & { readonly iss: string }, clock: Clock): JWTPayload {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const serviceAccount = options.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT;
  const iat = options.iat ?? Math.floor(clock.now() / 1000);
  const aud = options.aud ?? 'https://api.anthropic.com';
  const podName = options.podName ?? `${serviceAccount}-5d9c7b8f6-abcde`;
  const claims: Record<string, unknown> = {
    aud: typeof aud === 'string' ? [aud] : [...aud],
    exp: iat + (options.lifetimeSeconds ?? 600),
    iat,
    iss: options.iss,
    jti: options.jti === null ? undefined : (options.jti ?? randomUUID()),
    'kubernetes.io': {
      namespace,
      node: { name: 'node-1', uid: '8b7f7c1e-7e6f-4bde-9b0c-2f1a4c3d5e60' },
      pod: { name: podName, uid: '2c4e6a8b-1d3f-4a5c-8e7f-9a0b1c2d3e4f' },
      serviceaccount: { name: serviceAccount, uid: 'f0e1d2c3-b4a5-4968-8776-655443322110' },
    },
    nbf: options.nbf ?? iat,
    sub: options.sub ?? serviceAccountSubject(namespace, serviceAccount),
    ...options.extraClaims,
  };
  return Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined));
}

function discoveryDocument(issuer: string): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}${ISSUER_JWKS_PATH}`,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
