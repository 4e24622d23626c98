/**
 * The Grafana dashboard the chart ships (dashboards/anthropic-workload-identity.json, rendered
 * into a ConfigMap for Grafana's dashboard sidecar): valid JSON, rendered byte for byte, and
 * every metric it queries is one the README's metrics reference documents and the code
 * registers, while every documented metric has a panel.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Metric } from '../../contract/index.ts';
import { createAgentMetrics } from '../../agent/metrics.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { findObject, manifestErrors, parseManifests } from '../support/chart.ts';
import type { KubeObject } from '../support/chart.ts';
import { CHART_DIR, REPO_ROOT, renderChart } from '../support/k8s-tools.ts';
import { documentedMetricNames, metricNamesInPromQL, seriesNamesOf } from '../support/promql.ts';

const ORG = '00000000-0000-4000-8000-000000000000';
const DASHBOARD_FILE = join(CHART_DIR, 'dashboards', 'anthropic-workload-identity.json');
const DASHBOARD_TEXT = readFileSync(DASHBOARD_FILE, 'utf8');
const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

interface Target {
  refId: string;
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

function parseDashboard(): Dashboard {
  return JSON.parse(DASHBOARD_TEXT) as Dashboard;
}

function render(grafanaDashboard: Record<string, unknown>): KubeObject[] {
  return parseManifests(
    renderChart({
      values: { federation: { organizationId: ORG }, certificates: { mode: 'provided', provided: { caBundle: 'Q0E=' } }, monitoring: { grafanaDashboard } },
      showOnly: ['templates/grafana-dashboard.yaml'],
    }),
  );
}

/** Every family the code registers, as series names (a histogram's `_bucket`, `_sum`, `_count` too). */
function registeredSeriesNames(): string[] {
  const agentText = createAgentMetrics({ processMetrics: false }).render();
  const agentHistograms = new Set([...agentText.matchAll(/^# TYPE (\S+) histogram$/gm)].map((m) => m[1]));
  const agent = [...agentText.matchAll(/^# TYPE (\S+) \S+$/gm)].flatMap((m) => seriesNamesOf(m[1] ?? '', agentHistograms.has(m[1])));
  const webhook = createWebhookMetrics({ processMetrics: false })
    .registry.getMetricsAsArray()
    .flatMap((family) => seriesNamesOf(family.name, family.type.toString() === 'histogram'));
  // The proxy registers its three families on the sidecar's registry when it starts (agent/proxy.ts).
  const proxy = [Metric.proxyRequestsTotal, Metric.proxyBytesTotal, ...seriesNamesOf(Metric.proxyUpstreamDurationSeconds, true)];
  return [...new Set([...agent, ...webhook, ...proxy])].sort();
}

function queries(dashboard: Dashboard): string[] {
  const panelExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  const variableQueries = dashboard.templating.list.flatMap((v) => {
    const query = v.query as { query?: string } | string | undefined;
    return v.type === 'query' ? [typeof query === 'string' ? query : query?.query ?? ''] : [];
  });
  return [...panelExprs, ...variableQueries.map((q) => q.replace(/^label_values\((\w+),.*\)$/, '$1'))];
}

describe('the Grafana dashboard', () => {
  it('is valid JSON with a fixed uid, unique panel ids, and every query on the chosen Prometheus data source', () => {
    const dashboard = parseDashboard();
    expect(dashboard.uid).toBe('anthropic-wif');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const withQueries = dashboard.panels.filter((p) => p.type !== 'row');
    expect(withQueries).toHaveLength(19);
    for (const panel of withQueries) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });

  it('queries only metrics the README documents and the code registers, and shows every documented one', () => {
    const read = [...new Set(queries(parseDashboard()).flatMap(metricNamesInPromQL))].sort();
    const documented = documentedMetricNames(README);
    const registered = registeredSeriesNames();
    expect(read.filter((name) => !registered.includes(name))).toEqual([]);
    const familyOf = (name: string): string => documented.find((family) => name === family || seriesNamesOf(family, true).includes(name)) ?? `undocumented: ${name}`;
    expect([...new Set(read.map(familyOf))].sort()).toEqual(documented);
    expect(documented).toEqual([...Object.values(Metric)].sort());
  });

  it('renders into a ConfigMap, byte for byte, labelled for the Grafana sidecar; absent by default', () => {
    const objects = render({ enabled: true });
    expect(manifestErrors(objects)).toEqual({});
    const configMap = findObject(objects, 'ConfigMap') as KubeObject & { data: Record<string, string> };
    expect(configMap.metadata.name).toBe('awi-anthropic-workload-identity-dashboard');
    expect(configMap.metadata.labels?.grafana_dashboard).toBe('1');
    expect(configMap.data).toEqual({ 'anthropic-workload-identity.json': DASHBOARD_TEXT.trimEnd() });
    const byDefault = parseManifests(renderChart({ values: { federation: { organizationId: ORG } } }));
    expect(byDefault.filter((o) => o.kind === 'ConfigMap')).toEqual([]);
  });

  it('takes its namespace, labels (merged with the default; null drops one) and annotations from values', () => {
    const configMap = findObject(render({ enabled: true, namespace: 'grafana', labels: { dashboards: 'platform' }, annotations: { grafana_folder: 'Security' } }), 'ConfigMap');
    expect(configMap.metadata.namespace).toBe('grafana');
    expect(configMap.metadata.labels?.dashboards).toBe('platform');
    expect(configMap.metadata.labels?.grafana_dashboard).toBe('1');
    const relabelled = findObject(render({ enabled: true, labels: { grafana_dashboard: null, team_dashboard: 'yes' } }), 'ConfigMap');
    expect(relabelled.metadata.labels?.grafana_dashboard).toBeUndefined();
    expect(relabelled.metadata.labels?.team_dashboard).toBe('yes');
    expect(configMap.metadata.annotations).toEqual({ grafana_folder: 'Security' });
  });
});
