/** The package version; a unit test keeps it equal to package.json's. */
export const VERSION = '0.1.0';

/** Sent as User-Agent on every outbound call this project makes. */
export const USER_AGENT = `anthropic-workload-identity/${VERSION} (anthropic-wif; node/${process.versions.node})`;
