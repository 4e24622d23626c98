/**
 * The node's side of a pod, read on the host (the suite runs as root where the kubelet runs):
 * which host processes belong to a pod's container, to kill one as a crash would.
 */
import { readdirSync, readFileSync } from 'node:fs';

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Host pids of the processes in pod `podUid` whose argv contains every one of `argv` as
 * whole arguments. The kubelet's cgroup driver here is cgroupfs: `/kubepods/…/pod<uid>/<container>`.
 */
export function podProcesses(podUid: string, argv: readonly string[]): number[] {
  const marker = `pod${podUid}`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (!readOr(`/proc/${entry}/cgroup`).includes(marker)) continue;
    const args = readOr(`/proc/${entry}/cmdline`).split('\0');
    if (argv.every((a) => args.includes(a))) pids.push(Number(entry));
  }
  return pids;
}
