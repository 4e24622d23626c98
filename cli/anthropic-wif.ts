#!/usr/bin/env node
/**
 * The `anthropic-wif` entry point: picks the subcommand, loads it lazily, maps errors to
 * the contract's exit codes (0 ok, 1 runtime failure, 2 usage or configuration) and turns
 * SIGTERM / SIGINT into an abort signal the command honours.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import type { CommandDefinition } from '../runtime/command.ts';
import type { Env } from '../runtime/config.ts';
import { ConfigError, ExitCode, describeError } from '../runtime/errors.ts';
import { VERSION } from '../runtime/version.ts';
import { CLI_NAME } from '../contract/index.ts';

export const COMMANDS: readonly CommandDefinition[] = [
  {
    name: 'webhook',
    summary: 'Serve the mutating admission webhook that injects workload identity into pods.',
    load: async () => (await import('../webhook/main.ts')).runWebhook,
  },
  {
    name: 'agent',
    summary: 'Exchange the identity token and keep the token files fresh (the sidecar).',
    load: async () => (await import('../agent/main.ts')).runAgent,
  },
  {
    name: 'token',
    summary: 'Exchange once and print a fresh access token, or write the files (for CI).',
    load: async () => (await import('../agent/token-command.ts')).runToken,
  },
  {
    name: 'doctor',
    summary: 'Explain which credential an SDK would use here, and what is wrong if anything.',
    load: async () => (await import('../doctor/doctor.ts')).runDoctor,
  },
  {
    name: 'issuer',
    summary: "Print what to register in the Anthropic Console for this cluster's issuer.",
    load: async () => (await import('../issuer/issuer.ts')).runIssuer,
  },
  {
    name: 'audit',
    summary: 'Report static Anthropic keys, missed or stale injections, drift and failing bindings across a cluster.',
    load: async () => (await import('./audit.ts')).runAudit,
  },
];

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `${CLI_NAME} ${VERSION}: Anthropic Workload Identity Federation for Kubernetes`,
    '',
    `Usage: ${CLI_NAME} <command> [flags]`,
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Run \`${CLI_NAME} <command> --help\` for the flags of a command.`,
    'Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.',
    '',
  ].join('\n');
}

export interface CliStreams {
  readonly stdout: Writable;
  readonly stderr: Writable;
}

export async function main(argv: readonly string[], env: Env, streams: CliStreams, signal: AbortSignal): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    streams.stdout.write(usage());
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (name === '--version' || name === 'version') {
    streams.stdout.write(`${VERSION}\n`);
    return ExitCode.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    streams.stderr.write(`${CLI_NAME}: unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})\n`);
    return ExitCode.usage;
  }
  try {
    const run = await command.load();
    return await run({ argv: rest, env, stdout: streams.stdout, stderr: streams.stderr, signal });
  } catch (error) {
    if (error instanceof ConfigError) {
      streams.stderr.write(`${CLI_NAME} ${name}: ${error.message}\n`);
      return ExitCode.usage;
    }
    streams.stderr.write(`${CLI_NAME} ${name}: ${describeError(error)}\n`);
    return ExitCode.failure;
  }
}

function isEntryPoint(): boolean {
  const invoked = process.argv[1];
  if (invoked === undefined) return false;
  try {
    return realpathSync(invoked) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const controller = new AbortController();
  const stop = (signalName: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(ExitCode.failure);
    controller.abort(new Error(`received ${signalName}`));
  };
  process.once('SIGTERM', stop);
  process.on('SIGINT', stop);
  const code = await main(process.argv.slice(2), process.env, { stdout: process.stdout, stderr: process.stderr }, controller.signal);
  // Flush stdout (it may be a pipe) before leaving; exit explicitly so stray handles cannot hold us.
  process.stdout.write('', () => process.exit(code));
}
