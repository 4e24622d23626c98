/**
 * What a process's memory and CPU are made of, from /proc: resident set split into anonymous
 * and file-backed pages, file-backed pages by mapping (the node binary's code and read-only
 * data, shared libraries), and CPU time to the nanosecond from every thread's schedstat.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface MemorySample {
  /** VmRSS. */
  readonly rssBytes: number;
  /** RssAnon: heap, stacks, V8's spaces: what only this process holds. */
  readonly anonBytes: number;
  /** RssFile: pages of mapped files (the node binary, libraries), shared with every process mapping them. */
  readonly fileBytes: number;
  /** VmHWM: the largest VmRSS so far (startup and first exchange included). */
  readonly peakBytes: number;
}

function statusKib(status: string, field: string): number {
  const kib = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1];
  if (kib === undefined) throw new Error(`no ${field} in /proc/<pid>/status`);
  return Number(kib) * 1024;
}

export function readMemory(pid: number): MemorySample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    rssBytes: statusKib(status, 'VmRSS'),
    anonBytes: statusKib(status, 'RssAnon'),
    fileBytes: statusKib(status, 'RssFile') + statusKib(status, 'RssShmem'),
    peakBytes: statusKib(status, 'VmHWM'),
  };
}

/** CPU time of every thread (user + system), nanoseconds: schedstat's first field, summed. */
export function readCpuNs(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return total;
}

/** Resident bytes by what is mapped: the node executable, shared libraries, anonymous memory. */
export interface RssBreakdown {
  readonly nodeBinaryBytes: number;
  readonly librariesBytes: number;
  readonly anonymousBytes: number;
  readonly otherBytes: number;
}

export function readRssBreakdown(pid: number): RssBreakdown {
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const totals = { nodeBinaryBytes: 0, librariesBytes: 0, anonymousBytes: 0, otherBytes: 0 };
  let mapping = '';
  for (const line of smaps.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+(?:\s+(.*))?$/.exec(line);
    if (header !== null) {
      mapping = header[1]?.trim() ?? '';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB$/.exec(line)?.[1];
    if (rss === undefined) continue;
    const bytes = Number(rss) * 1024;
    if (mapping === '' || mapping.startsWith('[')) totals.anonymousBytes += bytes;
    else if (/\/node$/.test(mapping)) totals.nodeBinaryBytes += bytes;
    else if (/\.so(\.|$)/.test(mapping)) totals.librariesBytes += bytes;
    else totals.otherBytes += bytes;
  }
  return totals;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime from /proc/<pid>/stat, in ms (10 ms resolution: clock ticks). */
export function readCpuTicksMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5); the slice starts at field 3.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}
