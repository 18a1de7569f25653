import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificateAuthority {
  /** The CA's certificate (PEM file): what a client is told to trust. */
  readonly caFile: string;
  readonly caPem: string;
  /** Issues a server certificate for these names ("DNS:localhost", "IP:127.0.0.1"); PEM files. */
  issueServerCertificate(name: string, subjectAltNames: readonly string[]): Promise<{ certFile: string; keyFile: string }>;
}

/**
 * A self-signed certificate authority of its own in `dir`, made with the `openssl` command
 * (node:crypto reads X.509 certificates but cannot make them). For TLS tests against a private
 * broker: each call makes a new, unrelated CA, so a second one is "the wrong CA".
 */
export async function makeTestCertificateAuthority(dir: string, name: string): Promise<TestCertificateAuthority> {
  await mkdir(dir, { recursive: true });
  const file = (suffix: string) => path.join(dir, `${name}-${suffix}`);
  const caKey = file('ca.key');
  const caFile = file('ca.pem');
  // EC keys: quick to make on a busy machine, and every TLS stack involved speaks them.
  await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey]);
  await run('openssl', ['req', '-x509', '-new', '-key', caKey, '-sha256', '-days', '2', '-subj', `/CN=${name} test CA`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', caFile]);
  const caPem = await readFile(caFile, 'utf8');
  let serial = 1;
  return {
    caFile,
    caPem,
    issueServerCertificate: async (server, subjectAltNames) => {
      const keyFile = file(`${server}.key`);
      const csr = file(`${server}.csr`);
      const certFile = file(`${server}.pem`);
      const ext = file(`${server}.ext`);
      await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
      await run('openssl', ['req', '-new', '-key', keyFile, '-subj', `/CN=${server}`, '-out', csr]);
      await writeFile(ext, [`subjectAltName=${subjectAltNames.join(',')}`, 'extendedKeyUsage=serverAuth', 'keyUsage=critical,digitalSignature,keyEncipherment', ''].join('\n'));
      await run('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', String(serial++), '-days', '2', '-sha256', '-extfile', ext, '-out', certFile]);
      return { certFile, keyFile };
    },
  };
}
