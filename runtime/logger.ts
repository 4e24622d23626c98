/**
 * The one logger factory: pino JSON lines with redaction configured. Code never passes a
 * token, an assertion or an Authorization header to a logger; redaction is the safety net.
 */
import { pino, type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

const SECRET_KEYS = [
  'token',
  'accessToken',
  'access_token',
  'assertion',
  'identityToken',
  'authorization',
  'Authorization',
  'apiKey',
  'password',
];

/** Paths pino censors at the top level and one or two levels down. */
export const REDACTED_PATHS: readonly string[] = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((key) => `*.${key}`),
  ...SECRET_KEYS.map((key) => `*.*.${key}`),
  'headers["x-api-key"]',
  '*.headers["x-api-key"]',
  '*.headers.authorization',
];

export interface LoggerOptions {
  readonly name: string;
  readonly level?: Level | undefined;
  /** Where lines go; stdout when omitted. Tests pass a stream to capture output. */
  readonly destination?: DestinationStream | undefined;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      base: { name: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACTED_PATHS], censor: '[REDACTED]' },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that drops everything, for pure code under test that needs one injected. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
