/** `wstap validate --config FILE`: print every problem with its path; exit 0 valid, 1 invalid. */
import { parseArgs } from 'node:util';
import { checkConfigFile } from '../config/load.js';
import { UsageError, type CommandIO } from './io.js';

export const validateHelp = `Usage: wstap validate --config FILE

Parse and validate a config file. Prints each problem with its path; exits 0 when the file is
valid, 1 when it is not.`;

export async function validateCommand(argv: readonly string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: { config: { type: 'string', short: 'c' } }, strict: true });
  if (!values.config) throw new UsageError('--config FILE is required');
  const r = checkConfigFile(values.config, io.env);
  if (r.problems.length === 0) {
    io.stdout.write(`${values.config}: valid\n`);
    return 0;
  }
  for (const p of r.problems) io.stderr.write(`${p}\n`);
  io.stderr.write(`${values.config}: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}\n`);
  return 1;
}
