/** The JSON Schema of task definitions, generated from the zod schema (VS Code's jsonValidation uses it). */
import * as z from 'zod/mini';
import { definitionSchema } from './schemas';

export function taskJsonSchema(): object {
  return {
    ...z.toJSONSchema(definitionSchema, { io: 'input', target: 'draft-7' }),
    title: 'Pausable Tasks: task definition',
    description: 'A task: steps run in order, pausable and resumable. The file name (without .json) is the task id.',
  };
}
