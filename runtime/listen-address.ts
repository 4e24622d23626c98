import type { AddressInfo, Server } from 'node:net';
import { WifError, describeError } from './errors.ts';

/** Where a server listens: `host:port`, `[ipv6]:port`, or `:port` for every interface. */
export interface ListenAddress {
  /** Undefined listens on every interface. */
  readonly host: string | undefined;
  readonly port: number;
}

export const LISTEN_ADDRESS_EXPECTED = 'host:port, [ipv6]:port or :port with a port from 0 to 65535';

const LISTEN = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/;

/** Parses a listen address; throws an Error saying what is expected (for the config parser). */
export function parseListenAddress(raw: string): ListenAddress {
  const match = LISTEN.exec(raw);
  const port = Number(match?.[3]);
  if (match === null || port > 65_535) throw new Error(LISTEN_ADDRESS_EXPECTED);
  const host = match[1] ?? match[2];
  return { host: host === undefined || host === '' ? undefined : host, port };
}

/** A listen address with its host given (the proxy must name a loopback host). */
export interface HostListenAddress extends ListenAddress {
  readonly host: string;
}

/** Starts `server` listening; a failure (address in use, no such address) rejects with a WifError naming the address. */
export function listenOn(server: Server, listen: ListenAddress, name = 'server'): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(new WifError('listen', `${name === 'server' ? '' : `${name} `}cannot listen on ${listen.host ?? ''}:${String(listen.port)}: ${describeError(error)}`));
    };
    server.once('error', onError);
    server.listen({ host: listen.host, port: listen.port }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}
