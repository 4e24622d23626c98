/**
 * How the agent's outbound connections are made (the exchange, the `url` identity source and
 * the proxy mode's upstream): which certificates they trust.
 *
 * Pure parts only take what config.ts parsed; nothing here reads the environment or a file.
 */
import { X509Certificate } from 'node:crypto';
import { AgentEnv, AgentFlag } from './contract.ts';

export interface EgressSettings {
  /**
   * PEM certificates trusted in addition to the system roots (`--ca-bundle-file`); empty
   * leaves Node's default trust alone.
   */
  readonly extraCaCertificates: readonly string[];
}

/** Where a message points when an endpoint's certificate is not trusted. */
export const UNTRUSTED_CERTIFICATE_HINT = `if a private CA or a TLS-intercepting proxy signs it, give that CA in ${AgentEnv.caBundleFile} (--${AgentFlag.caBundleFile})`;

export const DIRECT_EGRESS: EgressSettings = Object.freeze({ extraCaCertificates: Object.freeze([]) });

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM bundle, each checked to parse. Throws an Error saying what is
 * wrong without quoting the text (for the config parser's "expected …" message).
 */
export function parsePemCertificates(text: string): readonly string[] {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error('no PEM certificate (-----BEGIN CERTIFICATE-----) in the file');
  blocks.forEach((block, index) => {
    try {
      new X509Certificate(block);
    } catch {
      throw new Error(`certificate ${index + 1} of ${blocks.length} cannot be parsed`);
    }
  });
  return Object.freeze(blocks);
}

/**
 * TLS options for a connection: with extra certificates, `ca` is the system roots plus them
 * (a `ca` option replaces Node's roots, it does not add to them); without, no option at all.
 */
export function tlsTrustOptions(settings: EgressSettings): { readonly ca?: string[] } {
  if (settings.extraCaCertificates.length === 0) return {};
  // Loaded when needed (an extra bundle is rare), as exchange.ts loads node:https.
  const { rootCertificates } = process.getBuiltinModule('node:tls');
  return { ca: [...rootCertificates, ...settings.extraCaCertificates] };
}
