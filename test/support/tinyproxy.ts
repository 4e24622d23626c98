/**
 * A real HTTP forward proxy for egress tests: Debian's tinyproxy, started in the foreground
 * on 127.0.0.1 with a generated config. It binds its outgoing connections to 127.0.0.1, so a
 * stand-in on a local non-loopback test address (hostAddress) can tell a relayed connection (from
 * 127.0.0.1) from a direct one (from that address). Not installed means the test fails: CI
 * installs it (.ci/run), and an egress test that silently skipped would prove nothing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface Tinyproxy {
  /** `http://127.0.0.1:<port>`, without credentials. */
  readonly url: string;
  readonly port: number;
  /** Everything it logged so far. */
  log(): string;
  /** The `CONNECT host:port` targets it was asked for, in order. */
  connects(): string[];
  close(): Promise<void>;
}

export interface TinyproxyOptions {
  /** Ports CONNECT may reach (besides 443). */
  readonly connectPorts: readonly number[];
  /** Require Proxy-Authorization basic with these credentials. */
  readonly basicAuth?: { readonly user: string; readonly password: string };
}

export function requireTinyproxy(): string {
  const found = spawnSync('sh', ['-c', 'command -v tinyproxy'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') {
    throw new Error('tinyproxy is not installed (apt-get install tinyproxy; .ci/run installs it): the egress proxy tests need a real forward proxy');
  }
  return path;
}

/** A bridge with no ports, made by the tests: its address exists only on this machine and no route leads anywhere. */
const TEST_INTERFACE = 'awi-egress0';
const TEST_ADDRESS = '10.245.0.1';

/**
 * A non-loopback address of this host for the stand-ins (the agent never proxies loopback
 * targets): TEST_ADDRESS on a port-less bridge the tests create once (root; iproute2), so that
 * nothing listens on an address another machine could reach.
 */
export function hostAddress(): string {
  const shown = spawnSync('ip', ['-4', '-o', 'addr', 'show', 'dev', TEST_INTERFACE], { encoding: 'utf8' });
  if (shown.status === 0 && shown.stdout.includes(`${TEST_ADDRESS}/`)) return TEST_ADDRESS;
  for (const args of [['link', 'add', TEST_INTERFACE, 'type', 'bridge'], ['addr', 'add', `${TEST_ADDRESS}/32`, 'dev', TEST_INTERFACE], ['link', 'set', TEST_INTERFACE, 'up']]) {
    const done = spawnSync('ip', args, { encoding: 'utf8' });
    if (done.status !== 0 && !done.stderr.includes('File exists')) {
      throw new Error(`the egress proxy tests need the local test address ${TEST_ADDRESS} on a bridge ${TEST_INTERFACE} (run as root with iproute2): ip ${args.join(' ')}: ${done.stderr.trim()}`);
    }
  }
  return TEST_ADDRESS;
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  return port;
}

export async function startTinyproxy(dir: string, options: TinyproxyOptions): Promise<Tinyproxy> {
  const binary = requireTinyproxy();
  const port = await freePort();
  const config = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Bind 127.0.0.1',
    'Timeout 30',
    'MaxClients 20',
    'Allow 127.0.0.1',
    'ConnectPort 443',
    ...options.connectPorts.map((p) => `ConnectPort ${p}`),
    'LogLevel Info',
    ...(options.basicAuth === undefined ? [] : [`BasicAuth ${options.basicAuth.user} ${options.basicAuth.password}`]),
  ];
  const file = join(dir, `tinyproxy-${port}.conf`);
  await writeFile(file, `${config.join('\n')}\n`);
  const child: ChildProcess = spawn(binary, ['-d', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  const deadline = Date.now() + 10_000;
  while (!output.includes('Accepting connections')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tinyproxy did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log: () => output,
    connects: () => [...output.matchAll(/Request \(file descriptor \d+\): CONNECT (\S+) HTTP/g)].map((m) => m[1] ?? ''),
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
