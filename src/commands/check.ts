/**
 * `wstap check URL [options]`: one synthetic health check (connect, ping/pong, optional send and
 * expected reply, close with the expected code). Exit 0 healthy, 1 unhealthy, 2 usage error.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CHECK_TIMEOUT_MS, runCheck } from '../monitor/check.js';
import { parseHeaders, parseIntOption, parseSubprotocols, parseWsUrl } from '../monitor/cli-args.js';
import { formatCheck } from '../monitor/report.js';
import type { CommandIO, UsageError } from './io.js';

export const checkHelp = `Usage: wstap check URL [options]

Run one synthetic WebSocket health check: connect, ping/pong, optionally send a message and wait
for a reply containing a substring, then close normally and check the server's close code.

Options:
  --timeout MS          bound of the whole check (default ${DEFAULT_CHECK_TIMEOUT_MS})
  --send TEXT           message to send after the ping (without --expect: any reply will do)
  --expect SUBSTRING    a received message must contain SUBSTRING
  --expect-close CODE   close code the server must answer with (default 1000)
  --subprotocol P       offer subprotocol P (repeatable)
  --header 'K: V'       add a request header (repeatable)
  --insecure            skip TLS certificate verification (wss://)
  --json                print the result object as JSON

Exit codes: 0 healthy, 1 unhealthy, 2 usage error.`;

/** Run `wstap check`; usage problems throw {@link UsageError} (exit 2 in the CLI). */
export async function checkCommand(argv: readonly string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      timeout: { type: 'string' },
      send: { type: 'string' },
      expect: { type: 'string' },
      'expect-close': { type: 'string' },
      subprotocol: { type: 'string', multiple: true },
      header: { type: 'string', multiple: true },
      insecure: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const url = parseWsUrl(positionals, 'check');
  const timeoutMs = parseIntOption('timeout', values.timeout, DEFAULT_CHECK_TIMEOUT_MS, 1, 24 * 3600 * 1000);
  // 1000–4999: the codes a server may send (1005/1006/1015 never appear on the wire).
  const expectClose = parseIntOption('expect-close', values['expect-close'], 1000, 1000, 4999);
  const result = await runCheck(url, {
    timeoutMs,
    expectClose,
    headers: parseHeaders(values.header),
    subprotocols: parseSubprotocols(values.subprotocol),
    insecure: values.insecure,
    ...(values.send !== undefined ? { send: values.send } : {}),
    ...(values.expect !== undefined ? { expect: values.expect } : {}),
  });
  io.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : formatCheck(result));
  return result.healthy ? 0 : 1;
}
