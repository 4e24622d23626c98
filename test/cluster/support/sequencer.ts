/** Runs the files in vitest's usual order, but `rotation.test.ts` last: its workload ages meanwhile (support/rotation.ts). */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export class RotationLastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const last = (f: TestSpecification): number => (f.moduleId.endsWith('/rotation.test.ts') ? 1 : 0);
    return [...sorted].sort((a, b) => last(a) - last(b));
  }
}
