/**
 * What every check shares: the observation, the findings so far, the files looked at, and
 * the small pure helpers on paths and permission bits.
 */
import type { FileSnapshot } from '../credential-resolution.ts';
import { finding, type Finding, type FindingCode, type FindingFacts } from '../findings.ts';
import type { DoctorObservation, DoctorSettings, ProcessIdentity } from '../types.ts';

export interface Context {
  readonly observation: DoctorObservation;
  readonly settings: DoctorSettings;
  readonly findings: Finding[];
  readonly roles: Map<string, Set<string>>;
  /** The ANTHROPIC_CONFIG_DIR reported missing (normalized), so the same volume is not reported twice. */
  missingConfigDir?: string;
}

export function octal(mode: number | undefined): string | undefined {
  return mode === undefined ? undefined : `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

export function withoutTrailingSlash(path: string): string {
  return path.replace(/\/+$/, '') || '/';
}

export function join(dir: string, file: string): string {
  return `${dir.replace(/\/+$/, '')}/${file}`;
}

export function dirname(path: string): string {
  const cut = withoutTrailingSlash(path).lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

/** Permission bits a process needs on a file it does not own: owner, group or other. */
function permits(file: FileSnapshot, who: ProcessIdentity, bits: { readonly owner: number; readonly group: number; readonly other: number }): boolean {
  if (file.readError === 'EACCES' || file.readError === 'EPERM' || file.kind === 'inaccessible') return false;
  if (who.uid === 0 || file.mode === undefined || file.uid === undefined) return true;
  if (file.uid === who.uid) return (file.mode & bits.owner) !== 0;
  if (file.gid !== undefined && who.gids.includes(file.gid)) return (file.mode & bits.group) !== 0;
  return (file.mode & bits.other) !== 0;
}

export function readableBy(file: FileSnapshot, who: ProcessIdentity): boolean {
  return permits(file, who, { owner: 0o400, group: 0o040, other: 0o004 });
}

export function searchableBy(dir: FileSnapshot, who: ProcessIdentity): boolean {
  return permits(dir, who, { owner: 0o100, group: 0o010, other: 0o001 });
}

export function describeOwner(file: FileSnapshot): string {
  return `mode ${octal(file.mode) ?? '?'}, owner uid ${file.uid ?? '?'}`;
}

export function snapshot(context: Context, path: string): FileSnapshot {
  return context.observation.files.get(path) ?? { path, kind: 'missing' };
}

/** Adds the catalog's finding `code`, worded from `facts`. */
export function report<C extends FindingCode>(context: Context, code: C, ...facts: unknown extends FindingFacts<C> ? [] : [FindingFacts<C>]): void {
  context.findings.push(finding(code, ...facts));
}

export function noteRole(context: Context, path: string, role: string): void {
  const roles = context.roles.get(path) ?? new Set<string>();
  roles.add(role);
  context.roles.set(path, roles);
}

/** The first observed directory above `path` this process cannot enter. */
export function blockingDirectory(context: Context, path: string): FileSnapshot | undefined {
  const chain: FileSnapshot[] = [];
  for (let dir = dirname(path); dir !== '/'; dir = dirname(dir)) {
    const seen = context.observation.files.get(dir);
    if (seen?.kind === 'directory') chain.unshift(seen);
  }
  return chain.find((dir) => !searchableBy(dir, context.observation.identity));
}

/** Who may not read a file, and which fix applies. */
export type UnreadableFinding = { readonly code: 'file-unreadable'; readonly fix: 'same-uid' | 'profile' } | { readonly code: 'identity-token-unreadable' };

function reportUnreadable(context: Context, what: UnreadableFinding, facts: { readonly path: string; readonly directory?: string; readonly owner: string; readonly error?: string | undefined }): void {
  const uid = context.observation.identity.uid;
  if (what.code === 'file-unreadable') report(context, what.code, { ...facts, uid, fix: what.fix });
  else report(context, what.code, { ...facts, uid });
}

/**
 * A file is usable when it exists and this process can read it; otherwise one finding says
 * why (missing is left to the caller, which knows what a missing file means).
 */
export function checkReadable(context: Context, file: FileSnapshot, what: UnreadableFinding): boolean {
  const blocked = blockingDirectory(context, file.path);
  if (blocked !== undefined) {
    reportUnreadable(context, what, { path: file.path, directory: blocked.path, owner: describeOwner(blocked) });
    return false;
  }
  if (file.kind === 'missing') return false;
  if (readableBy(file, context.observation.identity) && file.content !== undefined) return true;
  reportUnreadable(context, what, { path: file.path, owner: describeOwner(file), error: file.readError });
  return false;
}
