/** `wstap status [--admin URL]`: the close-code health report of a running proxy. */
import { parseArgs } from 'node:util';
import { DEFAULT_ADMIN_URL, runStatusCommand } from '../admin/status-client.js';
import type { CommandIO } from './io.js';

export const statusHelp = `Usage: wstap status [--admin URL] [--timeout MS]

Print the close-code health report of a running proxy, read from its admin server's /status
(default ${DEFAULT_ADMIN_URL}). Exits 0 healthy (or no data yet), 1 alert, 2 unreachable.`;

export async function statusCommand(argv: readonly string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { admin: { type: 'string', default: DEFAULT_ADMIN_URL }, timeout: { type: 'string', default: '5000' } },
    strict: true,
  });
  const r = await runStatusCommand(values.admin, Number(values.timeout) || 5000);
  (r.exitCode === 2 ? io.stderr : io.stdout).write(r.text.endsWith('\n') ? r.text : `${r.text}\n`);
  return r.exitCode;
}
