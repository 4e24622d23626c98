/**
 * issuer's pure half against recorded discovery documents and JWKS: an EKS-style public
 * issuer and a private (kubeadm-style) `https://kubernetes.default.svc.cluster.local` one.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { chooseKubeconfigSource } from '../../issuer/issuer.ts';
import {
  assessIssuerReachability,
  buildIssuerReport,
  checkRuleTarget,
  formatIssuerText,
  parseDiscoveryDocument,
  parseJwks,
  type IssuerReport,
} from '../../issuer/issuer-report.ts';
import { ConfigError, WifError } from '../../runtime/errors.ts';

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/issuer/${name}`, import.meta.url), 'utf8');
}

function report(cluster: 'eks' | 'private', target: { namespace?: string; serviceAccount?: string; audience?: string } = {}): IssuerReport {
  return buildIssuerReport({
    apiServer: 'https://127.0.0.1:6443',
    discovery: parseDiscoveryDocument(fixture(`${cluster}/openid-configuration.json`), 'discovery'),
    jwks: parseJwks(fixture(`${cluster}/jwks.json`), 'jwks'),
    target: { audience: 'https://api.anthropic.com', ...target },
  });
}

const EKS_ISSUER = 'https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';

describe('assessIssuerReachability', () => {
  it.each([
    { issuer: EKS_ISSUER, reasons: [] },
    { issuer: 'https://container.googleapis.com/v1/projects/p/locations/us-central1/clusters/c', reasons: [] },
    { issuer: 'https://eastus.oic.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/11111111-1111-1111-1111-111111111111/', reasons: [] },
    { issuer: 'https://issuer.example.com:443', reasons: [] },
    { issuer: 'https://kubernetes.default.svc.cluster.local', reasons: ['kubernetes.default.svc.cluster.local is a cluster- or network-internal name (.local)'] },
    { issuer: 'https://kubernetes.default.svc', reasons: ['kubernetes.default.svc is a cluster- or network-internal name (.svc)'] },
    { issuer: 'https://kubernetes', reasons: ['kubernetes is not a fully qualified public name'] },
    { issuer: 'https://10.0.0.1:6443', reasons: ['it uses port 6443, not 443', '10.0.0.1 is a private IP address'] },
    { issuer: 'https://172.31.0.9', reasons: ['172.31.0.9 is a private IP address'] },
    { issuer: 'https://203.0.113.7', reasons: ['203.0.113.7 is an IP address, not a DNS name'] },
    { issuer: 'https://[::1]', reasons: ['::1 is an IP address, not a DNS name'] },
    { issuer: 'http://issuer.example.com', reasons: ['it uses http, not https'] },
    { issuer: 'https://ip-10-0-0-1.ec2.internal', reasons: ['ip-10-0-0-1.ec2.internal is a cluster- or network-internal name (.internal)'] },
  ])('$issuer → $reasons', ({ issuer, reasons }) => {
    expect(assessIssuerReachability(issuer)).toEqual({ looksPublic: reasons.length === 0, reasons });
  });
});

describe('buildIssuerReport', () => {
  it('a public (EKS-style) issuer: JWKS by discovery, even though the API server names an internal jwks_uri', () => {
    const r = report('eks', { namespace: 'team-a', serviceAccount: 'summarizer' });
    expect(r).toMatchObject({
      issuer: EKS_ISSUER,
      jwksUri: 'https://ip-192-168-84-162.us-west-2.compute.internal:443/openid/v1/jwks',
      reachability: { looksPublic: true, reasons: [] },
      jwksSource: 'discovery',
      rule: { subject: 'system:serviceaccount:team-a:summarizer', namespaceSubjectPrefix: 'system:serviceaccount:team-a:*', audience: 'https://api.anthropic.com' },
    });
    const jwks = JSON.parse(fixture('eks/jwks.json')) as { keys: { kid: string }[] };
    expect(r.keys).toEqual([{ kid: jwks.keys[0]!.kid, kty: 'RSA', alg: 'RS256' }]);
  });

  it('a private issuer: the JWKS to paste inline is exactly what the cluster serves', () => {
    const r = report('private', { namespace: 'default' });
    expect(r.reachability).toEqual({ looksPublic: false, reasons: ['kubernetes.default.svc.cluster.local is a cluster- or network-internal name (.local)'] });
    expect(r.jwksSource).toBe('inline');
    expect(r.jwks).toEqual(JSON.parse(fixture('private/jwks.json')));
    expect(r.rule).toEqual({ subject: undefined, namespaceSubjectPrefix: 'system:serviceaccount:default:*', audience: 'https://api.anthropic.com' });
  });

  it('prints the rule subject and audience for a namespace/ServiceAccount', () => {
    const text = formatIssuerText(report('eks', { namespace: 'team-a', serviceAccount: 'summarizer' }));
    expect(text).toContain('  Subject:   system:serviceaccount:team-a:summarizer  (exact)\n');
    expect(text).toContain('  Or, for every ServiceAccount in the namespace: system:serviceaccount:team-a:*  (prefix)\n');
    expect(text).toContain("  Audience:  https://api.anthropic.com  (always match the audience: without it the rule also accepts the cluster's ordinary tokens)\n");
    expect(text).not.toContain('anthropic.workload.identity/audience');
  });

  it('prints the whole report for a public issuer', () => {
    const kid = (JSON.parse(fixture('eks/jwks.json')) as { keys: { kid: string }[] }).keys[0]!.kid;
    expect(formatIssuerText(report('eks', { namespace: 'team-a', serviceAccount: 'summarizer' }))).toBe(
      [
        'Cluster API server: https://127.0.0.1:6443',
        `Service-account issuer: ${EKS_ISSUER}`,
        '  Looks publicly reachable (https on 443 with a public DNS name), so the Console can fetch',
        `  ${EKS_ISSUER}/.well-known/openid-configuration and the keys it names itself.`,
        '',
        'Signing keys the cluster publishes (1):',
        `  kid ${kid}  RSA RS256`,
        '',
        'Register in the Anthropic Console (Workload identity federation, Issuers):',
        `  Issuer URL:  ${EKS_ISSUER}`,
        '  JWKS:        by discovery',
        '',
        'Federation rule for this issuer:',
        '  Subject:   system:serviceaccount:team-a:summarizer  (exact)',
        '  Or, for every ServiceAccount in the namespace: system:serviceaccount:team-a:*  (prefix)',
        "  Audience:  https://api.anthropic.com  (always match the audience: without it the rule also accepts the cluster's ordinary tokens)",
        '',
        'Then annotate the ServiceAccount (or pod) with anthropic.workload.identity/federation-rule-id: <the rule\'s fdrl_ id>',
        'and anthropic.workload.identity/organization-id: <your organization id>, and opt in with anthropic.workload.identity/inject: "true".',
        '',
      ].join('\n'),
    );
  });

  it('prints the inline JWKS for a private issuer, with the rotation caveat', () => {
    const text = formatIssuerText(report('private'));
    expect(text).toContain('  Not reachable from the internet: kubernetes.default.svc.cluster.local is a cluster- or network-internal name (.local).\n');
    expect(text).toContain(`  JWKS:        inline; paste this JSON Web Key Set:\n\n${JSON.stringify(JSON.parse(fixture('private/jwks.json')), null, 2)}\n`);
    expect(text).toContain('  Paste it again whenever the cluster rotates its service-account signing key\n');
    expect(text).toContain('  Subject:   system:serviceaccount:<namespace>:<service-account>  (pass --namespace and --service-account)\n');
  });

  it('reminds to set the audience annotation when the audience is not the default', () => {
    const text = formatIssuerText(report('eks', { namespace: 'a', serviceAccount: 'b', audience: 'https://claude.example.com' }));
    expect(text).toContain('  Audience:  https://claude.example.com  (always match');
    expect(text).toContain('The audience is not the default: also set anthropic.workload.identity/audience: https://claude.example.com.\n');
  });
});

describe('parsing what the API server returned', () => {
  it.each([
    { text: 'not json', want: 'discovery is not JSON' },
    { text: '{}', want: 'discovery has no "issuer" URL' },
    { text: '{"issuer":"not a url"}', want: 'discovery has no "issuer" URL' },
  ])('discovery $text → $want', ({ text, want }) => {
    expect(() => parseDiscoveryDocument(text, 'discovery')).toThrow(new WifError('issuer-invalid', want));
  });

  it.each([
    { text: '[]', want: 'jwks is not a JSON Web Key Set with at least one key' },
    { text: '{"keys":[]}', want: 'jwks is not a JSON Web Key Set with at least one key' },
    { text: '{"keys":[{"kid":"x"}]}', want: 'jwks is not a JSON Web Key Set with at least one key' },
  ])('jwks $text → $want', ({ text, want }) => {
    expect(() => parseJwks(text, 'jwks')).toThrow(new WifError('issuer-invalid', want));
  });
});

describe('checkRuleTarget', () => {
  it.each([
    { target: { namespace: 'Team_A' }, message: 'invalid --namespace "Team_A": expected a Kubernetes namespace name (lower-case letters, digits and "-", at most 63)' },
    { target: { namespace: 'a', serviceAccount: 'x:y' }, message: 'invalid --service-account "x:y": expected a Kubernetes ServiceAccount name (lower-case letters, digits, "-" and ".")' },
    { target: { serviceAccount: 'sa' }, message: '--service-account needs --namespace: the rule subject is system:serviceaccount:<namespace>:<name>' },
  ])('$target → exit 2: $message', ({ target, message }) => {
    expect(() => {
      checkRuleTarget({ audience: 'https://api.anthropic.com', ...target });
    }).toThrow(new ConfigError(message));
  });

  it('accepts valid names', () => {
    expect(() => {
      checkRuleTarget({ namespace: 'team-a', serviceAccount: 'summarizer.v2', audience: 'x' });
    }).not.toThrow();
  });
});

describe('chooseKubeconfigSource', () => {
  const exists = (paths: string[]) => (path: string) => paths.includes(path);
  it.each([
    { flag: '/k', env: { KUBECONFIG: '/a' }, present: [], want: { kind: 'files', files: ['/k'], from: '--kubeconfig' } },
    { flag: undefined, env: { KUBECONFIG: '/a::/b' }, present: [], want: { kind: 'files', files: ['/a', '/b'], from: 'KUBECONFIG' } },
    { flag: undefined, env: { HOME: '/h' }, present: ['/h/.kube/config'], want: { kind: 'files', files: ['/h/.kube/config'], from: '~/.kube/config' } },
    {
      flag: undefined,
      env: { HOME: '/h', KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
      present: ['/var/run/secrets/kubernetes.io/serviceaccount/token'],
      want: { kind: 'in-cluster', host: '10.96.0.1', port: '443' },
    },
  ])('$flag / $env → $want', ({ flag, env, present, want }) => {
    expect(chooseKubeconfigSource(flag, env, exists(present))).toEqual(want);
  });

  it('no kubeconfig anywhere is a usage error', () => {
    expect(() => chooseKubeconfigSource(undefined, { HOME: '/h' }, exists([]))).toThrow(
      new ConfigError('no kubeconfig: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run inside a cluster'),
    );
  });
});
