/**
 * The webhook step: a throwaway CA and serving certificate (openssl), the real
 * `anthropic-wif webhook` on 127.0.0.1 with the flags a chart install would give it (no
 * cluster: `--service-account-lookup=false`), and the example pod's admission, shown as a
 * summary and a unified diff of the pod's YAML before and after.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { startCli, type CliProcess } from '../test/support/cli.ts';
import { createSecretVolume, createTestCa, issueServingCertificate } from '../test/support/tls.ts';
import { admissionOutcome, podCreationReview, postAdmissionReview } from './admission-client.ts';
import { EXAMPLE_DEPLOYMENT_PATH, type ExamplePod, type JsonObject } from './example-pod.ts';
import type { Narrator } from './narrator.ts';
import { summarizeInjection } from './pod-view.ts';
import { DEMO_FEDERATION_RULE_ID, DEMO_ORGANIZATION_ID } from './stand-ins.ts';
import { unifiedDiff } from './unified-diff.ts';

const WEBHOOK_START_TIMEOUT_MS = 20_000;

export interface AdmittedPod {
  readonly webhook: CliProcess;
  /** The pod as kube-apiserver would store it (the webhook's patch applied). */
  readonly pod: JsonObject;
}

/** Fails with a clear message when openssl is missing (the webhook's certificate needs it). */
export async function requireOpenssl(): Promise<void> {
  try {
    await promisify(execFile)('openssl', ['version']);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(missing ? 'openssl is not on PATH: the demo needs it to make the throwaway CA for the webhook\'s TLS (apt-get install openssl)' : `openssl does not run: ${String(error)}`, { cause: error });
  }
}

export function podYaml(pod: JsonObject): string {
  return stringify(pod, { lineWidth: 0, blockQuote: 'literal' });
}

function webhookArgs(certFile: string, keyFile: string, apiUrl: string): string[] {
  return [
    'webhook',
    '--listen=127.0.0.1:0',
    `--tls-cert-file=${certFile}`,
    `--tls-key-file=${keyFile}`,
    '--service-account-lookup=false',
    '--native-sidecar=true',
    `--organization-id=${DEMO_ORGANIZATION_ID}`,
    `--federation-rule-id=${DEMO_FEDERATION_RULE_ID}`,
    `--base-url=${apiUrl}`,
  ];
}

async function startWebhook(workDir: string, apiUrl: string, narrator: Narrator): Promise<{ readonly webhook: CliProcess; readonly port: number; readonly caPem: string }> {
  const ca = await createTestCa(join(workDir, 'webhook-ca'));
  const certificate = await issueServingCertificate(ca, { serial: 1n });
  const certs = await createSecretVolume(join(workDir, 'webhook-certs'), { 'tls.crt': certificate.certPem, 'tls.key': certificate.keyPem });
  narrator.say('made a throwaway CA and a serving certificate for 127.0.0.1 (openssl)');
  const args = webhookArgs(certs.path('tls.crt'), certs.path('tls.key'), apiUrl);
  const webhook = startCli(args);
  const { port } = await webhook.waitForListening(WEBHOOK_START_TIMEOUT_MS);
  narrator.say(`started the real webhook on https://127.0.0.1:${String(port)}, with the defaults a chart install would set:`);
  const shown = args.map((arg) => arg.replace(workDir, '<demo dir>'));
  narrator.details([`anthropic-wif ${shown[0] ?? ''} \\`, ...shown.slice(1).map((arg, i) => `  ${arg}${i < shown.length - 2 ? ' \\' : ''}`)]);
  return { webhook, port, caPem: ca.certPem };
}

export async function admitExamplePod(example: ExamplePod, options: { readonly workDir: string; readonly apiUrl: string; readonly narrator: Narrator }): Promise<AdmittedPod> {
  const { narrator } = options;
  const { webhook, port, caPem } = await startWebhook(options.workDir, options.apiUrl, narrator);
  try {
    const uid = '7c0ffee0-0000-4000-8000-00000000de70';
    narrator.say(`POST /mutate: an AdmissionReview creating pod ${example.namespace}/${example.podName}, the pod template of ${EXAMPLE_DEPLOYMENT_PATH}`);
    const answer = await postAdmissionReview(port, caPem, podCreationReview(example.pod, { uid, namespace: example.namespace }));
    const outcome = admissionOutcome(example.pod, uid, answer);
    if (!outcome.allowed) throw new Error(`the webhook denied the example pod: ${outcome.message ?? '(no message)'}`);
    narrator.good(`allowed, with a JSONPatch of ${String(outcome.operations.length)} operations${outcome.warnings.length === 0 ? ' and no warnings' : ''}:`);
    for (const warning of outcome.warnings) narrator.warn(`admission warning: ${warning}`);
    narrator.details(summarizeInjection(example.pod, outcome.patched));
    narrator.say('the pod before and after admission:');
    narrator.diff(unifiedDiff(podYaml(example.pod), podYaml(outcome.patched), { fromLabel: `${example.podName} (from ${EXAMPLE_DEPLOYMENT_PATH})`, toLabel: `${example.podName} (as stored, after the webhook)` }));
    return { webhook, pod: outcome.patched };
  } catch (error) {
    await webhook.stop(5_000);
    throw error;
  }
}
