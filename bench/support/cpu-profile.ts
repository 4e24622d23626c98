/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): the frames with the most self
 * time, and the inclusive time of named functions, so a profile of the webhook under load
 * reads as a short table. `node bench/support/cpu-profile.ts <file> [top] [function…]`.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface FrameTime {
  readonly frame: string;
  readonly selfMs: number;
  readonly share: number;
}

function frameName(frame: CallFrame): string {
  const file = frame.url.replace(/^.*\/(node_modules\/[^/]+|[^/]+\/[^/]+)$/, '$1');
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName} ${file}:${frame.lineNumber + 1}`;
}

function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return self;
}

/** Self time per frame (summed over the call tree), largest first. */
export function topSelfFrames(profile: CpuProfile, top: number): FrameTime[] {
  const self = selfTimes(profile);
  const byFrame = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const micros = self.get(node.id) ?? 0;
    total += micros;
    const name = frameName(node.callFrame);
    byFrame.set(name, (byFrame.get(name) ?? 0) + micros);
  }
  return [...byFrame.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([frame, micros]) => ({ frame, selfMs: micros / 1000, share: micros / total }));
}

/** Inclusive time of every frame whose function is `name` (recursion counted once). */
export function inclusiveMs(profile: CpuProfile, name: string): number {
  const self = selfTimes(profile);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const subtree = (id: number): number => {
    const node = byId.get(id);
    if (node === undefined) return 0;
    return (self.get(id) ?? 0) + (node.children ?? []).reduce((sum, child) => sum + subtree(child), 0);
  };
  const outermost = (id: number, inside: boolean): number => {
    const node = byId.get(id);
    if (node === undefined) return 0;
    const match = node.callFrame.functionName === name;
    if (match && !inside) return subtree(id);
    return (node.children ?? []).reduce((sum, child) => sum + outermost(child, inside || match), 0);
  };
  const root = profile.nodes[0];
  return root === undefined ? 0 : outermost(root.id, false) / 1000;
}

if (import.meta.main) {
  const [file, topArg, ...names] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: node bench/support/cpu-profile.ts <file.cpuprofile> [top] [function…]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  for (const row of topSelfFrames(profile, Number(topArg ?? 30))) {
    console.log(`${row.selfMs.toFixed(1).padStart(9)} ms ${(row.share * 100).toFixed(1).padStart(5)} %  ${row.frame}`);
  }
  for (const name of names) console.log(`inclusive ${name}: ${inclusiveMs(profile, name).toFixed(1)} ms`);
}
