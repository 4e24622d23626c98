/**
 * Runs demo/sdk-consumer.ts (the official SDK) in a child process with exactly the given
 * environment, so nothing from the demo's own environment (a stray ANTHROPIC_API_KEY, say)
 * can shadow the profile the agent wrote.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SDK_CONSUMER = fileURLToPath(new URL('./sdk-consumer.ts', import.meta.url));
const SDK_CALL_TIMEOUT_MS = 30_000;

export type SdkCallResult = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly error: string };

export function callMessagesWithSdk(env: Readonly<Record<string, string>>, signal: AbortSignal): Promise<SdkCallResult> {
  const child = spawn(process.execPath, [SDK_CONSUMER], { env: { ...env }, stdio: ['ignore', 'pipe', 'pipe'], signal, timeout: SDK_CALL_TIMEOUT_MS });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, killedBy) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(line) as SdkCallResult);
      } catch {
        const why = killedBy === null ? `exited with code ${String(code)}` : `was stopped by ${killedBy}`;
        reject(new Error(`the SDK consumer ${why} without a result: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      }
    });
  });
}
