/** What the figures were measured on, from /proc and the running Node. */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';

export interface MachineDescription {
  readonly cpuModel: string;
  readonly cpuCount: number;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly node: string;
  readonly date: string;
}

/** CPU model and count from /proc/cpuinfo, memory from /proc/meminfo. */
export function parseMachine(cpuinfo: string, meminfo: string): Pick<MachineDescription, 'cpuModel' | 'cpuCount' | 'memoryBytes'> {
  const models = [...cpuinfo.matchAll(/^model name\s*:\s*(.*)$/gm)].map((match) => match[1]?.trim() ?? '');
  const processors = [...cpuinfo.matchAll(/^processor\s*:/gm)].length;
  const kib = /^MemTotal:\s+(\d+) kB$/m.exec(meminfo)?.[1];
  return { cpuModel: models[0] ?? 'unknown', cpuCount: processors, memoryBytes: Number(kib ?? 0) * 1024 };
}

export function describeMachine(now: Date = new Date()): MachineDescription {
  return {
    ...parseMachine(readFileSync('/proc/cpuinfo', 'utf8'), readFileSync('/proc/meminfo', 'utf8')),
    kernel: `Linux ${release()}`,
    node: process.version,
    date: now.toISOString().slice(0, 10),
  };
}

export function formatMachine(machine: MachineDescription): string {
  return [
    `- CPU: ${machine.cpuModel}, ${machine.cpuCount} logical CPUs (/proc/cpuinfo)`,
    `- Memory: ${(machine.memoryBytes / 1024 ** 3).toFixed(1)} GiB`,
    `- Kernel: ${machine.kernel}`,
    `- Node: ${machine.node}`,
    `- Document generated: ${machine.date} (each section says when it was measured)`,
  ].join('\n');
}
