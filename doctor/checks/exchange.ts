/**
 * Sections `exchange` and `agent`: the agent's record of its last exchange, and what its
 * health listener says when asked.
 */
import { OutputFile } from '../../contract/index.ts';
import { formatRelative, isoTime } from '../../runtime/time-format.ts';
import type { IdentityTokenFacts, LastExchange } from '../types.ts';
import { join, noteRole, readableBy, report, snapshot, type Context } from './context.ts';

interface StateDocument {
  readonly outcome?: unknown;
  readonly atMs?: unknown;
}

function judgeLastExchange(context: Context, last: LastExchange, identity: IdentityTokenFacts | undefined): void {
  if (last.outcome === 'accepted') {
    report(context, 'last-exchange-accepted', { at: last.at });
  } else if (last.outcome === 'rejected') {
    const claims = identity === undefined ? '' : ` (this token: sub ${identity.sub ?? '?'}, aud ${identity.aud.join(', ')}, iss ${identity.iss ?? '?'})`;
    report(context, 'last-exchange-rejected', { at: last.at, claims });
  } else {
    report(context, 'last-exchange-pending', { at: last.at, outcome: last.outcome });
  }
}

/** The outcome of the last exchange, from the agent's state file in the output directory. */
export function checkLastExchange(context: Context, outputDir: string, identity: IdentityTokenFacts | undefined): LastExchange | undefined {
  const path = join(outputDir, OutputFile.state);
  noteRole(context, path, 'agent state');
  const file = snapshot(context, path);
  if (file.kind === 'missing' || file.content === undefined || !readableBy(file, context.observation.identity)) {
    report(context, 'no-exchange-record', { path });
    return undefined;
  }
  let state: StateDocument | null = null;
  try {
    state = JSON.parse(file.content) as StateDocument | null;
  } catch {
    state = null;
  }
  const outcome = typeof state?.outcome === 'string' ? state.outcome : 'unknown';
  const atMs = typeof state?.atMs === 'number' ? state.atMs : undefined;
  const at = atMs === undefined ? 'an unknown time' : `${isoTime(atMs)} (${formatRelative((atMs - context.observation.nowMs) / 1000)})`;
  judgeLastExchange(context, { outcome, at }, identity);
  return { outcome, at: atMs === undefined ? '' : isoTime(atMs) };
}

/** What the agent's health listener answered, when doctor asked it. */
export function checkAgentProbe(context: Context): void {
  const probe = context.observation.agent;
  if (probe === undefined) return;
  if (probe.error !== undefined) {
    report(context, 'agent-unreachable', { address: probe.address, error: probe.error });
    return;
  }
  const counts = probe.exchanges === undefined ? '' : `; exchanges so far: ${probe.exchanges.success} succeeded, ${probe.exchanges.failure} failed`;
  report(context, probe.ready === true ? 'agent-ready' : 'agent-not-ready', { address: probe.address, counts });
}
