/**
 * The agent's proxy (agent/proxy/proxy.ts, `startProxy`) in a process of its own, in front of
 * `upstreamUrl`, with a fixed token that does not expire during the run (the refresher is
 * not under test). Logs at info level to stdout as the agent does; prints `{"port":N}`.
 *
 * `node bench/support/proxy-process.ts <upstreamUrl>`
 */
import { startProxy } from '../../agent/proxy/proxy.ts';
import { systemClock } from '../../runtime/clock.ts';
import { createLogger } from '../../runtime/logger.ts';

const upstreamUrl = process.argv[2];
if (upstreamUrl === undefined) {
  console.error('usage: node bench/support/proxy-process.ts <upstreamUrl>');
  process.exit(2);
}
const token = { accessToken: 'sk-ant-oat01-benchmark-token', expiresAtMs: Date.now() + 24 * 3600 * 1000 };
const logger = createLogger({ name: 'anthropic-wif-agent' });
const proxy = await startProxy({ listen: { host: '127.0.0.1', port: 0 }, upstreamUrl, currentToken: () => token, clock: systemClock, logger });
process.stdout.write(`${JSON.stringify({ port: proxy.address.port })}\n`);
process.on('SIGTERM', () => {
  void proxy.close();
});
