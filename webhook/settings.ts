/**
 * Annotation parsing, validation and precedence: Pod annotation > ServiceAccount annotation
 * > webhook defaults, for every setting. Only the value that takes effect is validated; an
 * invalid one is reported naming the annotation, the value, where it was and what is expected.
 */
import {
  ANNOTATION_PREFIX,
  Annotation,
  IdExpected,
  IdPattern,
  Limit,
  MODES,
  parseSecureUrl,
  SECURE_URL_EXPECTED,
  UNSAFE_URL_CHARACTERS,
  type Mode,
} from '../contract/index.ts';
import type { AnnotationLayer, EffectiveSettings, InjectionDefaults } from './types.ts';

export type SettingsResult =
  | { readonly ok: true; readonly settings: EffectiveSettings }
  | { readonly ok: false; readonly errors: readonly string[]; readonly mode: Mode | undefined };

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly expected: string };
type Parser<T> = (raw: string) => Parsed<T>;

const CONTAINER_NAME = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const MAX_ECHOED_VALUE_LENGTH = 200;

function accept<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

function reject<T>(expected: string): Parsed<T> {
  return { ok: false, expected };
}

function idParser(kind: keyof typeof IdPattern): Parser<string> {
  return (raw) => (IdPattern[kind].test(raw) ? accept(raw) : reject(IdExpected[kind]));
}

export const parseTokenExpiration: Parser<number> = (raw) => {
  const { min, max } = Limit.tokenExpirationSeconds;
  const value = /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  return value >= min && value <= max ? accept(value) : reject(`an integer from ${min} to ${max}`);
};

/** C0, DEL and C1 controls and the Unicode line and paragraph separators: never in an env value, a path or an audience. */
const CONTROL_CHARACTER = /[\p{Cc}\u2028\u2029]/u;

const NO_CONTROL_CHARACTERS = 'no control characters (such as a newline, a tab or NUL)';

export const parseAudience: Parser<string> = (raw) => {
  if (CONTROL_CHARACTER.test(raw)) return reject(NO_CONTROL_CHARACTERS);
  return raw.length > 0 && raw.length <= Limit.audienceMaxLength
    ? accept(raw)
    : reject(`a non-empty string of at most ${Limit.audienceMaxLength} characters`);
};

export const parseMode: Parser<Mode> = (raw) => {
  const mode = MODES.find((candidate) => candidate === raw);
  return mode === undefined ? reject(`one of ${MODES.join(', ')}`) : accept(mode);
};

/** https, or http to a loopback host only (as the SDKs require); no credentials in the URL. */
export const parseBaseUrl: Parser<string> = (raw) => {
  if (UNSAFE_URL_CHARACTERS.test(raw)) return reject(`${SECURE_URL_EXPECTED}, with no spaces, backslashes or control characters`);
  return parseSecureUrl(raw) === undefined ? reject(SECURE_URL_EXPECTED) : accept(raw);
};

/** parseBaseUrl, and with `--allowed-base-urls` set, an origin on that list (the sidecar sends the pod's JWT there). */
export function baseUrlParser(allowedOrigins: readonly string[] | undefined): Parser<string> {
  if (allowedOrigins === undefined) return parseBaseUrl;
  const allowed = new Set(allowedOrigins);
  const expected = `a URL whose origin is one the webhook allows (--allowed-base-urls): ${allowedOrigins.join(', ')}`;
  return (raw) => {
    const url = parseSecureUrl(raw);
    if (url === undefined) return reject(SECURE_URL_EXPECTED);
    return allowed.has(url.origin) ? accept(raw) : reject(expected);
  };
}

/** Comma-separated container names; blanks around names and empty items are ignored. */
export const parseSkipContainers: Parser<readonly string[]> = (raw) => {
  const names = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  return names.every((name) => CONTAINER_NAME.test(name))
    ? accept([...new Set(names)])
    : reject('a comma-separated list of container names (lowercase letters, digits and "-")');
};

/** `"true"` / `"false"` only, for the opt-in annotation and label. */
export const parseInject: Parser<boolean> = (raw) => {
  if (raw === 'true') return accept(true);
  return raw === 'false' ? accept(false) : reject('"true" or "false"');
};

export function invalidValueMessage(what: string, raw: string, where: string, expected: string): string {
  const shown = raw.length > MAX_ECHOED_VALUE_LENGTH ? `${raw.slice(0, MAX_ECHOED_VALUE_LENGTH)}…` : raw;
  return `invalid ${what} ${JSON.stringify(shown)}${where}: expected ${expected}`;
}

/** Errors by annotation key, so a missing id is not reported again when its value was invalid. */
type SettingErrors = Map<string, string>;

/** The first layer that sets `key` decides; an invalid value there is an error, never skipped. */
function resolveAnnotation<T>(layers: readonly AnnotationLayer[], key: string, parse: Parser<T>, errors: SettingErrors): T | undefined {
  const layer = layers.find((candidate) => candidate.annotations[key] !== undefined);
  const raw = layer?.annotations[key];
  if (layer === undefined || raw === undefined) return undefined;
  const parsed = parse(raw);
  if (parsed.ok) return parsed.value;
  errors.set(key, invalidValueMessage(`annotation ${key}`, raw, layer.where, parsed.expected));
  return undefined;
}

interface RequiredId {
  readonly what: string;
  readonly annotation: string;
  readonly flag: string;
  readonly chartValue: string;
}

const REQUIRED_IDS = {
  organizationId: {
    what: 'organization id',
    annotation: Annotation.organizationId,
    flag: 'organization-id',
    chartValue: 'federation.organizationId',
  },
  federationRuleId: {
    what: 'federation rule id',
    annotation: Annotation.federationRuleId,
    flag: 'federation-rule-id',
    chartValue: 'federation.ruleId',
  },
} as const satisfies Record<string, RequiredId>;

/** Reports a missing id; returns whether it was missing. */
function requireId(value: string | undefined, id: RequiredId, errors: SettingErrors): boolean {
  if (value !== undefined || errors.has(id.annotation)) return false;
  errors.set(
    id.annotation,
    `missing ${id.what}: set the annotation ${id.annotation} on the Pod or its ServiceAccount, ` +
      `or the webhook default --${id.flag} (chart value ${id.chartValue})`,
  );
  return true;
}

export interface ResolveOptions {
  /** Added after "missing id" errors, e.g. when the ServiceAccount that may set them could not be read. */
  readonly missingHint?: string;
}

type AnnotatedSettings = { readonly [K in keyof EffectiveSettings]: EffectiveSettings[K] | undefined };

function readAnnotatedSettings(layers: readonly AnnotationLayer[], defaults: InjectionDefaults, errors: SettingErrors): AnnotatedSettings {
  const read = <T>(key: string, parse: Parser<T>): T | undefined => resolveAnnotation(layers, key, parse, errors);
  return {
    organizationId: read(Annotation.organizationId, idParser('organizationId')),
    federationRuleId: read(Annotation.federationRuleId, idParser('federationRuleId')),
    serviceAccountId: read(Annotation.serviceAccountId, idParser('serviceAccountId')),
    workspaceId: read(Annotation.workspaceId, idParser('workspaceId')),
    audience: read(Annotation.audience, parseAudience),
    tokenExpirationSeconds: read(Annotation.tokenExpiration, parseTokenExpiration),
    mode: read(Annotation.mode, parseMode),
    baseUrl: read(Annotation.baseUrl, baseUrlParser(defaults.allowedBaseUrlOrigins)),
    skipContainers: read(Annotation.skipContainers, parseSkipContainers),
  };
}

/** Every setting has a default except the two ids, which must come from somewhere. */
type DefaultedSettings = Omit<EffectiveSettings, 'organizationId' | 'federationRuleId'> & {
  readonly organizationId: string | undefined;
  readonly federationRuleId: string | undefined;
};

function withDefaults(annotated: AnnotatedSettings, defaults: InjectionDefaults): DefaultedSettings {
  return {
    organizationId: annotated.organizationId ?? defaults.organizationId,
    federationRuleId: annotated.federationRuleId ?? defaults.federationRuleId,
    serviceAccountId: annotated.serviceAccountId,
    workspaceId: annotated.workspaceId,
    audience: annotated.audience ?? defaults.audience,
    tokenExpirationSeconds: annotated.tokenExpirationSeconds ?? defaults.tokenExpirationSeconds,
    mode: annotated.mode ?? defaults.mode,
    baseUrl: annotated.baseUrl ?? defaults.baseUrl,
    skipContainers: annotated.skipContainers ?? [],
  };
}

export function resolveSettings(layers: readonly AnnotationLayer[], defaults: InjectionDefaults, options: ResolveOptions = {}): SettingsResult {
  const errors: SettingErrors = new Map();
  const settings = withDefaults(readAnnotatedSettings(layers, defaults, errors), defaults);
  const { organizationId, federationRuleId } = settings;
  const missingOrganization = requireId(organizationId, REQUIRED_IDS.organizationId, errors);
  const missingRule = requireId(federationRuleId, REQUIRED_IDS.federationRuleId, errors);
  if ((missingOrganization || missingRule) && options.missingHint !== undefined) errors.set('', options.missingHint);
  if (organizationId === undefined || federationRuleId === undefined || errors.size > 0) {
    return { ok: false, errors: [...errors.values()], mode: errors.has(Annotation.mode) ? undefined : settings.mode };
  }
  return { ok: true, settings: { ...settings, organizationId, federationRuleId } };
}

const KNOWN_ANNOTATIONS: ReadonlySet<string> = new Set(Object.values(Annotation));

/** Computed once: building it per admission was measurable. */
const KNOWN_SETTINGS = [...KNOWN_ANNOTATIONS]
  .filter((key) => key !== Annotation.status)
  .map((key) => key.slice(ANNOTATION_PREFIX.length))
  .join(', ');

/** An annotation with this project's prefix that means nothing is most likely a typo. */
export function unknownAnnotationWarnings(layer: AnnotationLayer): string[] {
  return Object.keys(layer.annotations)
    .filter((key) => key.startsWith(ANNOTATION_PREFIX) && !KNOWN_ANNOTATIONS.has(key))
    .map((key) => `unknown annotation ${key}${layer.where} ignored (known: ${KNOWN_SETTINGS})`);
}
