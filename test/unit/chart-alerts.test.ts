/**
 * The chart's PrometheusRule: the file it renders passes `promtool check rules`, and
 * `promtool test rules` runs test/fixtures/prometheus/alerts.test.yaml on it (synthetic
 * series: each alert fires in one case and stays quiet in another). Also what values change,
 * that each runbook link is a real README anchor, and that every metric an alert reads is one
 * the project documents (or one of the few external series named here).
 *
 * promtool is Debian's `prometheus` package (.ci/run installs it); without it these tests
 * fail, naming the package, rather than skip.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ContainerName } from '../../contract/index.ts';
import { findObject, manifestErrors, parseManifests } from '../support/chart.ts';
import type { KubeObject } from '../support/chart.ts';
import { REPO_ROOT, renderChart } from '../support/k8s-tools.ts';
import { documentedMetricNames, headingAnchor, headingAnchors, metricNamesInPromQL, seriesNamesOf } from '../support/promql.ts';

const ORG = '00000000-0000-4000-8000-000000000000';
const NAMESPACE = 'anthropic-workload-identity';
const FULLNAME = 'awi-anthropic-workload-identity';
const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'prometheus', 'alerts.test.yaml');
const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const RUNBOOK_PAGE = 'https://github.com/anthropic-workload-identity/anthropic-workload-identity/blob/main/README.md';

/** Series the alerts read that the Kubernetes API server and Prometheus export, not this project. */
const EXTERNAL_SERIES = ['apiserver_admission_webhook_fail_open_count', 'apiserver_admission_webhook_rejection_count', 'up'];

const ALERTS = [
  'AnthropicWIFExchangesFailing',
  'AnthropicWIFNoValidToken',
  'AnthropicWIFTokenUnderSDKWindow',
  'AnthropicWIFRotationGap',
  'AnthropicWIFWebhookErrors',
  'AnthropicWIFWebhookSlow',
  'AnthropicWIFWebhookUnreachable',
  'AnthropicWIFWebhookDown',
];

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface RuleGroups {
  groups: { name: string; rules: Rule[] }[];
}

function render(monitoring: Record<string, unknown>, extra: Record<string, unknown> = {}): KubeObject[] {
  return parseManifests(
    renderChart({
      values: {
        federation: { organizationId: ORG },
        certificates: { mode: 'provided', provided: { caBundle: 'Q0E=' } },
        serviceMonitor: { enabled: true },
        ...extra,
        monitoring: { prometheusRule: { enabled: true, ...monitoring } },
      },
      showOnly: ['templates/prometheusrule.yaml'],
    }),
  );
}

function groupsOf(objects: readonly KubeObject[]): RuleGroups {
  return findObject(objects, 'PrometheusRule').spec as RuleGroups;
}

function rulesOf(objects: readonly KubeObject[]): Rule[] {
  return groupsOf(objects).groups.flatMap((g) => g.rules);
}

function ruleNamed(objects: readonly KubeObject[], alert: string): Rule {
  const rule = rulesOf(objects).find((r) => r.alert === alert);
  if (rule === undefined) throw new Error(`no rule ${alert}`);
  return rule;
}

function promtoolMissing(): string | undefined {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'pipe' });
    return undefined;
  } catch {
    return 'promtool is not installed: apt-get install -y prometheus (Debian\'s package ships /usr/bin/promtool; .ci/run installs it)';
  }
}

interface PromtoolRun {
  readonly status: number | null;
  readonly output: string;
}

/** Writes the rendered groups as the rule file the fixture names, beside a copy of the fixture, and runs promtool there. */
function promtool(dir: string, groups: RuleGroups, args: readonly string[]): PromtoolRun {
  const missing = promtoolMissing();
  if (missing !== undefined) throw new Error(missing);
  writeFileSync(join(dir, 'prometheusrule.rules.yaml'), stringify(groups));
  copyFileSync(FIXTURE, join(dir, 'alerts.test.yaml'));
  const result = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

let workDir: string;
beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'awi-alerts-'));
});
afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('the rendered PrometheusRule under promtool', () => {
  it('is installed (Debian package prometheus)', () => {
    expect(promtoolMissing()).toBeUndefined();
  });

  it('passes `promtool check rules`: eight alerts', () => {
    const run = promtool(workDir, groupsOf(render({})), ['check', 'rules', 'prometheusrule.rules.yaml']);
    expect(run.output).toContain('SUCCESS: 8 rules found');
    expect(run.status).toBe(0);
  });

  it('passes `promtool test rules` on the fixture\'s synthetic series', () => {
    const run = promtool(workDir, groupsOf(render({})), ['test', 'rules', 'alerts.test.yaml']);
    expect(run.output).toContain('SUCCESS');
    expect(run.output).not.toContain('FAILED');
    expect(run.status).toBe(0);
  });

  it('fails `promtool test rules` when an alert changes (the fixture is exact): a 10m for on AnthropicWIFNoValidToken', () => {
    const run = promtool(workDir, groupsOf(render({ alerts: { noValidToken: { enabled: true, for: '10m', severity: 'critical' } } })), ['test', 'rules', 'alerts.test.yaml']);
    expect(run.status).toBe(1);
    expect(run.output).toContain('alertname: AnthropicWIFNoValidToken, time: 5m');
    expect(run.output.match(/alertname: /g)).toHaveLength(1);
  });

  it('the fixture has, for every alert, a case where it fires and one where it stays quiet', () => {
    const fixture = parse(readFileSync(FIXTURE, 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
    const cases = fixture.tests.flatMap((t) => t.alert_rule_test);
    const firing = [...new Set(cases.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname))].sort();
    const quiet = [...new Set(cases.filter((c) => c.exp_alerts.length === 0).map((c) => c.alertname))].sort();
    expect(firing).toEqual([...ALERTS].sort());
    expect(quiet).toEqual([...ALERTS].sort());
    expect(cases).toHaveLength(16);
  });
});

describe('the PrometheusRule template', () => {
  it('is absent by default, and passes the structural checks when enabled', () => {
    const objects = parseManifests(renderChart({ values: { federation: { organizationId: ORG } } }));
    expect(objects.filter((o) => o.kind === 'PrometheusRule')).toEqual([]);
    const enabled = render({});
    expect(manifestErrors(enabled)).toEqual({});
    expect(groupsOf(enabled).groups.map((g) => [g.name, g.rules.map((r) => r.alert)])).toEqual([
      ['anthropic-workload-identity.sidecar', ALERTS.slice(0, 4)],
      ['anthropic-workload-identity.webhook', ALERTS.slice(4)],
    ]);
  });

  it('every alert links its own runbook: a heading of the README\'s Troubleshooting section', () => {
    const anchors = headingAnchors(README.slice(README.indexOf('\n## Troubleshooting\n'), README.indexOf('\n## Values\n')));
    for (const rule of rulesOf(render({}))) {
      expect(rule.annotations.runbook_url, rule.alert).toBe(`${RUNBOOK_PAGE}#${rule.alert.toLowerCase()}`);
      expect(anchors.has(rule.alert.toLowerCase()), `README heading for ${rule.alert}`).toBe(true);
      expect(headingAnchor(`\`${rule.alert}\``)).toBe(rule.alert.toLowerCase());
    }
  });

  it('reads only documented metrics, and the API server\'s and Prometheus\'s own series', () => {
    const documented = documentedMetricNames(README).flatMap((name) => seriesNamesOf(name, name.endsWith('_seconds') && !name.endsWith('_timestamp_seconds') && !name.endsWith('_gap_seconds')));
    const read = [...new Set(rulesOf(render({})).flatMap((r) => metricNamesInPromQL(r.expr)))].sort();
    expect(read).toEqual([
      'anthropic_wif_access_token_expiry_timestamp_seconds',
      'anthropic_wif_admission_duration_seconds_bucket',
      'anthropic_wif_admission_requests_total',
      'anthropic_wif_exchanges_total',
      'anthropic_wif_rotation_gap_seconds',
      'apiserver_admission_webhook_fail_open_count',
      'apiserver_admission_webhook_rejection_count',
      'up',
    ]);
    expect(read.filter((name) => !documented.includes(name) && !EXTERNAL_SERIES.includes(name))).toEqual([]);
  });

  it('selects the sidecars by their container name, the webhook by what the ServiceMonitor scrapes', () => {
    const objects = render({});
    expect(ruleNamed(objects, 'AnthropicWIFNoValidToken').expr).toBe(`anthropic_wif_access_token_expiry_timestamp_seconds{container="${ContainerName.agent}"} - time() <= 0`);
    expect(ruleNamed(objects, 'AnthropicWIFWebhookDown').expr).toBe(`absent(up{job="${FULLNAME}", namespace="${NAMESPACE}"} == 1)`);
  });

  it('takes namespace, labels, alert labels, selectors, durations, severities and thresholds from values', () => {
    const objects = render({
      namespace: 'monitoring',
      labels: { release: 'kube-prometheus-stack' },
      alertLabels: { team: 'platform' },
      agentSelector: 'job="sidecars"',
      webhookSelector: 'job="wif-webhook"',
      apiServerSelector: 'job="kube-apiserver"',
      alerts: {
        tokenUnderSdkWindow: { enabled: true, for: '3m', severity: 'page', seconds: 90 },
        webhookErrors: { enabled: true, for: '1h', severity: 'info', ratio: 0.5 },
        webhookSlow: { enabled: true, for: '2m', severity: 'warning', seconds: 0.25 },
      },
    });
    const rule = findObject(objects, 'PrometheusRule');
    expect(rule.metadata.namespace).toBe('monitoring');
    expect(rule.metadata.labels?.release).toBe('kube-prometheus-stack');
    const underWindow = ruleNamed(objects, 'AnthropicWIFTokenUnderSDKWindow');
    expect(underWindow).toMatchObject({ for: '3m', labels: { severity: 'page', team: 'platform' } });
    expect(underWindow.expr).toBe('anthropic_wif_access_token_expiry_timestamp_seconds{job="sidecars"} - time() < 90 > 0');
    expect(underWindow.annotations.summary).toBe('The Claude token of {{ $labels.namespace }}/{{ $labels.pod }} has under 90 s left');
    expect(ruleNamed(objects, 'AnthropicWIFWebhookErrors')).toMatchObject({ for: '1h', labels: { severity: 'info', team: 'platform' } });
    expect(ruleNamed(objects, 'AnthropicWIFWebhookErrors').expr).toMatch(/^sum by \(namespace, job\) \(rate\(anthropic_wif_admission_requests_total\{job="wif-webhook", result="error"\}\[5m\]\)\)\n\/\n.*\n> 0\.5$/);
    expect(ruleNamed(objects, 'AnthropicWIFWebhookSlow').expr).toBe('histogram_quantile(0.99, sum by (namespace, job, le) (rate(anthropic_wif_admission_duration_seconds_bucket{job="wif-webhook"}[5m])))\n> 0.25');
    expect(ruleNamed(objects, 'AnthropicWIFWebhookUnreachable').expr).toContain('apiserver_admission_webhook_fail_open_count{job="kube-apiserver", ');
    for (const r of rulesOf(objects)) expect(r.labels.team, r.alert).toBe('platform');
  });

  it('leaves out a disabled alert, a group with none left, and AnthropicWIFWebhookDown when nothing scrapes the webhook', () => {
    const off = { enabled: false, for: '1m', severity: 'warning' };
    const noSidecar = render({ alerts: { exchangesFailing: off, noValidToken: off, tokenUnderSdkWindow: { ...off, seconds: 120 }, rotationGap: off } });
    expect(groupsOf(noSidecar).groups.map((g) => g.name)).toEqual(['anthropic-workload-identity.webhook']);
    const unscraped = render({}, { serviceMonitor: { enabled: false } });
    expect(rulesOf(unscraped).map((r) => r.alert)).toEqual(ALERTS.filter((a) => a !== 'AnthropicWIFWebhookDown'));
    const ownScrape = render({ webhookSelector: 'job="mine"' }, { serviceMonitor: { enabled: false } });
    expect(ruleNamed(ownScrape, 'AnthropicWIFWebhookDown').expr).toBe('absent(up{job="mine"} == 1)');
  });

  it('matches exactly the rendered webhook entries\' names, dots escaped', () => {
    const both = ruleNamed(render({}), 'AnthropicWIFWebhookUnreachable').expr;
    expect(both).toContain(String.raw`name=~"label-opt-in\\.pods\\.anthropic\\.workload\\.identity|annotation-opt-in\\.pods\\.anthropic\\.workload\\.identity"`);
    const labelOnly = ruleNamed(render({}, { webhook: { annotationOptIn: { enabled: false } } }), 'AnthropicWIFWebhookUnreachable').expr;
    expect(labelOnly).toContain(String.raw`name=~"label-opt-in\\.pods\\.anthropic\\.workload\\.identity"`);
    expect(labelOnly).not.toContain('annotation-opt-in');
  });
});

describe('metricNamesInPromQL', () => {
  it.each([
    ['rate(a_total{x="y"}[5m])', ['a_total']],
    ['sum by (namespace, le) (rate(h_bucket{le="+Inf"}[$__rate_interval])) / ignoring(le) b', ['b', 'h_bucket']],
    ['histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 1', ['x_bucket']],
    ['g - time() < 120 > 0 and on(pod) other{a="b or c"}', ['g', 'other']],
    ['absent(up{job="j"} == 1) or vector(0)', ['up']],
  ])('%s', (expr, names) => {
    expect(metricNamesInPromQL(expr)).toEqual(names);
  });
});
