/**
 * Whether a pod opted in: Pod annotation > Pod label > ServiceAccount annotation, so a
 * Pod's `"false"` beats its ServiceAccount's `"true"`. Only the deciding value is validated.
 */
import { Annotation, OPT_IN_LABEL } from '../contract/index.ts';
import { invalidValueMessage, parseInject } from './settings.ts';
import type { AnnotationLayer } from './types.ts';

export type OptIn =
  | { readonly kind: 'in' }
  | { readonly kind: 'out'; readonly reason: string; readonly decided: boolean }
  | { readonly kind: 'invalid'; readonly message: string };

interface OptInSource {
  readonly value: string | undefined;
  /** `annotation …` or `label …`, for messages. */
  readonly what: string;
  readonly where: string;
}

export interface OptInInput {
  readonly podAnnotations: Readonly<Record<string, string>>;
  readonly podLabels: Readonly<Record<string, string>>;
  /** Absent when the ServiceAccount's annotations are not consulted. */
  readonly serviceAccount: AnnotationLayer | undefined;
}

export function decideOptIn(input: OptInInput): OptIn {
  const sources: OptInSource[] = [
    { value: input.podAnnotations[Annotation.inject], what: `annotation ${Annotation.inject}`, where: '' },
    { value: input.podLabels[OPT_IN_LABEL], what: `label ${OPT_IN_LABEL}`, where: '' },
    { value: input.serviceAccount?.annotations[Annotation.inject], what: `annotation ${Annotation.inject}`, where: input.serviceAccount?.where ?? '' },
  ];
  const source = sources.find((candidate) => candidate.value !== undefined);
  if (source?.value === undefined) {
    return {
      kind: 'out',
      decided: false,
      reason: `not opted in: no ${Annotation.inject} annotation or label on the Pod, and none on its ServiceAccount`,
    };
  }
  const parsed = parseInject(source.value);
  if (!parsed.ok) return { kind: 'invalid', message: invalidValueMessage(source.what, source.value, source.where, parsed.expected) };
  const where = source.where === '' ? ' on the Pod' : source.where;
  return parsed.value
    ? { kind: 'in' }
    : { kind: 'out', decided: true, reason: `opted out: ${source.what} is "false"${where}` };
}
