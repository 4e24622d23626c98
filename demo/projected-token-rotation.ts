/**
 * The kubelet's part, for one pod: keep a projected service-account token in the volume
 * directory, and replace it (a new JWT, a `..data` symlink swap) once it is older than 80 % of
 * its lifetime, as the kubelet does. The JWTs come from the demo's local OIDC issuer.
 */
import { Limit } from '../contract/index.ts';
import { createKubeletTokenDir, type KubeletTokenDir } from '../test/support/kubelet-token-file.ts';
import type { OidcIssuer } from '../test/support/oidc-issuer.ts';

export interface PodIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly podName: string;
  readonly audience: string;
}

export interface ProjectedTokenWritten {
  /** 1 for the first token, 2 after the first rotation, … */
  readonly generation: number;
  /** The JWT (secret: fingerprint it before showing it). */
  readonly jwt: string;
  readonly lifetimeSeconds: number;
  /** When the next rotation is due, in ms from now. */
  readonly nextRotationInMs: number;
  /** The timestamped directory `..data` now points at. */
  readonly dataDir: string;
}

export interface ProjectedTokenRotationOptions {
  readonly issuer: OidcIssuer;
  /** The volume's directory (the sidecar's mount path under the demo's root). */
  readonly dir: string;
  readonly identity: PodIdentity;
  readonly lifetimeSeconds: number;
  readonly onWritten: (written: ProjectedTokenWritten) => void;
  readonly onError: (error: unknown) => void;
}

export interface ProjectedTokenRotation {
  /** `<dir>/token`, the path the sidecar reads. */
  readonly tokenPath: string;
  /** Every JWT written so far (secrets, for the output check). */
  readonly jwts: readonly string[];
  stop(): void;
}

/** When the kubelet replaces a token of this lifetime: at 80 % of it. */
export function rotationDelayMs(lifetimeSeconds: number): number {
  return Math.round(lifetimeSeconds * Limit.kubeletRotationFraction * 1000);
}

export async function startProjectedTokenRotation(options: ProjectedTokenRotationOptions): Promise<ProjectedTokenRotation> {
  const { issuer, identity, lifetimeSeconds } = options;
  const jwts: string[] = [];
  const mint = async (): Promise<string> => {
    const jwt = await issuer.mintProjectedToken({
      namespace: identity.namespace,
      serviceAccount: identity.serviceAccount,
      podName: identity.podName,
      aud: identity.audience,
      lifetimeSeconds,
    });
    jwts.push(jwt);
    return jwt;
  };
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const announce = async (volume: KubeletTokenDir): Promise<void> => {
    const delay = rotationDelayMs(lifetimeSeconds);
    options.onWritten({ generation: jwts.length, jwt: jwts.at(-1) ?? '', lifetimeSeconds, nextRotationInMs: delay, dataDir: await volume.currentDataDir() });
    if (!stopped) timer = setTimeout(() => void rotate(volume), delay);
  };
  const rotate = async (volume: KubeletTokenDir): Promise<void> => {
    try {
      const jwt = await mint();
      if (stopped) return;
      await volume.rotate(jwt);
      await announce(volume);
    } catch (error) {
      options.onError(error);
    }
  };
  const volume = await createKubeletTokenDir(options.dir, await mint());
  await announce(volume);
  return {
    tokenPath: volume.tokenPath,
    jwts,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
