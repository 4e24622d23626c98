/** One request outside the measured load: probes, /metrics polls. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface OneRequest {
  readonly url: string;
  readonly method?: 'GET' | 'POST';
  readonly body?: string | Buffer;
  /** PEM CA for an https URL. */
  readonly ca?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface OneAnswer {
  readonly status: number;
  readonly text: string;
}

export function requestOnce(one: OneRequest): Promise<OneAnswer> {
  const url = new URL(one.url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: one.method ?? 'GET', ca: one.ca, headers: { 'content-type': 'application/json', ...one.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(one.body);
  });
}

/** The sum of every series of a Prometheus counter or gauge in an exposition text. */
export function metricSum(exposition: string, name: string): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest.startsWith('{') || rest.startsWith(' ')) sum += Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return sum;
}
