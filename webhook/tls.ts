/**
 * The serving certificate, re-read when its files change and swapped into the running
 * server with `setSecureContext`: no restart, no dropped request. Kubernetes Secret mounts
 * change by swapping a `..data` symlink in the mount directory, so the directory is watched
 * (fs.watch), with a periodic stat poll as a fallback for filesystems without events.
 * So is the client CA bundle, when client authentication is on. A set that fails to load is
 * logged and the previous one kept.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions, type SecureVersion } from 'node:tls';
import { describeError } from '../runtime/errors.ts';
import type { Logger } from '../runtime/logger.ts';

export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM bundle of the CA(s) that sign the API server's client certificate (client authentication). */
  readonly clientCaFile?: string | undefined;
}

/** A validated pair, with what operators need to recognise it (never the key). */
export interface LoadedCertificate {
  readonly options: SecureContextOptions;
  readonly serialNumber: string;
  readonly subject: string;
  readonly validTo: string;
  readonly fingerprint256: string;
  /** Subjects of the client CA certificates, when client authentication is on. */
  readonly clientCaSubjects?: readonly string[] | undefined;
}

export const CERTIFICATE_POLL_INTERVAL_MS = 10_000;
/** Several events arrive for one Secret update; one reload after they settle is enough. */
const WATCH_DEBOUNCE_MS = 50;

/**
 * The suites the webhook offers: TLS 1.3's (all forward secret) and, on TLS 1.2, only ECDHE
 * with an AEAD cipher, for ECDSA and RSA certificates. Node's default list also offers static
 * RSA key exchange (AES128-SHA, …), whose recorded traffic a later key leak would decrypt.
 */
export const WEBHOOK_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export function tlsMinVersion(setting: '1.2' | '1.3'): SecureVersion {
  return setting === '1.3' ? 'TLSv1.3' : 'TLSv1.2';
}

/** Reads and validates a pair: throws when a file is unreadable, not PEM, or the key does not match. */
export async function loadCertificate(files: CertificateFiles, minVersion: SecureVersion): Promise<LoadedCertificate> {
  const [cert, key, ca] = await Promise.all([readFile(files.certFile), readFile(files.keyFile), files.clientCaFile === undefined ? undefined : readFile(files.clientCaFile)]);
  const clientCaSubjects = ca === undefined ? undefined : caSubjects(ca, files.clientCaFile ?? '');
  const options: SecureContextOptions = { cert, key, minVersion, ciphers: WEBHOOK_CIPHERS, ...(ca === undefined ? {} : { ca }) };
  // Builds a throwaway context: OpenSSL checks the PEM and that key and certificate match.
  createSecureContext(options);
  const leaf = new X509Certificate(cert);
  return { options, serialNumber: leaf.serialNumber, subject: leaf.subject.replaceAll('\n', ', '), validTo: leaf.validTo, fingerprint256: leaf.fingerprint256, clientCaSubjects };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a CA bundle; throws when it holds none, or one is not a CA. */
function caSubjects(bundle: Buffer, file: string): string[] {
  const blocks = bundle.toString('utf8').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error(`the client CA file ${file} holds no PEM certificate`);
  return blocks.map((block) => {
    const certificate = new X509Certificate(block);
    if (!certificate.ca) throw new Error(`the client CA file ${file} holds a certificate that is not a CA (${certificate.subject.replaceAll('\n', ', ')})`);
    return certificate.subject.replaceAll('\n', ', ');
  });
}

export interface CertificateReloaderOptions {
  readonly files: CertificateFiles;
  readonly minVersion: SecureVersion;
  readonly logger: Logger;
  /** Installs a newly loaded pair (server.setSecureContext). */
  readonly install: (certificate: LoadedCertificate) => void;
  readonly pollIntervalMs?: number;
}

export interface CertificateReloader {
  /** True once a pair has been installed. */
  isLoaded(): boolean;
  /** Re-reads the files now (also what the watcher and the poll call); never throws. */
  reload(): Promise<void>;
  close(): void;
}

function sameBuffer(a: unknown, b: unknown): boolean {
  return (a === undefined && b === undefined) || (Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b));
}

function sameBytes(a: SecureContextOptions | undefined, b: SecureContextOptions): boolean {
  return a !== undefined && Buffer.isBuffer(a.cert) && sameBuffer(a.cert, b.cert) && Buffer.isBuffer(a.key) && sameBuffer(a.key, b.key) && sameBuffer(a.ca, b.ca);
}

function watchedFiles(files: CertificateFiles): string[] {
  return [files.certFile, files.keyFile, ...(files.clientCaFile === undefined ? [] : [files.clientCaFile])];
}

async function fileSignature(files: CertificateFiles): Promise<string> {
  const parts = await Promise.all(
    watchedFiles(files).map(async (file) => {
      try {
        const s = await stat(file);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch (error) {
        return `missing:${describeError(error)}`;
      }
    }),
  );
  return parts.join('|');
}

/**
 * Loads the pair now and on every change. Reloads never overlap: a change during a reload
 * triggers one more reload after it.
 */
export async function startCertificateReloader(options: CertificateReloaderOptions): Promise<CertificateReloader> {
  const { files, logger } = options;
  let current: LoadedCertificate | undefined;
  let lastError: string | undefined;
  let running: Promise<void> | undefined;
  let requested = 0;
  let signature = '';

  const loadOnce = async (): Promise<void> => {
    signature = await fileSignature(files);
    try {
      const loaded = await loadCertificate(files, options.minVersion);
      lastError = undefined;
      if (sameBytes(current?.options, loaded.options)) return;
      options.install(loaded);
      logger.info({ serialNumber: loaded.serialNumber, subject: loaded.subject, validTo: loaded.validTo, certFile: files.certFile, clientCaSubjects: loaded.clientCaSubjects }, current === undefined ? 'serving certificate loaded' : 'serving certificate reloaded');
      current = loaded;
    } catch (error) {
      const message = describeError(error);
      // A Secret update can show a new certificate before its key: log each distinct failure once.
      if (message !== lastError) logger.error({ err: message, certFile: files.certFile, keyFile: files.keyFile, clientCaFile: files.clientCaFile, keptPrevious: current !== undefined }, 'serving certificate could not be loaded');
      lastError = message;
    }
  };
  const drain = async (): Promise<void> => {
    let handled = 0;
    while (handled < requested) {
      handled = requested;
      await loadOnce();
    }
    running = undefined;
  };
  const reload = (): Promise<void> => {
    requested += 1;
    running ??= drain();
    return running;
  };

  await reload();
  let debounce: NodeJS.Timeout | undefined;
  const onEvent = (): void => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void reload(), WATCH_DEBOUNCE_MS);
  };
  const watchers = watchDirectories(files, onEvent, logger);
  const poll = setInterval(() => {
    void fileSignature(files).then((next) => (next === signature ? undefined : reload()));
  }, options.pollIntervalMs ?? CERTIFICATE_POLL_INTERVAL_MS);
  poll.unref();

  return {
    isLoaded: () => current !== undefined,
    reload,
    close: () => {
      clearTimeout(debounce);
      clearInterval(poll);
      for (const watcher of watchers) watcher.close();
    },
  };
}

function watchDirectories(files: CertificateFiles, onEvent: () => void, logger: Logger): FSWatcher[] {
  const directories = [...new Set(watchedFiles(files).map((file) => dirname(file)))];
  const watchers: FSWatcher[] = [];
  for (const directory of directories) {
    try {
      const watcher = watch(directory, { persistent: false }, onEvent);
      watcher.on('error', (error) => {
        logger.warn({ err: describeError(error), directory }, 'watching the certificate directory failed; polling only');
        watcher.close();
      });
      watchers.push(watcher);
    } catch (error) {
      logger.warn({ err: describeError(error), directory }, 'cannot watch the certificate directory; polling only');
    }
  }
  return watchers;
}
