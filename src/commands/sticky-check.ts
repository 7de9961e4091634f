/**
 * `wstap sticky-check URL [--count N] [--field NAME | --header NAME]`: reconnect N times and
 * report whether every connection reached the same backend. Exit 0 sticky, 1 not sticky,
 * 2 could not tell (or a usage error).
 */
import { parseArgs } from 'node:util';
import { parseHeaders, parseIntOption, parseSubprotocols, parseWsUrl } from '../monitor/cli-args.js';
import { formatSticky } from '../monitor/report.js';
import { DEFAULT_STICKY_COUNT, DEFAULT_STICKY_FIELD, runStickyCheck } from '../monitor/sticky.js';
import { UsageError, type CommandIO } from './io.js';

export const stickyCheckHelp = `Usage: wstap sticky-check URL [--count N] [--field NAME | --header NAME] [options]

Connect N times in a row and report whether every connection reached the same backend. The
backend id is read from a JSON field of the first message (--field, a dotted path; default
"${DEFAULT_STICKY_FIELD}") or from a header of the 101 response (--header, e.g. X-Wstap-Backend).

Options:
  --count N                  connections to make (default ${DEFAULT_STICKY_COUNT}, at least 2)
  --field NAME               JSON field of the first message holding the backend id
  --header NAME              101 response header holding the backend id
  --timeout MS               bound of each connection (default 5000)
  --request-header 'K: V'    add a request header, e.g. the affinity cookie (repeatable)
  --subprotocol P            offer subprotocol P (repeatable)
  --insecure                 skip TLS certificate verification (wss://)
  --json                     print the result object as JSON

Exit codes: 0 sticky, 1 not sticky, 2 could not tell (connection failed, no id) or usage error.`;

/** Run `wstap sticky-check`; usage problems throw {@link UsageError} (exit 2 in the CLI). */
export async function stickyCheckCommand(argv: readonly string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      count: { type: 'string' },
      field: { type: 'string' },
      header: { type: 'string' },
      timeout: { type: 'string' },
      'request-header': { type: 'string', multiple: true },
      subprotocol: { type: 'string', multiple: true },
      insecure: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const url = parseWsUrl(positionals, 'sticky-check');
  if (values.field !== undefined && values.header !== undefined) throw new UsageError('give --field or --header, not both');
  if (values.field?.trim() === '') throw new UsageError('--field needs a name, e.g. --field backend');
  if (values.header !== undefined && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(values.header)) {
    throw new UsageError(`--header ${JSON.stringify(values.header)} is not a header name (e.g. --header X-Wstap-Backend)`);
  }
  const count = parseIntOption('count', values.count, DEFAULT_STICKY_COUNT, 2, 1000);
  const result = await runStickyCheck(url, {
    count,
    timeoutMs: parseIntOption('timeout', values.timeout, 5000, 1, 24 * 3600 * 1000),
    insecure: values.insecure,
    headers: parseHeaders(values['request-header'], 'request-header'),
    subprotocols: parseSubprotocols(values.subprotocol),
    ...(values.field !== undefined ? { field: values.field } : {}),
    ...(values.header !== undefined ? { header: values.header } : {}),
  });
  io.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : formatSticky(result, count));
  return result.sticky === true ? 0 : result.sticky === false ? 1 : 2;
}
