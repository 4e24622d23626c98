/**
 * The logger's safety net: censorSecrets replaces the value of every secret-named key in the
 * first four levels of a record (the record's own keys and three levels below), copying only
 * what it changes; createLogger applies it to every line and to bindings.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CENSOR, SECRET_KEYS, censorSecrets, createLogger } from '../../runtime/logger.ts';

function capture(): { destination: Writable; lines: () => Record<string, unknown>[] } {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { destination, lines: () => text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('censorSecrets', () => {
  it.each([
    { name: 'a top-level secret', record: { token: 't', ok: 1 }, want: { token: CENSOR, ok: 1 } },
    { name: 'one level down', record: { request: { authorization: 'Bearer x', path: '/' } }, want: { request: { authorization: CENSOR, path: '/' } } },
    { name: 'two levels down', record: { a: { headers: { 'x-api-key': 'k', accept: '*/*' } } }, want: { a: { headers: { 'x-api-key': CENSOR, accept: '*/*' } } } },
    { name: 'three levels down', record: { a: { b: { c: { password: 'p' } } } }, want: { a: { b: { c: { password: CENSOR } } } } },
    { name: 'in an array element', record: { list: [{ apiKey: 'k' }, 'plain'] }, want: { list: [{ apiKey: CENSOR }, 'plain'] } },
    { name: 'a secret-named object as a whole', record: { assertion: { header: 'h' } }, want: { assertion: CENSOR } },
    { name: 'nothing below the fourth level', record: { a: { b: { c: { d: { token: 't' } } } } }, want: { a: { b: { c: { d: { token: 't' } } } } } },
    { name: 'an undefined secret stays undefined', record: { token: undefined, ok: true }, want: { token: undefined, ok: true } },
  ])('$name', ({ record, want }) => {
    const before = structuredClone(record);
    expect(censorSecrets(record)).toEqual(want);
    expect(record).toEqual(before);
  });

  it('returns the record itself, and the untouched branches themselves, when they hold no secret', () => {
    const clean = { uid: 'u', nested: { a: [1, 2] } };
    const mixed = { clean: clean.nested, dirty: { token: 't' } };
    const censored = censorSecrets(mixed);
    expect([censorSecrets(clean) === clean, censored.clean === clean.nested, censored.dirty === mixed.dirty]).toEqual([true, true, false]);
  });

  it('censors every key in SECRET_KEYS', () => {
    const record = Object.fromEntries([...SECRET_KEYS].map((key) => [key, 'secret']));
    expect(Object.values(censorSecrets(record))).toEqual([...SECRET_KEYS].map(() => CENSOR));
  });

  it('keeps an Error an Error, with its message and stack, when it censors a field of it', () => {
    const error = Object.assign(new Error('boom'), { token: 't', code: 'E1' });
    const censored = censorSecrets({ err: error }).err;
    expect([censored instanceof Error, censored.message, censored.stack, censored.token, censored.code, error.token]).toEqual([true, 'boom', error.stack, CENSOR, 'E1', 't']);
  });
});

describe('createLogger', () => {
  it('censors log records and bindings, and prints the rest as JSON', () => {
    const { destination, lines } = capture();
    const logger = createLogger({ name: 'test', destination });
    logger.child({ authorization: 'Bearer child' }).info({ status: 401, request: { headers: { authorization: 'Bearer x' } } }, 'refused');
    const [line] = lines();
    expect(line).toMatchObject({ level: 'info', name: 'test', authorization: CENSOR, status: 401, request: { headers: { authorization: CENSOR } }, msg: 'refused' });
    expect(JSON.stringify(line)).not.toContain('Bearer');
  });

  it('censors the bindings of a grandchild, which keeps its parents\' bindings', () => {
    const { destination, lines } = capture();
    createLogger({ name: 'test', destination }).child({ component: 'proxy' }).child({ token: 't', request: 7 }).warn('w');
    expect(lines()[0]).toMatchObject({ name: 'test', component: 'proxy', token: CENSOR, request: 7, msg: 'w' });
  });

  it('serializes an error it censored with its type, message and stack', () => {
    const { destination, lines } = capture();
    createLogger({ name: 'test', destination }).error({ err: Object.assign(new Error('boom'), { assertion: 'eyJ' }) }, 'failed');
    const err = lines()[0]?.err as Record<string, unknown>;
    expect([err.type, err.message, typeof err.stack, err.assertion]).toEqual(['Error', 'boom', 'string', CENSOR]);
  });
});
