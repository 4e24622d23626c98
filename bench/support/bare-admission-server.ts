/**
 * The reference for the webhook's throughput: a bare `node:https` server that only reads
 * the AdmissionReview, parses it, and answers with a fixed patch (the webhook's own patch
 * for the benchmark pod, so both send the same bytes). No framework, no logging, no
 * metrics: the most one Node process can do here with TLS, HTTP and one JSON parse per
 * request. Run as its own process; prints `{"port":N}` once listening.
 *
 * `node bench/support/bare-admission-server.ts <cert.pem> <key.pem> <patch-base64-file>`
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';

const [certFile, keyFile, patchFile] = process.argv.slice(2);
if (certFile === undefined || keyFile === undefined || patchFile === undefined) {
  console.error('usage: node bench/support/bare-admission-server.ts <cert.pem> <key.pem> <patch-base64-file>');
  process.exit(2);
}
const patch = readFileSync(patchFile, 'utf8').trim();

interface Review {
  readonly request?: { readonly uid?: unknown };
}

const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review;
    const body = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: review.request?.uid, allowed: true, patchType: 'JSONPatch', patch },
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
// As the webhook: longer than the API server's 90 s idle timeout.
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
