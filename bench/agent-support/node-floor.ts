/**
 * The floor under the agent's resident memory: a Node process doing the agent's kind of work
 * and nothing else: an HTTP listener on loopback, one https POST (TLS and the CA store
 * loaded), one atomic file write with a random name and a sha256, a one-minute timer. Its
 * memory is what any agent built on Node here must hold, whatever its own code does.
 *
 * Plain JavaScript (an ES module, as dist/ is), written to a temporary `.mjs` file and run
 * with FLOOR_URL (an https URL) and FLOOR_DIR: run from a `.ts` file, Node would load its
 * TypeScript stripper too, and that is not part of the floor.
 */
export const NODE_FLOOR_SOURCE = `
const { createServer } = process.getBuiltinModule('node:http');
const { request } = process.getBuiltinModule('node:https');
const { createHash, randomBytes } = process.getBuiltinModule('node:crypto');
const { rename, writeFile } = process.getBuiltinModule('node:fs/promises');
const path = process.getBuiltinModule('node:path');

const url = process.env.FLOOR_URL ?? '';
const dir = process.env.FLOOR_DIR ?? '';

createServer((req, res) => {
  res.end('ok\\n');
}).listen(0, '127.0.0.1');

await new Promise((resolve) => {
  const req = request(new URL('/v1/oauth/token', url), { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
    res.resume();
    res.on('end', resolve);
  });
  req.on('error', () => {
    resolve();
  });
  req.end('{}');
});

const temp = path.join(dir, \`.token.\${randomBytes(6).toString('hex')}\`);
await writeFile(temp, createHash('sha256').update('floor').digest('hex'), { mode: 0o600 });
await rename(temp, path.join(dir, 'token'));
process.stdout.write('{"msg":"floor ready"}\\n');
setInterval(() => undefined, 60_000);
`;
