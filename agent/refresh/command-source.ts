/**
 * The command identity source: a user's helper prints the JWT on stdout.
 *
 * No message here holds a token, the command's arguments or its unredacted stderr.
 */
import { spawn } from 'node:child_process';
import { ConfigError } from '../../runtime/errors.ts';
import { nameRecord } from '../../runtime/json.ts';
import { AgentEnv } from '../../contract/index.ts';
import { SOURCE_MAX_BYTES, sourceError, type IdentitySourceDeps, type IdentityTokenSource } from './identity-source.ts';
import { parseIdentityToken, type IdentityTokenError } from './identity-token.ts';

/** Characters of a failed command's stderr shown (its last line, redacted). */
const STDERR_TAIL_CHARS = 200;

/**
 * The command string runs under `sh -c` (what users expect of a command line: pipes,
 * quoting, variables), in its own process group so a timeout kills its children too.
 * Its stdout is the token. Of its stderr only the last line is shown, redacted, because
 * a failing helper may print a credential there.
 */
export function commandSource(config: { readonly command: string; readonly timeoutMs: number }, deps: IdentitySourceDeps): IdentityTokenSource {
  if (config.command.trim() === '') throw new ConfigError(`${AgentEnv.identityTokenCommand} is empty`);
  const program = config.command.trim().split(/\s+/)[0] ?? '';
  const origin = `from command ${program}`;
  return {
    kind: 'command',
    description: `command ${program} (sh -c, timeout ${config.timeoutMs / 1000} s)`,
    rotatesOnItsOwn: false,
    read: async (signal) => parseIdentityToken(await runTokenCommand(config, { env: deps.env, program, signal }), origin),
  };
}

interface CommandRun {
  readonly env: IdentitySourceDeps['env'];
  readonly program: string;
  readonly signal: AbortSignal | undefined;
}

function runTokenCommand(config: { readonly command: string; readonly timeoutMs: number }, run: CommandRun): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', config.command], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: definedEnv(run.env),
      detached: true,
    });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrTail = '';
    let failure: IdentityTokenError | undefined;
    const killGroup = (reason: IdentityTokenError): void => {
      failure ??= reason;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    };
    const timer = setTimeout(() => {
      killGroup(sourceError(`identity token command ${run.program} did not finish within ${config.timeoutMs / 1000} s and was killed`, { retryable: true }));
    }, config.timeoutMs);
    const onAbort = (): void => {
      killGroup(sourceError(`identity token command ${run.program} was stopped`));
    };
    run.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > SOURCE_MAX_BYTES) killGroup(sourceError(`identity token command ${run.program} wrote more than ${SOURCE_MAX_BYTES / 1024} KiB`));
      else stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4096);
    });
    child.on('error', (error) => {
      failure ??= sourceError(`identity token command could not start /bin/sh: ${(error as NodeJS.ErrnoException).code ?? error.message}`, { cause: error });
    });
    child.on('close', (code, signalName) => {
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', onAbort);
      const output = Buffer.concat(stdout).toString('utf8');
      if (failure !== undefined) {
        reject(failure);
      } else if (code !== 0) {
        reject(commandExitError({ program: run.program, code, signalName, stderr: redactStderr(stderrTail, output) }));
      } else {
        resolve(output);
      }
    });
  });
}

function commandExitError(exit: { program: string; code: number | null; signalName: NodeJS.Signals | null; stderr: string }): IdentityTokenError {
  const how = exit.code === null ? `was killed by ${exit.signalName ?? 'a signal'}` : `exited with code ${exit.code}`;
  const tail = exit.stderr === '' ? '' : `: ${exit.stderr}`;
  return sourceError(`identity token command ${exit.program} ${how}${tail}`, { retryable: true });
}

const SECRET_SHAPES: readonly RegExp[] = [
  /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, // a JWT
  /sk-ant-[A-Za-z0-9_-]+/g,
  /(bearer|basic|token|password|secret|authorization|api[-_]?key)([\s:=]+)(?:(?:bearer|basic)\s+)?\S+/gi,
  /[A-Za-z0-9+/_=-]{32,}/g, // any long opaque string
];

/** The last non-empty line of stderr, with anything that looks like a credential masked. */
export function redactStderr(stderr: string, stdout: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  let line = lines.at(-1) ?? '';
  const token = stdout.trim();
  if (token !== '') line = line.replaceAll(token, '[redacted]');
  for (const shape of SECRET_SHAPES) {
    line = line.replace(shape, (match, keyword: unknown, separator: unknown) =>
      typeof keyword === 'string' && typeof separator === 'string' ? `${keyword}${separator}[redacted]` : '[redacted]',
    );
  }
  // eslint-disable-next-line no-control-regex
  line = line.replaceAll(/[\u0000-\u001f\u007f]/g, ' ');
  return line.length <= STDERR_TAIL_CHARS ? line : `…${line.slice(-STDERR_TAIL_CHARS)}`;
}

function definedEnv(env: IdentitySourceDeps['env']): Record<string, string> {
  const out = nameRecord<string>();
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}
