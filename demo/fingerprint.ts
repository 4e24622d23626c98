/**
 * How the demo names a secret without showing it: a short fingerprint of its SHA-256, the
 * first and last four hex digits. Enough to tell tokens apart on screen, useless for
 * recovering one.
 */
import { createHash } from 'node:crypto';

export function fingerprint(secret: string): string {
  const hex = createHash('sha256').update(secret).digest('hex');
  return `sha256:${hex.slice(0, 4)}…${hex.slice(-4)}`;
}
