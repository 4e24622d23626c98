import { describe, expect, it } from 'vitest';
import { decideInjection } from '../../webhook/decide.ts';
import type { InjectionDefaults, ServiceAccountLookup } from '../../webhook/types.ts';
import { applyInjection } from '../../webhook/inject.ts';
import type { JsonObject } from '../../webhook/json.ts';
import { reviewPod } from '../../webhook/review.ts';
import { readStatus } from '../../webhook/status.ts';
import { testInjectionDefaults } from '../support/injection-defaults.ts';

const P = 'anthropic.workload.identity/';
const DISABLED: ServiceAccountLookup = { kind: 'disabled' };

function pod(spec: JsonObject, annotations: Record<string, string> = {}): JsonObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', annotations: { [`${P}inject`]: 'true', ...annotations } }, spec };
}

function container(name: string, extra: JsonObject = {}): JsonObject {
  return { name, image: `registry.example/${name}:1`, ...extra };
}

function withUser(uid: number): JsonObject {
  return { securityContext: { runAsUser: uid } };
}

function decide(input: JsonObject, defaults: InjectionDefaults = testInjectionDefaults()): ReturnType<typeof decideInjection> {
  return decideInjection(input, DISABLED, defaults);
}

function agentUser(input: JsonObject): unknown {
  const decision = decide(input);
  if (decision.kind !== 'inject') throw new Error(`not injected: ${decision.kind}`);
  return (decision.plan.initContainer?.securityContext as JsonObject).runAsUser;
}

interface UidCase {
  readonly name: string;
  readonly spec: JsonObject;
  readonly annotations?: Record<string, string>;
  readonly uid: number;
  readonly warnings: number;
}

describe('the sidecar uid (file mode)', () => {
  it.each<UidCase>([
    { name: 'pod-level uid', spec: { securityContext: { runAsUser: 1000 }, containers: [container('app')] }, uid: 1000, warnings: 0 },
    { name: 'container over pod', spec: { securityContext: { runAsUser: 1000 }, containers: [container('app', withUser(3000))] }, uid: 3000, warnings: 0 },
    { name: 'root app keeps the sidecar non-root', spec: { containers: [container('app', withUser(0))] }, uid: 65532, warnings: 0 },
    { name: 'root and 1000: 1000', spec: { containers: [container('a', withUser(0)), container('b', withUser(1000))] }, uid: 1000, warnings: 0 },
    { name: 'no uid: default and a warning', spec: { containers: [container('app')] }, uid: 65532, warnings: 1 },
    { name: 'differing uids: the first, and a warning', spec: { containers: [container('a', withUser(1000)), container('b', withUser(1001))] }, uid: 1000, warnings: 1 },
    {
      name: 'a skipped container does not count',
      spec: { containers: [container('a', withUser(1000)), container('b')] },
      annotations: { [`${P}skip-containers`]: 'b' },
      uid: 1000,
      warnings: 0,
    },
    {
      name: 'a mesh proxy starting before the agent does not count',
      spec: { initContainers: [container('istio-proxy', { restartPolicy: 'Always', ...withUser(1337) })], containers: [container('app', withUser(1000))] },
      uid: 1000,
      warnings: 0,
    },
    {
      name: 'an init container after the agent counts, after the app containers',
      spec: { initContainers: [container('migrate', withUser(2000))], containers: [container('app', withUser(1000))] },
      uid: 1000,
      warnings: 1,
    },
  ])('$name → uid $uid, $warnings warning(s)', ({ spec, annotations, uid, warnings }) => {
    const input = pod(spec, annotations);
    expect(agentUser(input)).toBe(uid);
    expect(decide(input).warnings).toHaveLength(warnings);
  });

  it('is the non-root default in proxy mode, where apps never read the files', () => {
    expect(agentUser(pod({ containers: [container('app', withUser(1000))] }, { [`${P}mode`]: 'proxy' }))).toBe(65532);
  });
});

describe('shadowing variables', () => {
  const env = (entry: JsonObject): JsonObject => pod({ securityContext: { runAsUser: 1 }, containers: [container('app', { env: [entry] })] });

  it.each<{ entry: JsonObject; warning: string }>([
    { entry: { name: 'ANTHROPIC_API_KEY', value: 'sk-ant-api03-x' }, warning: 'container "app" sets ANTHROPIC_API_KEY: the SDKs' },
    {
      entry: { name: 'ANTHROPIC_AUTH_TOKEN', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'token' } } },
      warning: 'container "app" sets ANTHROPIC_AUTH_TOKEN from ConfigMap "cfg": the SDKs',
    },
    {
      entry: { name: 'ANTHROPIC_API_KEY', valueFrom: { secretKeyRef: { name: 'key', key: 'k' } } },
      warning: 'container "app" sets ANTHROPIC_API_KEY from Secret "key": the SDKs',
    },
    { entry: { name: 'ANTHROPIC_API_KEY', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, warning: 'container "app" sets ANTHROPIC_API_KEY: the SDKs' },
  ])('$entry.name from $entry is warned about', ({ entry, warning }) => {
    const warnings = decide(env(entry)).warnings;
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(warning);
  });

  it.each<JsonObject>([{ name: 'ANTHROPIC_API_KEY', value: '' }, { name: 'ANTHROPIC_API_KEY' }, { name: 'ANTHROPIC_PROFILE', value: 'dev' }])(
    '%j is not',
    (entry) => {
      expect(decide(env(entry)).warnings).toEqual([]);
    },
  );

  it('is a denial with --shadowing=deny', () => {
    const decision = decide(env({ name: 'ANTHROPIC_API_KEY', value: 'k' }), testInjectionDefaults({ shadowing: 'deny' }));
    expect(decision).toMatchObject({ kind: 'deny', mode: 'file' });
  });
});

describe('applyInjection', () => {
  const input = pod({ securityContext: { runAsUser: 1000 }, containers: [container('app', { env: [{ name: 'A', value: '1' }] })] });

  it('does not modify its input', () => {
    const copy = structuredClone(input);
    const decision = decide(input);
    if (decision.kind !== 'inject') throw new Error('not injected');
    applyInjection(input, decision.plan);
    expect(input).toEqual(copy);
  });

  it('changes nothing when applied to its own output with the same plan', () => {
    const decision = decide(input);
    if (decision.kind !== 'inject') throw new Error('not injected');
    const once = applyInjection(input, decision.plan);
    expect(applyInjection(once, decision.plan)).toEqual(once);
  });
});

describe('readStatus', () => {
  it.each([
    ['not JSON', 'injected'],
    ['not an object', '[]'],
    ['no containers', '{"mode":"file"}'],
    ['env not a list of strings', '{"containers":{"app":{"env":[1],"mountPaths":[]}}}'],
    ['no mountPaths', '{"containers":{"app":{"env":[]}}}'],
  ])('%s is invalid', (_what, raw) => {
    expect(readStatus(raw)).toEqual({ kind: 'invalid' });
  });

  it('reads back what each container was given', () => {
    expect(readStatus('{"version":1,"containers":{"app":{"env":["X"],"mountPaths":["/p"]}}}')).toEqual({
      kind: 'present',
      containers: { app: { env: ['X'], mountPaths: ['/p'] } },
    });
    expect(readStatus(undefined)).toEqual({ kind: 'absent' });
  });
});

describe('reviewPod', () => {
  it('skips a pod that did not opt in, with no patch and the reason', () => {
    const plain = { metadata: { name: 'p' }, spec: { containers: [container('app')] } };
    expect(reviewPod(plain, DISABLED, testInjectionDefaults())).toEqual({
      result: 'skipped',
      patch: [],
      warnings: [],
      message: `not opted in: no ${P}inject annotation or label on the Pod, and none on its ServiceAccount`,
    });
  });

  it('does not consult a ServiceAccount it was told not to (disabled)', () => {
    const plain = { metadata: { name: 'p' }, spec: { containers: [container('app')] } };
    expect(reviewPod(plain, DISABLED, testInjectionDefaults()).result).toBe('skipped');
    const found: ServiceAccountLookup = { kind: 'found', serviceAccount: { namespace: 'ns', name: 'default', annotations: { [`${P}inject`]: 'true' } } };
    expect(reviewPod(plain, found, testInjectionDefaults()).result).toBe('injected');
  });

  it('denies without a mode when the mode itself is invalid', () => {
    const review = reviewPod(pod({ containers: [container('app')] }, { [`${P}mode`]: 'x' }), DISABLED, testInjectionDefaults());
    expect(review).toEqual({
      result: 'denied',
      patch: [],
      warnings: [],
      message: `invalid annotation ${P}mode "x": expected one of file, proxy, sdk`,
    });
  });
});

describe('malformed pods', () => {
  const optIn = { annotations: { [`${P}inject`]: 'true' } };
  it.each<{ name: string; input: JsonObject; result: string }>([
    { name: 'no metadata', input: { spec: { containers: [container('app')] } }, result: 'skipped' },
    { name: 'non-string annotation values', input: { metadata: { annotations: { [`${P}inject`]: true } }, spec: { containers: [container('app')] } }, result: 'skipped' },
    { name: 'a runAsUser that is not an integer', input: { metadata: optIn, spec: { securityContext: { runAsUser: '1000' }, containers: [container('app')] } }, result: 'injected' },
    {
      name: 'a status annotation naming containers the pod lacks',
      input: { metadata: { annotations: { [`${P}inject`]: 'true', [`${P}status`]: '{"containers":{"gone":{"env":["X"],"mountPaths":[]}}}' } }, spec: { containers: [container('app')] } },
      result: 'injected',
    },
  ])('$name: $result, without throwing', ({ input, result }) => {
    expect(reviewPod(input, DISABLED, testInjectionDefaults()).result).toBe(result);
  });
});

describe('malformed pods are denied rather than rewritten (a field the webhook does not understand is never dropped)', () => {
  const optIn = { annotations: { [`${P}inject`]: 'true' } };
  const denial = (what: string): string => `the pod is not well-formed: ${what}; the webhook injects only into a well-formed Pod`;
  it.each<{ name: string; input: JsonObject; message: string }>([
    { name: 'no spec', input: { metadata: optIn }, message: denial('spec is not an object') },
    { name: 'a spec that is a list', input: { metadata: optIn, spec: [] }, message: denial('spec is not an object') },
    { name: 'annotations that are not an object', input: { metadata: { ...optIn, labels: { [`${P}inject`]: 'true' }, annotations: [] }, spec: { containers: [container('app')] } }, message: denial('metadata.annotations is not an object') },
    { name: 'containers not a list', input: { metadata: optIn, spec: { containers: 'app' } }, message: denial('spec.containers is not a list') },
    { name: 'an init container that is not an object', input: { metadata: optIn, spec: { containers: [container('app')], initContainers: [container('i'), 7] } }, message: denial('spec.initContainers[1] is not an object') },
    { name: 'a volume that is not an object', input: { metadata: optIn, spec: { containers: [container('app')], volumes: [null] } }, message: denial('spec.volumes[0] is not an object') },
    { name: 'env not a list', input: { metadata: optIn, spec: { containers: [container('app', { env: {}, volumeMounts: 3 })] } }, message: denial('spec.containers[0].env is not a list') },
    { name: 'a mount that is not an object', input: { metadata: optIn, spec: { containers: [container('app', { volumeMounts: ['/data'] })] } }, message: denial('spec.containers[0].volumeMounts[0] is not an object') },
    { name: 'a name shared by an init container and a container', input: { metadata: optIn, spec: { initContainers: [container('app')], containers: [container('app')] } }, message: denial('two containers are named "app"') },
    // Found by the fuzz suite: the status keys containers by name, so these two would share one entry.
    { name: 'a nameless container and one named ""', input: { metadata: optIn, spec: { initContainers: [{ name: '' }], containers: [{}] } }, message: denial('two containers are named ""') },
  ])('$name', ({ input, message }) => {
    const review = reviewPod(input, DISABLED, testInjectionDefaults());
    expect([review.result, review.message, review.patch]).toEqual(['denied', message, []]);
  });
});

describe('credential volumes stay the sidecar’s (issue #16)', () => {
  const mount = (name: string, mountPath: string): JsonObject => ({ volumeMounts: [{ name, mountPath }] });
  const token = 'anthropic-identity-token';
  const credentials = 'anthropic-credentials';

  it.each<{ name: string; mode: string; spec: JsonObject; denied: readonly string[] }>([
    { name: 'an app mounting the identity token (file)', mode: 'file', spec: { containers: [container('app', mount(token, '/jwt'))] }, denied: [`container "app" mounts volume ${token} at "/jwt"`] },
    { name: 'an app mounting the identity token (sdk)', mode: 'sdk', spec: { containers: [container('app', mount(token, '/jwt'))] }, denied: [`container "app" mounts volume ${token} at "/jwt"`] },
    { name: 'a skipped container mounting the identity token', mode: 'file', spec: { containers: [container('app'), container('side', mount(token, '/jwt'))] }, denied: [`container "side" mounts volume ${token}`] },
    { name: 'a mesh sidecar before the agent mounting it', mode: 'file', spec: { initContainers: [container('mesh', { restartPolicy: 'Always', ...mount(token, '/jwt') })], containers: [container('app')] }, denied: [`container "mesh" mounts volume ${token}`] },
    { name: 'an app mounting the credentials (proxy)', mode: 'proxy', spec: { containers: [container('app', mount(credentials, '/creds'))] }, denied: [`container "app" mounts volume ${credentials} at "/creds"`] },
    { name: 'an app mounting the credentials (file): allowed', mode: 'file', spec: { containers: [container('app', mount(credentials, '/creds'))] }, denied: [] },
    { name: 'an app mounting the credentials (sdk, no such volume): allowed', mode: 'sdk', spec: { containers: [container('app', mount(credentials, '/creds'))] }, denied: [] },
  ])('$name', ({ mode, spec, denied }) => {
    const annotations = { [`${P}mode`]: mode, [`${P}skip-containers`]: 'side' };
    const review = reviewPod(pod(spec, annotations), DISABLED, testInjectionDefaults());
    if (denied.length === 0) {
      expect(review.result).toBe('injected');
      return;
    }
    expect(review.result).toBe('denied');
    for (const part of denied) expect(review.message).toContain(part);
    expect(review.message).toContain('remove the mount');
  });

  it.each(['file', 'proxy', 'sdk'])('the mounts the webhook itself added (%s mode) never cause a denial on re-admission', (mode) => {
    const input = pod({ containers: [container('app'), container('worker')] }, { [`${P}mode`]: mode });
    const decision = decide(input);
    if (decision.kind !== 'inject') throw new Error(`not injected: ${decision.kind}`);
    const injected = applyInjection(input, decision.plan);
    const again = reviewPod(injected, DISABLED, testInjectionDefaults());
    expect(again.result).toBe('injected');
    expect(again.patch).toEqual([]);
  });
});
