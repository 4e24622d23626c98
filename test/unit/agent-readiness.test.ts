import { describe, expect, it } from 'vitest';
import { notReadyReasons } from '../../agent/main.ts';

describe('notReadyReasons (/readyz)', () => {
  const noToken = 'no access token valid for at least 30 s is on disk yet';
  const noProxy = 'the proxy is not listening';
  it.each([
    { tokenReady: true, proxyWanted: false, proxyListening: false, want: [] },
    { tokenReady: false, proxyWanted: false, proxyListening: false, want: [noToken] },
    { tokenReady: true, proxyWanted: true, proxyListening: false, want: [noProxy] },
    { tokenReady: false, proxyWanted: true, proxyListening: false, want: [noToken, noProxy] },
    { tokenReady: true, proxyWanted: true, proxyListening: true, want: [] },
  ])('token ready $tokenReady, proxy wanted $proxyWanted and listening $proxyListening → $want', ({ want, ...state }) => {
    expect(notReadyReasons(state)).toEqual(want);
  });
});
