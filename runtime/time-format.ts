/**
 * The small time formatters the commands share: durations for people, ISO times for logs
 * and reports. Pure.
 */

/** `1h 2m 3s`, `4m 0s`, `59s`; a negative duration is `0s`. */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = s % 60;
  if (hours > 0) return `${hours}h ${minutes}m ${seconds}s`;
  if (minutes > 0) return `${minutes}m ${seconds}s`;
  return `${seconds}s`;
}

/** At most two units, sign ignored: `1h 2m`, `9m 20s`, `45s`. */
export function formatRoughDuration(seconds: number): string {
  const s = Math.round(Math.abs(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${s}s`;
}

/** `in 9m 20s` for a time ahead, `9m 20s ago` for one behind. */
export function formatRelative(seconds: number): string {
  return seconds >= 0 ? `in ${formatRoughDuration(seconds)}` : `${formatRoughDuration(seconds)} ago`;
}

/** `2026-01-02T03:04:05.678Z` from epoch milliseconds. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** `2026-01-02T03:04:05Z` from epoch seconds (whole seconds drop the `.000`). */
export function isoSeconds(unixSeconds: number): string {
  return isoTime(unixSeconds * 1000).replace('.000Z', 'Z');
}
