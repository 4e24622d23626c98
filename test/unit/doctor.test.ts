/**
 * doctor's pure core: one observation (environment, file snapshots, uid, time) in, one
 * report out. Tests run as root, so other uids and modes are modelled in the observation.
 */
import { describe, expect, it } from 'vitest';
import type { FileSnapshot } from '../../doctor/credential-resolution.ts';
import { formatRoughDuration } from '../../runtime/time-format.ts';
import { diagnose, doctorPathsToObserve, type DoctorObservation, type DoctorReport, type DoctorSettings, type Finding } from '../../doctor/doctor-diagnosis.ts';
import { formatDoctorText } from '../../doctor/doctor-report.ts';
import type { Env } from '../../runtime/config.ts';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const NOW_S = NOW / 1000;
const APP_UID = 1000;
const OUT = '/var/run/anthropic';
const SA_TOKEN = '/var/run/secrets/anthropic.com/token';
const ACCESS_TOKEN = 'sk-ant-oat01-never-printed';

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function jwt(claims: Record<string, unknown>): string {
  return `${base64url({ alg: 'RS256', kid: 'k1' })}.${base64url(claims)}.c2lnbmF0dXJl`;
}

const GOOD_CLAIMS = {
  iss: 'https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE',
  sub: 'system:serviceaccount:team-a:summarizer',
  aud: ['https://api.anthropic.com'],
  exp: NOW_S + 480,
  iat: NOW_S - 120,
  jti: 'b4f1c3f2-0000-4000-8000-000000000001',
};

interface Owner {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

function file(path: string, content: string, owner: Owner = {}): FileSnapshot {
  return { path, kind: 'file', mode: owner.mode ?? 0o600, uid: owner.uid ?? APP_UID, gid: owner.gid ?? APP_UID, content };
}

function dir(path: string, owner: Owner = {}): FileSnapshot {
  return { path, kind: 'directory', mode: owner.mode ?? 0o755, uid: owner.uid ?? APP_UID, gid: owner.gid ?? APP_UID };
}

function credentials(expiresAt: number): string {
  return JSON.stringify({ version: '1.0', type: 'oauth_token', access_token: ACCESS_TOKEN, expires_at: expiresAt });
}

function profile(credentialsPath = `${OUT}/credentials/default.json`): string {
  return JSON.stringify({
    version: '1.0',
    authentication: { type: 'user_oauth', credentials_path: credentialsPath },
    organization_id: '00000000-0000-4000-8000-000000000000',
  });
}

function state(outcome: string, atMs = NOW - 60_000): string {
  return JSON.stringify({ version: 1, assertionKey: 'ab'.repeat(32), hasJti: true, outcome, atMs });
}

/** The output directory as the agent leaves it, with overrides by path (undefined removes a file). */
function outputFiles(overrides: Record<string, FileSnapshot | undefined> = {}): FileSnapshot[] {
  const files: Record<string, FileSnapshot | undefined> = {
    [OUT]: dir(OUT),
    [`${OUT}/credentials`]: dir(`${OUT}/credentials`),
    [`${OUT}/configs`]: dir(`${OUT}/configs`),
    [`${OUT}/token`]: file(`${OUT}/token`, ACCESS_TOKEN),
    [`${OUT}/credentials/default.json`]: file(`${OUT}/credentials/default.json`, credentials(NOW_S + 3000)),
    [`${OUT}/configs/default.json`]: file(`${OUT}/configs/default.json`, profile(), { mode: 0o644 }),
    [`${OUT}/.anthropic-wif-state.json`]: file(`${OUT}/.anthropic-wif-state.json`, state('accepted')),
    ...overrides,
  };
  return Object.values(files).filter((f): f is FileSnapshot => f !== undefined);
}

function identityFiles(content = jwt(GOOD_CLAIMS), owner: Owner = { mode: 0o644, uid: 0, gid: 0 }): FileSnapshot[] {
  return [dir('/var/run/secrets/anthropic.com', { uid: 0, gid: 0 }), file(SA_TOKEN, content, owner)];
}

const SIDECAR_ENV = {
  HOME: '/home/nonroot',
  ANTHROPIC_FEDERATION_RULE_ID: 'fdrl_01abc',
  ANTHROPIC_ORGANIZATION_ID: '00000000-0000-4000-8000-000000000000',
  ANTHROPIC_IDENTITY_TOKEN_FILE: SA_TOKEN,
  ANTHROPIC_WIF_OUTPUT_DIR: OUT,
};

const FILE_APP_ENV = { HOME: '/home/app', ANTHROPIC_CONFIG_DIR: OUT, ANTHROPIC_ACCESS_TOKEN_FILE: `${OUT}/token` };

const PROXY_APP_ENV = { HOME: '/home/app', ANTHROPIC_BASE_URL: 'http://127.0.0.1:8423', ANTHROPIC_AUTH_TOKEN: 'managed-by-anthropic-wif' };

function settingsFor(env: Env): DoctorSettings {
  return { outputDir: env.ANTHROPIC_WIF_OUTPUT_DIR, identityTokenFile: env.ANTHROPIC_IDENTITY_TOKEN_FILE, expectedAudience: 'https://api.anthropic.com' };
}

interface Scenario {
  readonly env: Env;
  readonly files: readonly FileSnapshot[];
  readonly uid?: number;
  readonly agent?: DoctorObservation['agent'];
}

function run(scenario: Scenario): DoctorReport {
  const observation: DoctorObservation = {
    env: scenario.env,
    nowMs: NOW,
    identity: { uid: scenario.uid ?? APP_UID, gids: [scenario.uid ?? APP_UID] },
    files: new Map(scenario.files.map((f) => [f.path, f])),
    agent: scenario.agent,
  };
  return diagnose(observation, settingsFor(scenario.env));
}

function codes(report: DoctorReport): string[] {
  return report.findings.map((f) => `${f.severity}:${f.code}`);
}

function finding(report: DoctorReport, code: string): Finding | undefined {
  return report.findings.find((f) => f.code === code);
}

// ---------------------------------------------------------------------------------------

describe('doctor: healthy setups', () => {
  it.each([
    {
      name: 'sidecar',
      scenario: { env: SIDECAR_ENV, files: [...outputFiles(), ...identityFiles()] },
      want: ['info:sidecar', 'ok:access-token-valid', 'ok:identity-token-valid', 'ok:last-exchange-accepted'],
    },
    {
      name: 'file-mode app container',
      scenario: { env: FILE_APP_ENV, files: outputFiles() },
      want: ['ok:sdk-credential', 'ok:access-token-valid', 'ok:last-exchange-accepted'],
    },
    { name: 'proxy-mode app container', scenario: { env: PROXY_APP_ENV, files: [] }, want: ['ok:proxy-mode'] },
    {
      name: 'sdk-mode app container',
      scenario: {
        env: {
          ANTHROPIC_FEDERATION_RULE_ID: 'fdrl_01abc',
          ANTHROPIC_ORGANIZATION_ID: '00000000-0000-4000-8000-000000000000',
          ANTHROPIC_IDENTITY_TOKEN_FILE: SA_TOKEN,
          ANTHROPIC_CONFIG_DIR: '/var/run/secrets/anthropic.com',
        },
        files: identityFiles(),
      },
      want: ['ok:sdk-credential', 'info:sdk-exchanges-itself', 'ok:identity-token-valid'],
    },
  ])('$name: healthy, with exactly these checks', ({ scenario, want }) => {
    const report = run(scenario);
    expect(codes(report)).toEqual(want);
    expect(report.healthy).toBe(true);
  });

  it('reports the facts of a healthy sidecar and never a token', () => {
    const report = run({ env: SIDECAR_ENV, files: [...outputFiles(), ...identityFiles()] });
    expect(report.role).toBe('sidecar');
    expect(report.identityToken).toEqual({
      source: SA_TOKEN,
      iss: GOOD_CLAIMS.iss,
      sub: GOOD_CLAIMS.sub,
      aud: ['https://api.anthropic.com'],
      expiresAt: '2026-01-01T12:08:00.000Z',
      secondsLeft: 480,
      hasJti: true,
      audienceMatches: true,
      expired: false,
      rotationDueAt: '2026-01-01T12:06:00.000Z',
      rotationOverdueSeconds: -360,
    });
    expect(report.accessToken).toEqual({ path: `${OUT}/credentials/default.json`, expiresAt: '2026-01-01T12:50:00.000Z', secondsLeft: 3000 });
    expect(report.lastExchange).toEqual({ outcome: 'accepted', at: '2026-01-01T11:59:00.000Z' });
    expect(report.credential.choice).toBe('federation-env');
    const printed = JSON.stringify(report) + formatDoctorText(report);
    expect(printed).not.toContain(ACCESS_TOKEN);
    expect(printed).not.toContain(jwt(GOOD_CLAIMS).split('.')[1]);
  });

  it('explains the file-mode app container choice step by step', () => {
    const report = run({ env: FILE_APP_ENV, files: outputFiles() });
    expect(report.credential).toEqual({
      choice: 'profile',
      summary: `profile "default" (${OUT}/configs/default.json): the access token in ${OUT}/credentials/default.json`,
      why: [
        'ANTHROPIC_API_KEY is unset',
        'ANTHROPIC_AUTH_TOKEN is unset',
        `the config directory is ${OUT} (from ANTHROPIC_CONFIG_DIR)`,
        'ANTHROPIC_PROFILE is unset and the federation variables are not all set',
        `${OUT}/active_config does not exist, so the profile is "default"`,
        `${OUT}/configs/default.json is a user_oauth profile reading the access token from ${OUT}/credentials/default.json`,
      ],
    });
  });
});

describe('doctor: shadowing and credential choice', () => {
  it.each([
    {
      name: 'a shadowing ANTHROPIC_API_KEY',
      env: { ...FILE_APP_ENV, ANTHROPIC_API_KEY: 'sk-ant-api03-stray' },
      code: 'shadowed-by-api-key',
      message:
        'ANTHROPIC_API_KEY is set in this container, so the SDKs send that static key and silently ignore workload identity (auth token, profile and federation variables all come after it)',
      fix: 'remove ANTHROPIC_API_KEY from this container (check env and envFrom Secrets in the pod spec); the webhook warns about it at admission',
    },
    {
      name: 'a shadowing ANTHROPIC_AUTH_TOKEN',
      env: { ...FILE_APP_ENV, ANTHROPIC_AUTH_TOKEN: 'sk-ant-oat01-pasted' },
      code: 'shadowed-by-auth-token',
      message: 'ANTHROPIC_AUTH_TOKEN is set in this container, so the SDKs send that static token and silently ignore the profile and the federation variables',
      fix: 'remove ANTHROPIC_AUTH_TOKEN from this container (check env and envFrom Secrets in the pod spec); the webhook warns about it at admission',
    },
    {
      name: 'the proxy placeholder without the loopback proxy',
      env: { ANTHROPIC_AUTH_TOKEN: 'managed-by-anthropic-wif', ANTHROPIC_BASE_URL: 'https://api.anthropic.com' },
      code: 'placeholder-without-proxy',
      message:
        'ANTHROPIC_AUTH_TOKEN is the proxy placeholder "managed-by-anthropic-wif", but ANTHROPIC_BASE_URL (https://api.anthropic.com) is not the loopback proxy, so the placeholder itself would be sent and rejected with 401',
      fix: 'set ANTHROPIC_BASE_URL to the proxy (http://127.0.0.1:8423 by default), as the webhook does in proxy mode, and do not override it in the container',
    },
    {
      name: 'ANTHROPIC_PROFILE naming a missing profile',
      env: { ...FILE_APP_ENV, ANTHROPIC_PROFILE: 'prod' },
      code: 'sdk-config-error',
      message: `an SDK here fails: ANTHROPIC_PROFILE names the profile "prod", but ${OUT}/configs/prod.json does not exist`,
      fix: 'fix or remove the file or variable named above',
    },
    {
      name: 'no config directory at all',
      env: {},
      code: 'no-credential',
      message:
        'an SDK here finds no credential (there is no config directory, so the SDK reads no profile and no federation variables) and fails with "Could not resolve authentication method"',
      fix: 'check that the pod was injected (anthropic.workload.identity/inject: "true") and that this container was not skipped; in file mode ANTHROPIC_CONFIG_DIR must point at the shared volume',
    },
  ])('$name: exit 1 with "$code"', ({ env, code, message, fix }) => {
    const report = run({ env, files: outputFiles() });
    expect(report.healthy).toBe(false);
    expect(finding(report, code)).toEqual({ code, severity: 'problem', section: 'credential', message, fix });
  });

  it('treats empty and blank variables as unset, as the SDKs do', () => {
    const report = run({ env: { ...FILE_APP_ENV, ANTHROPIC_API_KEY: '', ANTHROPIC_AUTH_TOKEN: '  ' }, files: outputFiles() });
    expect(codes(report)).toEqual(['ok:sdk-credential', 'ok:access-token-valid', 'ok:last-exchange-accepted']);
  });

  it('does not judge the SDK view in the sidecar, where no app runs', () => {
    const report = run({ env: { ...SIDECAR_ENV, ANTHROPIC_API_KEY: 'sk-ant-api03-x' }, files: [...outputFiles(), ...identityFiles()] });
    expect(report.healthy).toBe(true);
    expect(report.credential.choice).toBe('api-key');
  });
});

describe('doctor: unreadable files', () => {
  it('a 0600 file owned by another uid is a problem, with the modes and uids in the message', () => {
    const report = run({ env: FILE_APP_ENV, files: outputFiles(), uid: 2000 });
    expect(report.healthy).toBe(false);
    expect(report.findings.filter((f) => f.code === 'file-unreadable').map((f) => f.message)).toEqual([
      `${OUT}/credentials/default.json (mode 0600, owner uid 1000) is not readable by this process (uid 2000)`,
      `${OUT}/token (mode 0600, owner uid 1000) is not readable by this process (uid 2000)`,
    ]);
    expect(finding(report, 'file-unreadable')?.fix).toBe(
      'run the sidecar and the app containers as the same uid: declare runAsUser on the app containers (the webhook then runs the sidecar as that uid), or read as root',
    );
    expect(report.files.find((f) => f.path === `${OUT}/token`)).toEqual({
      path: `${OUT}/token`,
      role: 'token',
      kind: 'file',
      mode: '0600',
      uid: 1000,
      gid: 1000,
      readable: false,
    });
  });

  it('a file readable through its group is fine', () => {
    const files = outputFiles({
      [`${OUT}/token`]: file(`${OUT}/token`, ACCESS_TOKEN, { mode: 0o640, uid: 1000, gid: 3000 }),
      [`${OUT}/credentials/default.json`]: file(`${OUT}/credentials/default.json`, credentials(NOW_S + 3000), { mode: 0o640, uid: 1000, gid: 3000 }),
    });
    const report = diagnose(
      { env: { ...PROXY_APP_ENV, ANTHROPIC_ACCESS_TOKEN_FILE: `${OUT}/token` }, nowMs: NOW, identity: { uid: 2000, gids: [3000] }, files: new Map(files.map((f) => [f.path, f])) },
      settingsFor({}),
    );
    expect(codes(report)).toEqual(['ok:proxy-mode', 'ok:access-token-valid', 'warning:token-file-mode', 'info:no-exchange-record']);
    expect(finding(report, 'token-file-mode')?.message).toBe(`${OUT}/token has mode 0640, not 0600: other users in the pod may read the token`);
  });

  it('root reads anything, but the SDKs warn about a foreign owner', () => {
    const report = run({ env: FILE_APP_ENV, files: outputFiles(), uid: 0 });
    expect(report.healthy).toBe(true);
    expect(finding(report, 'credentials-owner')).toEqual({
      code: 'credentials-owner',
      severity: 'warning',
      section: 'files',
      message: `${OUT}/credentials/default.json is owned by uid 1000, not by this process (uid 0); the SDKs warn about it on every read`,
      fix: 'run the sidecar and the app containers as the same uid: declare runAsUser on the app containers (the webhook then runs the sidecar as that uid), or read as root',
    });
  });

  it('a group/world-readable credentials file is refused by the SDKs', () => {
    const files = outputFiles({ [`${OUT}/credentials/default.json`]: file(`${OUT}/credentials/default.json`, credentials(NOW_S + 3000), { mode: 0o644 }) });
    const report = run({ env: FILE_APP_ENV, files });
    expect(report.healthy).toBe(false);
    expect(finding(report, 'credentials-mode')).toEqual({
      code: 'credentials-mode',
      severity: 'problem',
      section: 'files',
      message: `${OUT}/credentials/default.json is group/world-readable (mode 0644), so the SDKs refuse to use it`,
      fix: `chmod 600 ${OUT}/credentials/default.json (the agent writes it 0600; something else changed it)`,
    });
  });

  it('a directory this uid cannot enter makes everything below it unreadable', () => {
    const files = outputFiles({ [OUT]: dir(OUT, { mode: 0o700, uid: 1000 }) });
    const report = run({ env: FILE_APP_ENV, files, uid: 2000 });
    expect(report.healthy).toBe(false);
    expect(finding(report, 'file-unreadable')?.message).toBe(`directory ${OUT} (mode 0700, owner uid 1000) cannot be entered by this process (uid 2000)`);
  });

  it('an identity token this uid cannot read', () => {
    const report = run({ env: SIDECAR_ENV, files: [...outputFiles(), ...identityFiles(jwt(GOOD_CLAIMS), { mode: 0o600, uid: 0, gid: 0 })] });
    expect(finding(report, 'identity-token-unreadable')).toEqual({
      code: 'identity-token-unreadable',
      severity: 'problem',
      section: 'identity-token',
      message: `${SA_TOKEN} (mode 0600, owner uid 0) is not readable by this process (uid 1000)`,
      fix: "the kubelet writes the projected token readable by the pod's runAsUser / fsGroup: run this container as that uid, or set fsGroup",
    });
  });
});

describe('doctor: the identity token', () => {
  it.each([
    {
      name: 'expired',
      content: jwt({ ...GOOD_CLAIMS, exp: NOW_S - 600 }),
      code: 'identity-token-expired',
      message: `the identity token in ${SA_TOKEN} expired at 2026-01-01T11:50:00.000Z (10m 0s ago); the token endpoint rejects it`,
    },
    {
      name: 'expiring this very second',
      content: jwt({ ...GOOD_CLAIMS, exp: NOW_S }),
      code: 'identity-token-expired',
      message: `the identity token in ${SA_TOKEN} expired at 2026-01-01T12:00:00.000Z (in 0s); the token endpoint rejects it`,
    },
    {
      name: 'for another audience',
      content: jwt({ ...GOOD_CLAIMS, aud: ['https://kubernetes.default.svc'] }),
      code: 'identity-token-audience',
      message: "the identity token's audience is https://kubernetes.default.svc, not https://api.anthropic.com",
    },
    { name: 'empty', content: '\n', code: 'identity-token-empty', message: `the identity token in ${SA_TOKEN} is empty` },
    { name: 'not a JWT', content: 'hello', code: 'identity-token-malformed', message: `the identity token in ${SA_TOKEN} is not a JWT` },
  ])('$name: exit 1 with "$code"', ({ content, code, message }) => {
    const report = run({ env: SIDECAR_ENV, files: [...outputFiles(), ...identityFiles(content)] });
    expect(report.healthy).toBe(false);
    expect(codes(report).filter((c) => c.startsWith('problem:'))).toEqual([`problem:${code}`]);
    expect(finding(report, code)?.message).toBe(message);
  });

  it('an expired identity token names the kubelet rotation in its fix', () => {
    const report = run({ env: SIDECAR_ENV, files: [...outputFiles(), ...identityFiles(jwt({ ...GOOD_CLAIMS, exp: NOW_S - 1 }))] });
    expect(finding(report, 'identity-token-expired')?.fix).toBe(
      "the kubelet replaces a projected token at 80 % of its lifetime: an expired one means this file is not a live projected token, or the kubelet stopped refreshing it (look at the node and the pod's volumes)",
    );
    expect(report.identityToken?.expired).toBe(true);
  });

  it.each([
    { name: 'just past 80 % (within the kubelet sync grace)', iat: NOW_S - 2900, exp: NOW_S + 700, stale: false },
    { name: 'well past 80 %', iat: NOW_S - 3240, exp: NOW_S + 360, stale: true },
  ])('a token $name: stale warning $stale', ({ iat, exp, stale }) => {
    const report = run({ env: SIDECAR_ENV, files: [...outputFiles(), ...identityFiles(jwt({ ...GOOD_CLAIMS, iat, exp }))] });
    expect(report.healthy).toBe(true);
    expect(finding(report, 'identity-token-stale')).toEqual(
      stale
        ? {
            code: 'identity-token-stale',
            severity: 'warning',
            section: 'identity-token',
            message: `the kubelet should have replaced the identity token in ${SA_TOKEN} at 2026-01-01T11:54:00.000Z (80 % of its lifetime, 6m 0s ago) and has not; it expires at 2026-01-01T12:06:00.000Z`,
            fix: "the kubelet refreshes projected tokens on its volume sync: a stale one means this file is not a projected volume, or the kubelet is not syncing this pod's volumes (look at the node)",
          }
        : undefined,
    );
  });

  it('a missing identity token file', () => {
    const report = run({ env: SIDECAR_ENV, files: outputFiles() });
    expect(finding(report, 'identity-token-missing')).toEqual({
      code: 'identity-token-missing',
      severity: 'problem',
      section: 'identity-token',
      message: `the identity token file ${SA_TOKEN} does not exist`,
      fix: 'check that the anthropic-identity-token projected volume is mounted here (the webhook mounts it only in the sidecar, and in app containers in sdk mode)',
    });
  });
});

describe('doctor: the output directory and the access token', () => {
  it('a missing output directory in the sidecar: exit 1, one precise problem', () => {
    const report = run({ env: SIDECAR_ENV, files: identityFiles() });
    expect(report.healthy).toBe(false);
    expect(codes(report)).toEqual(['info:sidecar', 'problem:output-dir-missing', 'ok:identity-token-valid']);
    expect(finding(report, 'output-dir-missing')).toEqual({
      code: 'output-dir-missing',
      severity: 'problem',
      section: 'access-token',
      message: `the output directory ${OUT} does not exist`,
      fix: `mount the anthropic-credentials volume (an in-memory emptyDir) at ${OUT} in this container, as the webhook does, or pass --output-dir with the right path`,
    });
  });

  it('a missing shared volume in a file-mode app container is reported once, as the config directory', () => {
    const report = run({ env: FILE_APP_ENV, files: [] });
    expect(codes(report)).toEqual(['problem:config-dir-missing', 'problem:no-credential']);
    expect(finding(report, 'config-dir-missing')?.message).toBe(`ANTHROPIC_CONFIG_DIR is ${OUT}, which does not exist in this container, so the SDKs find no profile there`);
  });

  it('reports the missing shared volume once when ANTHROPIC_CONFIG_DIR ends in a slash', () => {
    const report = run({ env: { ...FILE_APP_ENV, ANTHROPIC_CONFIG_DIR: `${OUT}/` }, files: [] });
    expect(codes(report)).toEqual(['problem:config-dir-missing', 'problem:no-credential']);
  });

  it.each([
    { name: 'expired', expiresAt: NOW_S - 10, severity: 'problem', code: 'access-token-expired', message: `the access token in ${OUT}/credentials/default.json expired at 2026-01-01T11:59:50.000Z (10s ago)` },
    {
      name: 'under the SDKs 30 s limit',
      expiresAt: NOW_S + 20,
      severity: 'problem',
      code: 'access-token-expired',
      message: `the access token in ${OUT}/credentials/default.json expires at 2026-01-01T12:00:20.000Z (in 20s): under the SDKs' 30 s limit, so they refuse it`,
    },
    {
      name: 'inside the 120 s window',
      expiresAt: NOW_S + 100,
      severity: 'warning',
      code: 'access-token-expiring',
      message: `the access token in ${OUT}/credentials/default.json expires at 2026-01-01T12:01:40.000Z (in 1m 40s), inside the SDKs' 120 s refresh window; the agent normally replaces it well before`,
    },
  ])('an access token $name', ({ expiresAt, severity, code, message }) => {
    const files = outputFiles({ [`${OUT}/credentials/default.json`]: file(`${OUT}/credentials/default.json`, credentials(expiresAt)) });
    const report = run({ env: FILE_APP_ENV, files });
    expect(finding(report, code)).toMatchObject({ severity, message });
    expect(report.healthy).toBe(severity !== 'problem');
  });

  it('no token on disk yet', () => {
    const files = outputFiles({ [`${OUT}/credentials/default.json`]: undefined, [`${OUT}/token`]: undefined });
    const report = run({ env: SIDECAR_ENV, files: [...files, ...identityFiles()] });
    expect(codes(report).filter((c) => c.startsWith('problem:'))).toEqual(['problem:access-token-missing']);
    expect(finding(report, 'access-token-missing')?.message).toBe(
      `${OUT}/credentials/default.json does not exist: the agent has not written a token yet, or removed it when the last one expired`,
    );
  });

  it('a profile that points at another path than the credentials', () => {
    const files = outputFiles({ [`${OUT}/configs/default.json`]: file(`${OUT}/configs/default.json`, profile('/anthropic/credentials/default.json'), { mode: 0o644 }) });
    const report = run({ env: SIDECAR_ENV, files: [...files, ...identityFiles()] });
    expect(finding(report, 'profile-path-mismatch')?.message).toBe(
      `${OUT}/configs/default.json points at /anthropic/credentials/default.json, but the credentials are at ${OUT}/credentials/default.json`,
    );
  });
});

describe('doctor: the last exchange and the agent', () => {
  it('a rejected last exchange is a problem naming the token claims to compare with the rule', () => {
    const files = outputFiles({ [`${OUT}/.anthropic-wif-state.json`]: file(`${OUT}/.anthropic-wif-state.json`, state('rejected')) });
    const report = run({ env: SIDECAR_ENV, files: [...files, ...identityFiles()] });
    expect(report.healthy).toBe(false);
    expect(finding(report, 'last-exchange-rejected')).toEqual({
      code: 'last-exchange-rejected',
      severity: 'problem',
      section: 'exchange',
      message: 'the token endpoint rejected the last assertion (401) at 2026-01-01T11:59:00.000Z (1m 0s ago)',
      fix: `look up the reason in the Anthropic Console's authentication history; usually the federation rule's subject or audience does not match the token (this token: sub system:serviceaccount:team-a:summarizer, aud https://api.anthropic.com, iss ${GOOD_CLAIMS.iss}), the issuer's JWKS is outdated, a workspace id is required, or the assertion was replayed`,
    });
  });

  it.each([
    {
      agent: { address: '127.0.0.1:8424', ready: true, exchanges: { success: 3, failure: 1 } },
      want: { code: 'agent-ready', severity: 'ok', message: 'the agent at 127.0.0.1:8424 reports ready; exchanges so far: 3 succeeded, 1 failed' },
    },
    { agent: { address: '127.0.0.1:8424', ready: false }, want: { code: 'agent-not-ready', severity: 'warning', message: 'the agent at 127.0.0.1:8424 reports not ready' } },
    {
      agent: { address: '127.0.0.1:8424', error: 'ECONNREFUSED' },
      want: { code: 'agent-unreachable', severity: 'info', message: "the agent's health listener at 127.0.0.1:8424 did not answer (ECONNREFUSED)" },
    },
  ])('agent probe $agent', ({ agent, want }) => {
    const report = run({ env: SIDECAR_ENV, files: [...outputFiles(), ...identityFiles()], agent });
    expect(report.findings.at(-1)).toEqual({ ...want, section: 'agent' });
    expect(report.healthy).toBe(true);
  });
});

describe('doctor: what the shell observes', () => {
  it('follows the profile to its credentials file', () => {
    const env = { ANTHROPIC_CONFIG_DIR: '/cfg' };
    const first = doctorPathsToObserve(settingsFor(env), env, new Map());
    expect(first).toEqual(['/cfg', '/cfg/active_config', '/cfg/configs/default.json']);
    const files = new Map<string, FileSnapshot>([
      ['/cfg', dir('/cfg')],
      ['/cfg/active_config', file('/cfg/active_config', 'work\n')],
    ]);
    expect(doctorPathsToObserve(settingsFor(env), env, files)).toEqual(['/cfg', '/cfg/active_config', '/cfg/configs/work.json']);
    files.set('/cfg/configs/work.json', file('/cfg/configs/work.json', profile('/elsewhere/creds.json')));
    expect(doctorPathsToObserve(settingsFor(env), env, files)).toEqual(['/cfg', '/cfg/active_config', '/cfg/configs/work.json', '/elsewhere/creds.json']);
  });

  it('adds the output directory files and the identity token in the sidecar', () => {
    expect(doctorPathsToObserve(settingsFor(SIDECAR_ENV), { ANTHROPIC_WIF_OUTPUT_DIR: OUT }, new Map())).toEqual([
      OUT,
      `${OUT}/credentials`,
      `${OUT}/configs`,
      `${OUT}/token`,
      `${OUT}/credentials/default.json`,
      `${OUT}/configs/default.json`,
      `${OUT}/.anthropic-wif-state.json`,
      SA_TOKEN,
    ]);
  });
});

describe('doctor: text report', () => {
  it.each([
    { seconds: 0, want: '0s' },
    { seconds: 59, want: '59s' },
    { seconds: 560, want: '9m 20s' },
    { seconds: -3725, want: '1h 2m' },
  ])('formatRoughDuration($seconds) = $want', ({ seconds, want }) => {
    expect(formatRoughDuration(seconds)).toBe(want);
  });

  it('prints a healthy sidecar', () => {
    const report = run({ env: SIDECAR_ENV, files: [...outputFiles(), ...identityFiles()] });
    expect(formatDoctorText(report)).toBe(
      [
        'anthropic-wif doctor (sidecar container) at 2026-01-01T12:00:00.000Z, uid 1000: healthy',
        '',
        'Credential an SDK would use here:',
        '  the federation variables: the SDK exchanges the identity token itself',
        '  because:',
        '    - ANTHROPIC_API_KEY is unset',
        '    - ANTHROPIC_AUTH_TOKEN is unset',
        '    - the config directory is /home/nonroot/.config/anthropic (from HOME)',
        '    - ANTHROPIC_FEDERATION_RULE_ID, ANTHROPIC_ORGANIZATION_ID and an identity token are set: the SDK exchanges the identity token itself',
        '',
        `Identity token (${SA_TOKEN}):`,
        `  iss  ${GOOD_CLAIMS.iss}`,
        '  sub  system:serviceaccount:team-a:summarizer',
        '  aud  https://api.anthropic.com (matches)',
        '  exp  2026-01-01T12:08:00.000Z (in 8m 0s)',
        '  jti  present (single-use)',
        '',
        `Access token (${OUT}/credentials/default.json): expires 2026-01-01T12:50:00.000Z (in 50m 0s)`,
        '',
        'Last exchange: accepted at 2026-01-01T11:59:00.000Z',
        '',
        'Files (as seen by uid 1000):',
        `  0755  uid 1000   gid 1000   readable         ${OUT} (output directory)`,
        `  0600  uid 1000   gid 1000   readable         ${OUT}/credentials/default.json (credentials)`,
        `  0600  uid 1000   gid 1000   readable         ${OUT}/token (token)`,
        `  0644  uid 1000   gid 1000   readable         ${OUT}/configs/default.json (profile)`,
        `  0644  uid 0      gid 0      readable         ${SA_TOKEN} (identity token)`,
        `  0600  uid 1000   gid 1000   readable         ${OUT}/.anthropic-wif-state.json (agent state)`,
        '',
        'Checks:',
        "  info     this is the sidecar (ANTHROPIC_WIF_OUTPUT_DIR is set): the agent is the one exchanger here, so the SDK's view above is for reference only; run doctor in an app container to check what the app uses",
        `  ok       the access token in ${OUT}/credentials/default.json is valid until 2026-01-01T12:50:00.000Z (in 50m 0s)`,
        `  ok       the identity token (iss ${GOOD_CLAIMS.iss}, sub system:serviceaccount:team-a:summarizer) is valid until 2026-01-01T12:08:00.000Z (in 8m 0s) with audience https://api.anthropic.com`,
        '  ok       the last exchange was accepted at 2026-01-01T11:59:00.000Z (1m 0s ago)',
        '',
      ].join('\n'),
    );
  });

  it('prints each problem with its fix and the count in the headline', () => {
    const report = run({ env: { ...FILE_APP_ENV, ANTHROPIC_API_KEY: 'sk-ant-api03-stray' }, files: outputFiles() });
    const text = formatDoctorText(report);
    expect(text.split('\n')[0]).toBe('anthropic-wif doctor (app container) at 2026-01-01T12:00:00.000Z, uid 1000: 1 problem');
    expect(text).toContain(
      '  PROBLEM  ANTHROPIC_API_KEY is set in this container, so the SDKs send that static key and silently ignore workload identity (auth token, profile and federation variables all come after it)\n           fix: remove ANTHROPIC_API_KEY from this container',
    );
    expect(text).not.toContain('sk-ant-api03-stray');
  });
});
