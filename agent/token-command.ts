import type { CommandContext } from '../runtime/command.ts';
import { WifError } from '../runtime/errors.ts';

// Placeholder until the command is built (see its issue).
export function runToken(_context: CommandContext): Promise<number> {
  return Promise.reject(new WifError('not-implemented', 'this command is not implemented yet'));
}
