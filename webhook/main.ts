/**
 * `anthropic-wif webhook`: the composition root. Parses the flags, wires the cluster access
 * (only when ServiceAccount lookup is on), the certificate reloader, the HTTPS server and the
 * pure core, then serves until SIGTERM: readiness turns false at once, in-flight requests
 * finish, and the process exits 0 within Limit.webhookShutdownMs.
 */
import { Limit } from '../contract/index.ts';
import { systemClock } from '../runtime/clock.ts';
import type { CommandContext } from '../runtime/command.ts';
import { ExitCode } from '../runtime/errors.ts';
import { createLogger, type Logger } from '../runtime/logger.ts';
import { decideNativeSidecar, readKubernetesVersion, watchClusterVersion, type ClusterVersionWatch } from './cluster-version.ts';
import { injectionDefaultsFrom, parseWebhookCommandLine, type WebhookConfig } from './config.ts';
import type { InjectionDefaults } from './types.ts';
import type { KubernetesApi } from './kubernetes.ts';
import { createWebhookMetrics, type WebhookMetrics } from './metrics.ts';
import { reviewPod } from './review.ts';
import { createAdmissionHandler, createWebhookServer, webhookReadiness, type Readiness, type WebhookServer } from './server.ts';
import {
  disabledServiceAccountSource,
  listServiceAccounts,
  readServiceAccount,
  SERVICE_ACCOUNTS_PATH,
  slimServiceAccount,
  startServiceAccountSource,
  type ServiceAccountSource,
} from './service-accounts.ts';
import { startCertificateReloader, tlsMinVersion, type CertificateReloader } from './tls.ts';

/** Time left for the informer and timers after the server has drained. */
const SHUTDOWN_MARGIN_MS = 1_500;

interface ClusterAccess {
  readonly api: KubernetesApi;
  readonly serviceAccounts: ServiceAccountSource;
}

/** Loads the client library only when the cluster is used at all. */
async function connectCluster(config: WebhookConfig, logger: Logger, metrics: WebhookMetrics): Promise<ClusterAccess> {
  const kubernetes = await import('./kubernetes.ts');
  const kubeConfig = kubernetes.loadKubeConfig(config.kubeconfig);
  const api = kubernetes.createKubernetesApi(kubeConfig);
  logger.info({ server: kubeConfig.getCurrentCluster()?.server }, 'using the Kubernetes API server');
  const serviceAccounts = startServiceAccountSource({
    createInformer: (list) => kubernetes.createInformer(kubeConfig, { path: SERVICE_ACCOUNTS_PATH, slim: slimServiceAccount, list }),
    list: (signal) => listServiceAccounts(api, signal),
    read: (namespace, name) => readServiceAccount(api, { namespace, name }, config.serviceAccountLookupTimeout),
    clock: systemClock,
    logger,
    record: (result) => {
      metrics.recordServiceAccountLookup(result);
    },
  });
  return { api, serviceAccounts };
}

interface Running {
  readonly server: WebhookServer;
  readonly certificates: CertificateReloader | undefined;
  readonly versionWatch: ClusterVersionWatch;
  readonly serviceAccounts: ServiceAccountSource;
}

function readinessOf(running: Running | undefined, versionDecided: boolean): Readiness {
  if (running === undefined) return { ready: false, reasons: ['starting'] };
  return webhookReadiness({
    closing: running.server.isClosing(),
    certificateLoaded: running.certificates?.isLoaded() === true,
    layoutDecided: versionDecided,
    serviceAccountsReady: running.serviceAccounts.isReady(),
  });
}

function abortPromise(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    signal.addEventListener('abort', () => {
      resolve();
    }, { once: true });
  });
}

async function shutDown(running: Running, logger: Logger): Promise<void> {
  logger.info({ graceMs: Limit.webhookShutdownMs - SHUTDOWN_MARGIN_MS }, 'shutting down: not ready, draining in-flight requests');
  await running.server.close(Limit.webhookShutdownMs - SHUTDOWN_MARGIN_MS);
  running.certificates?.close();
  running.versionWatch.stop();
  await running.serviceAccounts.close();
  logger.info('stopped');
}

export async function runWebhook(context: CommandContext): Promise<number> {
  const commandLine = parseWebhookCommandLine(context.argv, context.env);
  if (commandLine.kind === 'help') {
    context.stdout.write(commandLine.text);
    return ExitCode.ok;
  }
  const config = commandLine.config;
  const logger = createLogger({ name: 'anthropic-wif-webhook', level: config.logLevel, destination: context.stdout });
  const metrics = createWebhookMetrics();
  const cluster = config.serviceAccountLookup ? await connectCluster(config, logger, metrics) : undefined;
  const serviceAccounts = cluster?.serviceAccounts ?? disabledServiceAccountSource;

  // Until the first /version read answers (readiness waits for it), assume what `auto` assumes.
  const provisional = cluster === undefined ? ({ kind: 'no-cluster' } as const) : ({ kind: 'unreachable', reason: 'not read yet' } as const);
  let defaults: InjectionDefaults = injectionDefaultsFrom(config, decideNativeSidecar(config.nativeSidecar, provisional));
  let versionDecided = false;
  const versionWatch = watchClusterVersion({
    setting: config.nativeSidecar,
    readVersion: cluster === undefined ? undefined : (signal) => readKubernetesVersion(cluster.api, signal),
    recheckIntervalMs: config.versionRecheckInterval * 1000,
    clock: systemClock,
    logger,
    onDecision: (decision) => {
      defaults = injectionDefaultsFrom(config, decision);
    },
  });
  void versionWatch.decided.then(() => {
    versionDecided = true;
  });

  let running: Running | undefined;
  const server = createWebhookServer({
    listen: config.listen,
    minVersion: tlsMinVersion(config.tlsMinVersion),
    maxBodyBytes: config.maxBodyBytes,
    clientAuth: config.clientCaFile === undefined ? undefined : { allowedNames: config.clientAllowedNames },
    handleAdmission: createAdmissionHandler({ reviewPod, serviceAccounts, defaults: () => defaults, metrics, logger }),
    readiness: () => readinessOf(running, versionDecided),
    metrics,
    logger,
  });
  running = { server, certificates: undefined, versionWatch, serviceAccounts };
  try {
    const certificates = await startCertificateReloader({
      files: { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, clientCaFile: config.clientCaFile },
      minVersion: tlsMinVersion(config.tlsMinVersion),
      logger,
      install: (certificate) => {
        server.setCertificate(certificate);
      },
    });
    running = { ...running, certificates };
    const address = await server.listen();
    logger.info({ address: address.address, port: address.port }, 'listening');
  } catch (error) {
    await shutDown(running, logger);
    throw error;
  }
  await abortPromise(context.signal);
  await shutDown(running, logger);
  return ExitCode.ok;
}
