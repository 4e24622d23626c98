/**
 * A real kube-apiserver (built from Debian's kubernetes source, v1.20.2) and Debian's etcd,
 * both on loopback, envtest style: no scheduler, no kubelet, no controllers. Pods are stored,
 * never run. Everything started here is stopped by pid.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const CACHE_DIR = process.env.ANTHROPIC_WIF_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'anthropic-workload-identity');
export const KUBE_APISERVER = join(CACHE_DIR, 'bin', 'kube-apiserver');
const BUILD_SCRIPT = new URL('../setup/build-kube-apiserver.sh', import.meta.url).pathname;

export interface ClusterPki {
  readonly caCert: string;
  readonly caKey: string;
  readonly adminCert: string;
  readonly adminKey: string;
}

export interface Cluster {
  readonly dir: string;
  readonly server: string;
  readonly issuer: string;
  readonly kubeconfig: string;
  readonly pki: ClusterPki;
  stop(): Promise<void>;
}

/** Builds kube-apiserver once (cached outside the repo); installs etcd and openssl when missing. */
export async function ensureKubeApiserver(): Promise<void> {
  await run('bash', [BUILD_SCRIPT], { maxBuffer: 16 * 1024 * 1024, timeout: 30 * 60_000 });
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

async function generatePki(dir: string): Promise<ClusterPki & { serverCert: string; serverKey: string; saKey: string; saPub: string }> {
  await openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=e2e-cluster-ca']);
  await writeFile(
    join(dir, 'ext.cnf'),
    [
      '[server]',
      'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes.default.svc',
      'extendedKeyUsage=serverAuth',
      'keyUsage=digitalSignature,keyEncipherment',
      '[client]',
      'extendedKeyUsage=clientAuth',
      'keyUsage=digitalSignature,keyEncipherment',
      '',
    ].join('\n'),
  );
  const issue = async (name: string, subject: string, ext: string): Promise<void> => {
    await openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', 'ext.cnf', '-extensions', ext]);
  };
  await issue('apiserver', '/CN=kube-apiserver', 'server');
  await issue('admin', '/CN=e2e-admin/O=system:masters', 'client');
  await openssl(dir, ['genrsa', '-out', 'sa.key', '2048']);
  await openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
  const p = (f: string): string => join(dir, f);
  return {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    serverCert: p('apiserver.crt'),
    serverKey: p('apiserver.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
  };
}

async function startProcess(command: string, args: string[], logPath: string): Promise<ChildProcess> {
  const log = await open(logPath, 'a');
  const child = spawn(command, args, { stdio: ['ignore', log.fd, log.fd] });
  child.once('exit', () => void log.close());
  await once(child, 'spawn');
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

interface ClientPems {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

function getStatus(url: string, pems: ClientPems): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { ...pems, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => {
      resolve(0);
    });
    req.on('timeout', () => {
      req.destroy();
    });
    req.end();
  });
}

async function waitReady(server: string, pki: ClusterPki, apiserver: ChildProcess, logPath: string): Promise<void> {
  const pems = { ca: await readFile(pki.caCert), cert: await readFile(pki.adminCert), key: await readFile(pki.adminKey) };
  for (let i = 0; i < 600; i++) {
    if (apiserver.exitCode !== null) throw new Error(`kube-apiserver exited with ${apiserver.exitCode}; see ${logPath}`);
    if ((await getStatus(`${server}/readyz`, pems)) === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`kube-apiserver not ready after 60 s; see ${logPath}`);
}

export function kubeconfigYaml(server: string, caCert: string, user: { clientCert: string; clientKey: string } | { token: string }): string {
  const userYaml =
    'token' in user ? `    token: ${user.token}` : `    client-certificate: ${user.clientCert}\n    client-key: ${user.clientKey}`;
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: e2e',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${caCert}`,
    'users:',
    '- name: e2e-user',
    '  user:',
    userYaml,
    'contexts:',
    '- name: e2e',
    '  context: {cluster: e2e, user: e2e-user}',
    'current-context: e2e',
    '',
  ].join('\n');
}

/** Starts etcd and kube-apiserver on loopback ports and writes an admin kubeconfig. */
export async function startCluster(dir: string): Promise<Cluster> {
  await mkdir(dir, { recursive: true });
  const pki = await generatePki(dir);
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdClient}`;
  const peerUrl = `http://127.0.0.1:${etcdPeer}`;
  const started: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const child of started.reverse()) await stopProcess(child);
  };
  try {
    started.push(
      await startProcess('etcd', [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        '--unsafe-no-fsync',
      ], join(dir, 'etcd.log')),
    );
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserverLog = join(dir, 'kube-apiserver.log');
    const apiserver = await startProcess(KUBE_APISERVER, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      '--insecure-port=0',
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      `--api-audiences=${server}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      // No controller-manager here: nothing would create the legacy token Secrets this plugin waits for.
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true',
    ], apiserverLog);
    started.push(apiserver);
    await waitReady(server, pki, apiserver, apiserverLog);
    const kubeconfig = join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfig, kubeconfigYaml(server, pki.caCert, { clientCert: pki.adminCert, clientKey: pki.adminKey }));
    return { dir, server, issuer: server, kubeconfig, pki, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
