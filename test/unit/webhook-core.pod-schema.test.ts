import { describe, expect, it } from 'vitest';
import { podSchemaErrors } from '../support/pod-schema.ts';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function pod(spec: Record<string, Json>, metadata: Record<string, Json> = { name: 'p' }): Record<string, Json> {
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

const app = { name: 'app', image: 'registry.example/app:1' };

describe('podSchemaErrors (the validation helper the golden tests rely on)', () => {
  it('accepts a valid pod', () => {
    expect(podSchemaErrors(pod({ containers: [app] }))).toEqual([]);
  });

  it.each<{ name: string; spec: Record<string, Json>; error: string }>([
    {
      name: 'a misspelt security field (kubernetes-models alone accepts it)',
      spec: { containers: [{ ...app, securityContext: { readOnlyRootFileSystem: true } }] },
      error: 'unknown field /spec/containers/0/securityContext/readOnlyRootFileSystem',
    },
    { name: 'a wrong type', spec: { containers: [{ ...app, env: [{ name: 'X', value: 3 }] }] }, error: 'data/spec/containers/0/env/0/value must be string' },
    { name: 'two containers with one name', spec: { containers: [app], initContainers: [app] }, error: 'container name "app" used twice' },
    {
      name: 'a mount of a volume the pod lacks',
      spec: { containers: [{ ...app, volumeMounts: [{ name: 'ghost', mountPath: '/g' }] }] },
      error: 'spec.containers[0]: mounts unknown volume "ghost"',
    },
    {
      name: 'a probe on a plain init container',
      spec: { containers: [app], initContainers: [{ name: 'init', image: 'i', startupProbe: { exec: { command: ['true'] } } }] },
      error: 'spec.initContainers[0]: startupProbe is allowed only on a native sidecar',
    },
    {
      name: 'restartPolicy on an app container',
      spec: { containers: [{ ...app, restartPolicy: 'Always' }] },
      error: 'spec.containers[0]: restartPolicy is allowed only on init containers',
    },
    {
      name: 'a projected token under 600 s',
      spec: { containers: [app], volumes: [{ name: 't', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 599 } }] } }] },
      error: 'volume "t": serviceAccountToken.expirationSeconds must be at least 600',
    },
    { name: 'a container without an image', spec: { containers: [{ name: 'app' }] }, error: 'spec.containers[0]: no image' },
  ])('rejects $name', ({ spec, error }) => {
    expect(podSchemaErrors(pod(spec))).toContain(error);
  });

  it('tolerates exactly the unknown fields it is told about', () => {
    const future = pod({ containers: [{ ...app, futureField: 1 }], someFutureField: { a: 1 } });
    expect(podSchemaErrors(future, { allowedUnknownFields: ['/spec/someFutureField'] })).toEqual(['unknown field /spec/containers/0/futureField']);
    expect(podSchemaErrors(future, { allowedUnknownFields: ['/spec/someFutureField', '/spec/containers/0/futureField'] })).toEqual([]);
  });

  it('reads map-valued fields (annotations, labels) as known', () => {
    expect(podSchemaErrors(pod({ containers: [app] }, { name: 'p', annotations: { 'a/b': 'c' }, labels: { x: 'y' } }))).toEqual([]);
  });
});
