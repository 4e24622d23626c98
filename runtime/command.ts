/**
 * What every `anthropic-wif` subcommand looks like to the CLI entry point: a function from
 * arguments, environment and streams to an exit code. Only the CLI touches `process`.
 */
import type { Writable } from 'node:stream';
import type { Env } from './config.ts';

export interface CommandContext {
  readonly argv: readonly string[];
  readonly env: Env;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Aborted on SIGTERM / SIGINT; long-running commands stop cleanly when it fires. */
  readonly signal: AbortSignal;
}

export type CommandRun = (context: CommandContext) => Promise<number>;

export interface CommandDefinition {
  readonly name: string;
  readonly summary: string;
  /** Loaded lazily so `anthropic-wif agent` never pays for the webhook's dependencies. */
  readonly load: () => Promise<CommandRun>;
}
