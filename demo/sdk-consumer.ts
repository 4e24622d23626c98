/**
 * The application: one Messages call with the official SDK, configured by nothing but its
 * environment (the app container's, as the webhook injected it). Prints one JSON line:
 * `{"ok":true,"text":…}` or `{"ok":false,"error":…}`. The SDK never puts a token in an error.
 */
import Anthropic from '@anthropic-ai/sdk';

const client = new Anthropic({ maxRetries: 0, timeout: 15_000 });
try {
  const message = await client.messages.create({
    model: process.env.MODEL ?? 'claude-sonnet-4-5',
    max_tokens: 64,
    messages: [{ role: 'user', content: 'Say hello from Kubernetes in five words.' }],
  });
  const first = message.content[0];
  process.stdout.write(`${JSON.stringify({ ok: true, text: first?.type === 'text' ? first.text : '' })}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ ok: false, error: error instanceof Error ? error.message : String(error) })}\n`);
  process.exitCode = 1;
}
