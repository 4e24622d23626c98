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
