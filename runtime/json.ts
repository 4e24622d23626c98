/** JSON helpers for answers and files this project reads but does not trust. */

/**
 * An object keyed by names someone else chose (a pod's containers, a client's headers), with
 * no prototype: `record.constructor` or `record.__proto__` is then an entry or absent, never
 * an inherited member or a prototype change. Use a Map unless JSON or an API needs an object.
 */
export function nameRecord<T>(entries: Iterable<readonly [string, T]> = []): Record<string, T> {
  const record = Object.create(null) as Record<string, T>;
  for (const [key, value] of entries) record[key] = value;
  return record;
}

/** A JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `text` parsed when it is a JSON object; undefined for no text, invalid JSON or any other value. */
export function parseJsonObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
