/**
 * How audit learns what the webhook would inject today: from the webhook's Deployment as it
 * is deployed. The chart passes every default as a `--flag=value` argument (and `webhook.env`
 * as variables), so the webhook's own flag specs and parser read them here exactly as the
 * webhook reads them at start, and `--native-sidecar auto` is decided from the API server's
 * version as the webhook decides it.
 */
import { describeError } from '../runtime/errors.ts';
import { nameRecord } from '../runtime/json.ts';
import { parseArgv, resolveConfig } from '../runtime/config.ts';
import { decideNativeSidecar, type VersionObservation } from '../webhook/cluster-version.ts';
import { injectionDefaultsFrom, WEBHOOK_COMMAND, webhookOptions } from '../webhook/config.ts';
import { objectField, objectsField, stringField, type JsonObject } from '../webhook/json.ts';
import type { InjectionDefaults } from '../webhook/types.ts';

export type WebhookDefaults =
  | {
      readonly kind: 'read';
      readonly defaults: InjectionDefaults;
      /** `--service-account-lookup=false`: the webhook does not consult ServiceAccount annotations. */
      readonly serviceAccountLookup: boolean;
      readonly source: string;
    }
  | { readonly kind: 'invalid'; readonly reason: string; readonly source: string };

const KNOWN_ENV: ReadonlySet<string> = new Set(Object.values(webhookOptions).flatMap((spec) => (spec.env === undefined ? [] : [spec.env])));

/** The container running `anthropic-wif webhook` (its first argument), else the one named like the command. */
function webhookContainer(podSpec: JsonObject): JsonObject | undefined {
  const containers = objectsField(podSpec, 'containers');
  const argsOf = (c: JsonObject): string[] => [...objectsFieldStrings(c, 'command'), ...objectsFieldStrings(c, 'args')];
  return containers.find((c) => argsOf(c).includes(WEBHOOK_COMMAND)) ?? containers.find((c) => stringField(c, 'name') === WEBHOOK_COMMAND);
}

function objectsFieldStrings(container: JsonObject, key: string): string[] {
  const value = container[key];
  return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
}

/** The arguments after the `webhook` subcommand (the image's entrypoint is the CLI). */
function webhookArgv(container: JsonObject): string[] {
  const all = [...objectsFieldStrings(container, 'command'), ...objectsFieldStrings(container, 'args')];
  const at = all.indexOf(WEBHOOK_COMMAND);
  return at === -1 ? all.filter((arg) => arg.startsWith('--')) : all.slice(at + 1);
}

/** Literal values of the webhook's own variables only (a valueFrom cannot be resolved here). */
function webhookEnv(container: JsonObject): Record<string, string> {
  return nameRecord(
    objectsField(container, 'env').flatMap((entry): [string, string][] => {
      const name = stringField(entry, 'name');
      const value = stringField(entry, 'value');
      return name !== undefined && value !== undefined && KNOWN_ENV.has(name) ? [[name, value]] : [];
    }),
  );
}

export function deploymentLabel(deployment: JsonObject): string {
  const metadata = objectField(deployment, 'metadata');
  return `Deployment ${stringField(metadata, 'namespace') ?? ''}/${stringField(metadata, 'name') ?? ''}`;
}

/** The defaults the webhook Deployment runs with; `version` is what /version gave (for `auto`). */
export function defaultsFromDeployment(deployment: JsonObject, version: VersionObservation): WebhookDefaults {
  const source = deploymentLabel(deployment);
  const podSpec = objectField(objectField(objectField(deployment, 'spec'), 'template'), 'spec');
  const container = podSpec === undefined ? undefined : webhookContainer(podSpec);
  if (container === undefined) return { kind: 'invalid', reason: `no container runs \`${WEBHOOK_COMMAND}\``, source };
  try {
    const options = resolveConfig(webhookOptions, parseArgv(webhookOptions, webhookArgv(container), WEBHOOK_COMMAND), webhookEnv(container));
    const nativeSidecar = decideNativeSidecar(options.nativeSidecar, options.serviceAccountLookup ? version : { kind: 'no-cluster' });
    const defaults = injectionDefaultsFrom({ ...options, tlsCertFile: '', tlsKeyFile: '' }, nativeSidecar);
    return { kind: 'read', defaults, serviceAccountLookup: options.serviceAccountLookup, source };
  } catch (error) {
    return { kind: 'invalid', reason: describeError(error), source };
  }
}
