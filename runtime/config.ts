/**
 * The one config parser: each command declares its options once (flag, variable, type,
 * default, help) and gets back a frozen, validated object. A bad value throws ConfigError
 * naming the flag or variable at fault; the CLI turns that into exit code 2.
 *
 * Precedence: flag > variable > default. An empty variable counts as unset, as in the SDKs.
 */
import { ConfigError } from './errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface OptionSpec<T> {
  /** Flag name without dashes, e.g. `federation-rule-id`. */
  readonly flag: string;
  /** Environment variable read when the flag is absent. */
  readonly env?: string | undefined;
  readonly description: string;
  /** Shown in help, e.g. `<seconds>`; switches have none. */
  readonly valueName?: string | undefined;
  /** A switch takes no value (`--once`); `--once=false` is also accepted. */
  readonly isSwitch?: boolean | undefined;
  /** Repeatable flags collect every occurrence; the variable holds a comma-separated list. */
  readonly repeatable?: boolean | undefined;
  /** Never echo the raw value in an error or in help. */
  readonly secret?: boolean | undefined;
  /** Help text for the default; defaults to the JSON of `defaultValue`. */
  readonly defaultLabel?: string | undefined;
  /** Parses one raw value; throws an Error whose message says what is expected. */
  readonly parse: (raw: string) => unknown;
  /** The value when neither flag nor variable is set. */
  readonly defaultValue: T;
  /** Phantom member that carries T for inference only. */
  readonly __type?: T;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec<unknown>>>;
export type ConfigOf<S extends OptionSpecs> = {
  readonly [K in keyof S]: S[K] extends OptionSpec<infer T> ? T : never;
};

interface BaseOptions {
  readonly flag: string;
  readonly env?: string | undefined;
  readonly description: string;
  readonly valueName?: string;
  readonly secret?: boolean;
  readonly defaultLabel?: string;
}

function expected(what: string): never {
  throw new Error(what);
}

function spec<T>(base: BaseOptions, parse: (raw: string) => unknown, defaultValue: T, extra: Partial<OptionSpec<T>> = {}): OptionSpec<T> {
  return { valueName: '<value>', ...base, parse, defaultValue, ...extra };
}

export const option = {
  string<D extends string | undefined = undefined>(
    base: BaseOptions & { readonly pattern?: RegExp; readonly expected?: string; readonly maxLength?: number; readonly defaultValue?: D },
  ): OptionSpec<string | D> {
    return spec<string | D>(
      base,
      (raw) => {
        if (raw.length === 0) expected(base.expected ?? 'a non-empty value');
        if (base.maxLength !== undefined && raw.length > base.maxLength) expected(base.expected ?? `at most ${base.maxLength} characters`);
        if (base.pattern !== undefined && !base.pattern.test(raw)) expected(base.expected ?? `a value matching ${base.pattern.source}`);
        return raw;
      },
      base.defaultValue as D,
    );
  },

  integer<D extends number | undefined = undefined>(
    base: BaseOptions & { readonly min: number; readonly max: number; readonly defaultValue?: D },
  ): OptionSpec<number | D> {
    return spec<number | D>(
      base,
      (raw) => {
        const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
        if (!Number.isSafeInteger(value) || value < base.min || value > base.max) {
          expected(`an integer from ${base.min} to ${base.max}`);
        }
        return value;
      },
      base.defaultValue as D,
      { valueName: base.valueName ?? '<n>' },
    );
  },

  enumeration<const V extends string, D extends V | undefined = undefined>(
    base: BaseOptions & { readonly values: readonly V[]; readonly defaultValue?: D },
  ): OptionSpec<V | D> {
    return spec<V | D>(
      base,
      (raw) => ((base.values as readonly string[]).includes(raw) ? raw : expected(`one of ${base.values.join(', ')}`)),
      base.defaultValue as D,
      { valueName: base.valueName ?? `<${base.values.join('|')}>` },
    );
  },

  boolean(base: BaseOptions & { readonly defaultValue: boolean }): OptionSpec<boolean> {
    return spec(base, parseBoolean, base.defaultValue, { valueName: '<true|false>' });
  },

  /** A flag without a value, such as `--once`. */
  switch(base: BaseOptions): OptionSpec<boolean> {
    return spec(base, parseBoolean, false, { isSwitch: true, valueName: undefined });
  },

  list(base: BaseOptions & { readonly item?: (raw: string) => string }): OptionSpec<readonly string[]> {
    return spec<readonly string[]>(base, (raw) => (base.item === undefined ? raw : base.item(raw)), [], { repeatable: true });
  },

  /** Any other type: `parse` throws with what is expected. */
  custom<T, D extends T | undefined = undefined>(
    base: BaseOptions & { readonly parse: (raw: string) => T; readonly defaultValue?: D },
  ): OptionSpec<T | D> {
    return spec<T | D>(base, base.parse, base.defaultValue as D);
  },
};

function parseBoolean(raw: string): boolean {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  return expected('true or false');
}

/** Flag `federation-rule-id` → key in the spec, found by flag name. */
function indexByFlag(specs: OptionSpecs): Map<string, [string, OptionSpec<unknown>]> {
  const index = new Map<string, [string, OptionSpec<unknown>]>();
  for (const [key, value] of Object.entries(specs)) index.set(value.flag, [key, value]);
  return index;
}

export interface ParsedArgs {
  /** Raw values by spec key, in the order given. */
  readonly values: ReadonlyMap<string, readonly string[]>;
  readonly help: boolean;
}

/** Splits argv into raw flag values; rejects unknown flags, missing values and positionals. */
export function parseArgv(specs: OptionSpecs, argv: readonly string[], command: string): ParsedArgs {
  const byFlag = indexByFlag(specs);
  const values = new Map<string, string[]>();
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    const { key, option, raw, consumedNext } = readFlag(byFlag, arg, argv[i + 1], command);
    if (consumedNext) i++;
    const list = values.get(key) ?? [];
    if (list.length > 0 && option.repeatable !== true) throw new ConfigError(`flag --${option.flag} is given more than once`);
    list.push(raw);
    values.set(key, list);
  }
  return { values, help };
}

interface FlagOccurrence {
  readonly key: string;
  readonly option: OptionSpec<unknown>;
  readonly raw: string;
  readonly consumedNext: boolean;
}

function readFlag(byFlag: Map<string, [string, OptionSpec<unknown>]>, arg: string, next: string | undefined, command: string): FlagOccurrence {
  if (!arg.startsWith('--') || arg === '--') {
    throw new ConfigError(`unexpected argument "${arg}" (see anthropic-wif ${command} --help)`);
  }
  const eq = arg.indexOf('=');
  const name = arg.slice(2, eq === -1 ? undefined : eq);
  const entry = byFlag.get(name);
  if (entry === undefined) throw new ConfigError(`unknown flag --${name} (see anthropic-wif ${command} --help)`);
  const [key, option] = entry;
  if (eq !== -1) return { key, option, raw: arg.slice(eq + 1), consumedNext: false };
  if (option.isSwitch === true) return { key, option, raw: 'true', consumedNext: false };
  if (next === undefined || next.startsWith('--')) {
    throw new ConfigError(`flag --${name} needs a value ${option.valueName ?? ''}`.trim());
  }
  return { key, option, raw: next, consumedNext: true };
}

function parseOne(option: OptionSpec<unknown>, raw: string, source: string): unknown {
  try {
    return option.parse(raw);
  } catch (error) {
    const what = error instanceof Error ? error.message : String(error);
    const shown = option.secret === true ? '' : ` "${raw}"`;
    throw new ConfigError(`invalid ${source}${shown}: expected ${what}`);
  }
}

function resolveOption(option: OptionSpec<unknown>, flagValues: readonly string[] | undefined, env: Env): unknown {
  if (flagValues !== undefined) {
    const parsed = flagValues.map((raw) => parseOne(option, raw, `--${option.flag}`));
    return option.repeatable === true ? Object.freeze(parsed) : parsed[0];
  }
  const fromEnv = option.env === undefined ? undefined : env[option.env];
  if (option.env !== undefined && fromEnv !== undefined && fromEnv !== '') {
    if (option.repeatable === true) {
      const items = fromEnv.split(',').map((s) => s.trim()).filter((s) => s !== '');
      return Object.freeze(items.map((raw) => parseOne(option, raw, option.env ?? '')));
    }
    return parseOne(option, fromEnv, option.env);
  }
  return option.defaultValue;
}

/** Resolves every option (flag > variable > default) into a frozen object. */
export function resolveConfig<S extends OptionSpecs>(specs: S, parsed: ParsedArgs, env: Env): ConfigOf<S> {
  const result: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(specs)) {
    result[key] = resolveOption(option, parsed.values.get(key), env);
  }
  return Object.freeze(result) as ConfigOf<S>;
}

/** Usage text generated from the same specs, so help never drifts from behaviour. */
export function formatHelp(command: string, summary: string, specs: OptionSpecs, notes: readonly string[] = []): string {
  const lines = [`Usage: anthropic-wif ${command} [flags]`, '', summary, '', 'Flags:'];
  for (const option of Object.values(specs)) {
    const head = `  --${option.flag}${option.valueName === undefined ? '' : ` ${option.valueName}`}`;
    lines.push(head);
    lines.push(`      ${option.description}`);
    const details: string[] = [];
    if (option.env !== undefined) details.push(`env ${option.env}`);
    const defaultLabel = option.defaultLabel ?? describeDefault(option);
    if (defaultLabel !== undefined) details.push(`default ${defaultLabel}`);
    if (option.repeatable === true) details.push('repeatable');
    if (details.length > 0) lines.push(`      (${details.join('; ')})`);
  }
  lines.push('  -h, --help', '      Show this help.');
  if (notes.length > 0) lines.push('', ...notes);
  lines.push('', 'Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.');
  return `${lines.join('\n')}\n`;
}

function describeDefault(option: OptionSpec<unknown>): string | undefined {
  const value = option.defaultValue;
  if (value === undefined || option.isSwitch === true || option.secret === true) return undefined;
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.join(',');
  return typeof value === 'string' ? value : JSON.stringify(value);
}
