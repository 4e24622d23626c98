/**
 * The benchmark's side of the endpoint process (endpoint-process.ts): starts it with
 * `fork` and asks it for projected token directories and fresh JWTs over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EndpointReady, EndpointReply, EndpointRequest } from './endpoint-process.ts';

const ENDPOINT_PROCESS = fileURLToPath(new URL('./endpoint-process.ts', import.meta.url));

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface EndpointWorld {
  readonly ready: EndpointReady;
  readonly pid: number;
  /** A kubelet-style directory under `dir` with a fresh projected token; resolves to the token path. */
  prepareTokenDir(dir: string, lifetimeSeconds: number): Promise<string>;
  mintJwt(lifetimeSeconds: number): Promise<string>;
  stats(): Promise<{ readonly exchanges: number; readonly denials: number }>;
  close(): Promise<void>;
}

export async function startEndpointWorld(): Promise<EndpointWorld> {
  const child: ChildProcess = fork(ENDPOINT_PROCESS, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, (reply: EndpointReply) => void>();
  let nextId = 1;
  const ready = await new Promise<EndpointReady>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      reject(new Error(`the endpoint process exited (${String(code)}) before it was ready`));
    });
    child.on('message', (message: EndpointReady | EndpointReply) => {
      if ('kind' in message) {
        resolve(message);
        return;
      }
      pending.get(message.id)?.(message);
      pending.delete(message.id);
    });
  });
  const ask = (request: WithoutId<EndpointRequest>): Promise<EndpointReply> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      child.send({ ...request, id });
    });
  const expect = <K extends string>(reply: EndpointReply, key: K): Extract<EndpointReply, Record<K, unknown>> => {
    if ('error' in reply) throw new Error(`endpoint process: ${reply.error}`);
    if (!(key in reply)) throw new Error(`endpoint process: no ${key} in ${JSON.stringify(reply)}`);
    return reply as Extract<EndpointReply, Record<K, unknown>>;
  };
  return {
    ready,
    pid: child.pid ?? 0,
    prepareTokenDir: async (dir, lifetimeSeconds) => expect(await ask({ kind: 'prepare-token-dir', dir, lifetimeSeconds }), 'tokenPath').tokenPath,
    mintJwt: async (lifetimeSeconds) => expect(await ask({ kind: 'mint-jwt', lifetimeSeconds }), 'jwt').jwt,
    stats: async () => expect(await ask({ kind: 'stats' }), 'exchanges'),
    close: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      await exited;
    },
  };
}
