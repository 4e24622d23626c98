/** `npm run demo -- [flags]`: the demo's few options, parsed once. */
import { ConfigError } from '../runtime/errors.ts';

export interface DemoOptions {
  /** Access tokens to exchange (each followed by an SDK call) before stopping. */
  readonly cycles: number;
  /** After `cycles`, keep refreshing until Ctrl-C. */
  readonly keepRunning: boolean;
  /** Colour; undefined means "when stdout is a terminal and NO_COLOR is unset". */
  readonly color: boolean | undefined;
}

export type ParsedDemoArgs = { readonly help: true; readonly text: string } | { readonly help: false; readonly options: DemoOptions };

export const DEFAULT_CYCLES = 3;
const MAX_CYCLES = 20;

export const DEMO_USAGE = `Usage: npm run demo -- [flags]

Runs the whole path on this machine, on 127.0.0.1 only, with no cluster and nothing sent to
Anthropic: a local OIDC issuer and a kubelet-style projected token that rotates, local
stand-ins for Anthropic's token endpoint and Messages API, the real webhook (showing the
patch it makes to manifests/examples/deployment.yaml's pod), the real agent exchanging and
refreshing, and the official @anthropic-ai/sdk calling Messages with the agent's token.
Lifetimes are shortened so that a few refreshes happen within about a minute.

Flags:
  --cycles <n>      Access tokens to exchange, each followed by an SDK call, before
                    stopping (1-${String(MAX_CYCLES)}; default ${String(DEFAULT_CYCLES)}, about 24 s per extra token).
  --keep-running    Keep refreshing and calling after that, until Ctrl-C.
  --no-color        Plain output even on a terminal (NO_COLOR is honoured too).
  -h, --help        Show this help.

Needs: Node 24 (npm ci), and openssl on PATH (for the webhook's throwaway TLS certificate).
Exit codes: 0 success, 1 a step failed, 2 a bad flag, 130 interrupted.
`;

function parseCycles(value: string | undefined): number {
  const cycles = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || cycles < 1 || cycles > MAX_CYCLES) {
    throw new ConfigError(`--cycles: expected a whole number from 1 to ${String(MAX_CYCLES)}, got "${value ?? ''}"`);
  }
  return cycles;
}

export function parseDemoArgs(argv: readonly string[]): ParsedDemoArgs {
  let cycles = DEFAULT_CYCLES;
  let keepRunning = false;
  let color: boolean | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '-h' || flag === '--help') return { help: true, text: DEMO_USAGE };
    if (flag === '--keep-running' && inline === undefined) keepRunning = true;
    else if (flag === '--no-color' && inline === undefined) color = false;
    else if (flag === '--cycles') cycles = parseCycles(inline ?? argv[++i]);
    else throw new ConfigError(`unknown argument "${arg}" (see --help)`);
  }
  return { help: false, options: { cycles, keepRunning, color } };
}
