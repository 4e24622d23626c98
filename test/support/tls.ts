/**
 * Test PKI through the `openssl` CLI: a throwaway CA and serving certificates for
 * 127.0.0.1 / localhost with chosen serial numbers, plus a Secret-mount directory that
 * changes the way the kubelet changes it (a `..data` symlink swap), for reload tests.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DATA_DIR_LINK } from './kubelet-token-file.ts';

const run = promisify(execFile);

export interface TestCa {
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
}

export interface ServingCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  /** Upper-case hex, as Node reports it (X509Certificate, getPeerCertificate). */
  readonly serialNumber: string;
}

export interface ServingCertificateOptions {
  /** Positive; printed as hex by OpenSSL and Node. */
  readonly serial: bigint;
  readonly commonName?: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Extended key usage; default serverAuth. A client certificate (the API server's) is clientAuth. */
  readonly usage?: 'serverAuth' | 'clientAuth';
}

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  await run('openssl', [...args], { cwd });
}

/** A P-256 CA valid for a day, in `dir`. */
export async function createTestCa(dir: string): Promise<TestCa> {
  await mkdir(dir, { recursive: true });
  await openssl(
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=anthropic-wif test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return { certFile: join(dir, 'ca.crt'), keyFile: join(dir, 'ca.key'), certPem: await readFile(join(dir, 'ca.crt'), 'utf8') };
}

/** A serving (or, with `usage: 'clientAuth'`, client) certificate signed by `ca`, for 127.0.0.1 and localhost unless told otherwise. */
export async function issueServingCertificate(ca: TestCa, options: ServingCertificateOptions): Promise<ServingCertificate> {
  const work = await mkdtemp(join(ca.certFile, '..', 'issue-'));
  try {
    const dns = options.dnsNames ?? ['localhost'];
    const ips = options.ipAddresses ?? ['127.0.0.1'];
    const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((ip) => `IP:${ip}`)].join(',');
    await writeFile(join(work, 'ext.cnf'), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${options.usage ?? 'serverAuth'}\nsubjectAltName=${san}\n`);
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', `/CN=${options.commonName ?? 'localhost'}`], work);
    await openssl(
      ['x509', '-req', '-in', 'tls.csr', '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${options.serial.toString(16)}`, '-days', '1', '-extfile', 'ext.cnf', '-out', 'tls.crt'],
      work,
    );
    const certPem = await readFile(join(work, 'tls.crt'), 'utf8');
    const keyPem = await readFile(join(work, 'tls.key'), 'utf8');
    return { certPem, keyPem, serialNumber: new X509Certificate(certPem).serialNumber };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export interface SecretVolume {
  readonly dir: string;
  /** `<dir>/<name>`: the stable path a program is configured with. */
  path(name: string): string;
  /** Writes every file into a new timestamped directory and swaps `..data` to it atomically. */
  update(files: Readonly<Record<string, string>>): Promise<void>;
}

/**
 * A Secret volume as the kubelet's AtomicWriter lays it out: `<dir>/<file> -> ..data/<file>`,
 * `..data -> ..<timestamp>`; an update renames a fresh `..data_tmp` link over `..data`, so
 * all files change together, then removes the previous timestamped directory.
 */
export async function createSecretVolume(dir: string, files: Readonly<Record<string, string>>): Promise<SecretVolume> {
  await mkdir(dir, { recursive: true });
  let generation = 0;
  const update = async (next: Readonly<Record<string, string>>): Promise<void> => {
    const previous = await readlink(join(dir, DATA_DIR_LINK)).catch(() => undefined);
    generation += 1;
    const payloadName = `..${new Date().toISOString().replace(/[-:.TZ]/g, '_')}${generation}`;
    await mkdir(join(dir, payloadName));
    for (const [name, content] of Object.entries(next)) await writeFile(join(dir, payloadName, name), content, { mode: 0o644 });
    const tmpLink = join(dir, '..data_tmp');
    await rm(tmpLink, { force: true });
    await symlink(payloadName, tmpLink);
    await rename(tmpLink, join(dir, DATA_DIR_LINK));
    for (const name of Object.keys(next)) {
      await symlink(join(DATA_DIR_LINK, name), join(dir, name)).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      });
    }
    if (previous !== undefined) await rm(join(dir, previous), { recursive: true, force: true });
  };
  await update(files);
  return { dir, path: (name) => join(dir, name), update };
}
