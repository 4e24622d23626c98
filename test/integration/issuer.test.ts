/**
 * The real `anthropic-wif issuer` against a tiny HTTPS server on 127.0.0.1 posing as the
 * API server (serving the recorded discovery document and JWKS to a bearer token), reached
 * through a kubeconfig written to a temporary directory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.ts';
import { createTestCa, issueServingCertificate, type TestCa } from '../support/tls.ts';

const KUBE_TOKEN = 'kube-token-for-issuer-tests';

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/issuer/${name}`, import.meta.url), 'utf8');
}

interface FakeApiServer {
  readonly url: string;
  readonly seen: { path: string; authorization: string | undefined }[];
  cluster: 'eks' | 'private' | 'forbidden';
  readonly server: Server;
}

let dir: string;
let ca: TestCa;
let api: FakeApiServer;

async function startFakeApiServer(): Promise<FakeApiServer> {
  const certificate = await issueServingCertificate(ca, { serial: 7n });
  const seen: FakeApiServer['seen'] = [];
  const state = { cluster: 'eks' as FakeApiServer['cluster'] };
  const server = createServer({ cert: certificate.certPem, key: certificate.keyPem }, (req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
    const file = { '/.well-known/openid-configuration': 'openid-configuration.json', '/openid/v1/jwks': 'jwks.json' }[req.url ?? ''];
    if (req.headers.authorization !== `Bearer ${KUBE_TOKEN}` || state.cluster === 'forbidden') {
      res.writeHead(403, { 'content-type': 'application/json' }).end('{"kind":"Status","code":403}');
    } else if (file === undefined) {
      res.writeHead(404).end();
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end(fixture(`${state.cluster}/${file}`));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return Object.assign(state, { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server });
}

async function writeKubeconfig(name: string, server: string, token = KUBE_TOKEN): Promise<string> {
  const path = join(dir, name);
  const caData = Buffer.from(ca.certPem).toString('base64');
  await writeFile(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: other',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority-data: ${caData}`,
      '- name: elsewhere',
      '  cluster:',
      '    server: https://127.0.0.1:1',
      `    certificate-authority-data: ${caData}`,
      'users:',
      '- name: tester',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: test',
      '  context: {cluster: test, user: tester}',
      '- name: other',
      '  context: {cluster: elsewhere, user: tester}',
      '',
    ].join('\n'),
  );
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'issuer-'));
  ca = await createTestCa(join(dir, 'ca'));
  api = await startFakeApiServer();
});

afterAll(async () => {
  api.server.closeAllConnections();
  await new Promise<void>((resolve) => api.server.close(() => { resolve(); }));
  await rm(dir, { recursive: true, force: true });
});

describe('anthropic-wif issuer (real command)', () => {
  it('reads an EKS-style public issuer through --kubeconfig and prints the rule subject for a namespace/ServiceAccount', async () => {
    api.cluster = 'eks';
    api.seen.length = 0;
    const kubeconfig = await writeKubeconfig('eks.yaml', api.url);

    const result = await runCli(['issuer', '--kubeconfig', kubeconfig, '--context', 'test', '--namespace', 'team-a', '--service-account', 'summarizer']);

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Cluster API server: ${api.url}\n`);
    expect(result.stdout).toContain('Service-account issuer: https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE\n');
    expect(result.stdout).toContain('  JWKS:        by discovery\n');
    expect(result.stdout).toContain('  Subject:   system:serviceaccount:team-a:summarizer  (exact)\n');
    expect(result.stdout).toContain('  Audience:  https://api.anthropic.com  (always match');
    expect(api.seen).toEqual([
      { path: '/.well-known/openid-configuration', authorization: `Bearer ${KUBE_TOKEN}` },
      { path: '/openid/v1/jwks', authorization: `Bearer ${KUBE_TOKEN}` },
    ]);
    expect(result.stdout).not.toContain(KUBE_TOKEN);
  });

  it('reads a private issuer through KUBECONFIG and prints the inline JWKS as JSON', async () => {
    api.cluster = 'private';
    const kubeconfig = await writeKubeconfig('private.yaml', api.url);

    const result = await runCli(['issuer', '--json', '--context', 'test', '--namespace', 'default', '--audience', 'https://claude.example.com'], {
      env: { KUBECONFIG: kubeconfig },
    });

    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      apiServer: api.url,
      issuer: 'https://kubernetes.default.svc.cluster.local',
      jwksSource: 'inline',
      reachability: { looksPublic: false },
      rule: { namespaceSubjectPrefix: 'system:serviceaccount:default:*', audience: 'https://claude.example.com' },
    });
    expect(report.jwks).toEqual(JSON.parse(fixture('private/jwks.json')));
  });

  it('a 403 from the API server: exit 1 with the RBAC hint', async () => {
    api.cluster = 'eks';
    const kubeconfig = await writeKubeconfig('wrong-token.yaml', api.url, 'not-the-token');

    const result = await runCli(['issuer', '--kubeconfig', kubeconfig, '--context', 'test']);

    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'anthropic-wif issuer: the API server answered 403 for /.well-known/openid-configuration: these credentials may not read service-account issuer discovery (ClusterRole system:service-account-issuer-discovery)\n',
    );
    expect(result.stderr).not.toContain('not-the-token');
  });

  it('an unreachable API server: exit 1', async () => {
    const kubeconfig = await writeKubeconfig('unreachable.yaml', api.url);
    const result = await runCli(['issuer', '--kubeconfig', kubeconfig]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^anthropic-wif issuer: cannot reach the API server at https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
  });

  it.each([
    { args: ['--namespace', 'Bad_NS'], stderr: 'anthropic-wif issuer: invalid --namespace "Bad_NS": expected a Kubernetes namespace name (lower-case letters, digits and "-", at most 63)\n' },
    { args: ['--context', 'nope'], stderr: 'anthropic-wif issuer: invalid --context "nope": no such context in the kubeconfig\n' },
  ])('usage errors exit 2: $args', async ({ args, stderr }) => {
    const kubeconfig = await writeKubeconfig('usage.yaml', api.url);
    const result = await runCli(['issuer', '--kubeconfig', kubeconfig, ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(stderr);
  });
});
