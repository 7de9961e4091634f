/**
 * A throwaway PKI for the TLS tests, made with `openssl` at test time into a temp dir: a CA and
 * a server certificate it signed, for `localhost` and `127.0.0.1`, valid for 100 years. Nothing
 * secret is committed, and nothing expires under the test suite.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  /** PEM files. */
  readonly caCertPath: string;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
  /** The same, loaded. */
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  remove(): void;
}

const DAYS = String(365 * 100);

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'wstap-pki-'));
  const p = (f: string): string => join(dir, f);
  const ossl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('ca-key.pem'));
    ossl(
      'req', '-x509', '-new', '-key', p('ca-key.pem'), '-sha256', '-days', DAYS, '-subj', '/CN=wstap test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-out', p('ca.pem'),
    );
    ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('server-key.pem'));
    ossl('req', '-new', '-key', p('server-key.pem'), '-subj', '/CN=localhost', '-out', p('server.csr'));
    writeFileSync(
      p('server.ext'),
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '',
      ].join('\n'),
    );
    ossl(
      'x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca-key.pem'), '-CAcreateserial',
      '-sha256', '-days', DAYS, '-extfile', p('server.ext'), '-out', p('server.pem'),
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl failed: ${e.stderr?.toString() || e.message}`);
  }
  return {
    dir,
    caCertPath: p('ca.pem'),
    serverCertPath: p('server.pem'),
    serverKeyPath: p('server-key.pem'),
    ca: readFileSync(p('ca.pem')),
    cert: readFileSync(p('server.pem')),
    key: readFileSync(p('server-key.pem')),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
