import { describe, expect, it, vi } from 'vitest';
import {
  DevTokenAuth,
  TOKEN_RENEW_MARGIN_MS,
  decideCredentials,
  devTokenFetcher,
  handshakeAuth,
  isExpiryNotice,
  isTokenExpired,
  needsToken,
} from './auth';
import type { DevTokenAnswer } from './auth';

const NOW = 1_700_000_000_000;

describe('decideCredentials', () => {
  it('uses the token when the endpoint answers 200', () => {
    expect(decideCredentials({ status: 200, body: { token: 'abc', expires_in: 900 } }, NOW)).toEqual({
      kind: 'token',
      token: 'abc',
      expiresAt: NOW + 900_000,
    });
  });

  it('falls back to a guest when the endpoint answers 404 (no --dev-auth)', () => {
    expect(decideCredentials({ status: 404, body: null }, NOW)).toEqual({ kind: 'guest' });
  });

  it('is a guest when the request failed, the answer is another status, or has no token', () => {
    expect(decideCredentials(null, NOW)).toEqual({ kind: 'guest' });
    expect(decideCredentials({ status: 400, body: { error: { code: 'bad_request' } } }, NOW)).toEqual({ kind: 'guest' });
    expect(decideCredentials({ status: 500, body: null }, NOW)).toEqual({ kind: 'guest' });
    expect(decideCredentials({ status: 200, body: { expires_in: 900 } }, NOW)).toEqual({ kind: 'guest' });
    expect(decideCredentials({ status: 200, body: { token: '' } }, NOW)).toEqual({ kind: 'guest' });
    expect(decideCredentials({ status: 200, body: 'token' }, NOW)).toEqual({ kind: 'guest' });
  });

  it('counts a token without a lifetime as already due for renewal', () => {
    const c = decideCredentials({ status: 200, body: { token: 't' } }, NOW);
    expect(c).toEqual({ kind: 'token', token: 't', expiresAt: NOW });
    expect(needsToken(c, NOW)).toBe(true);
  });
});

describe('handshakeAuth, needsToken and isTokenExpired', () => {
  it('sends {token} with a token and {name} as a guest', () => {
    expect(handshakeAuth('Ada', { kind: 'token', token: 't', expiresAt: NOW })).toEqual({ token: 't' });
    expect(handshakeAuth('Ada', { kind: 'guest' })).toEqual({ name: 'Ada' });
  });

  it('asks for a token first, and again shortly before it expires; never for a guest', () => {
    expect(needsToken(null, NOW)).toBe(true);
    expect(needsToken({ kind: 'guest' }, NOW)).toBe(false);
    const token = { kind: 'token' as const, token: 't', expiresAt: NOW + 60_000 };
    expect(needsToken(token, NOW)).toBe(false);
    expect(needsToken(token, NOW + 60_000 - TOKEN_RENEW_MARGIN_MS - 1)).toBe(false);
    expect(needsToken(token, NOW + 60_000 - TOKEN_RENEW_MARGIN_MS)).toBe(true);
  });

  it('recognises the server refusing an expired token', () => {
    expect(isTokenExpired(new Error('token_expired: the token has expired'))).toBe(true);
    expect(isTokenExpired({ message: 'the token has expired', data: { code: 'token_expired' } })).toBe(true);
    expect(isTokenExpired(new Error('token_invalid: bad signature'))).toBe(false);
    expect(isTokenExpired(new Error('token_missing: this namespace requires a token'))).toBe(false);
    expect(isTokenExpired(null)).toBe(false);
  });

  it('recognises the notice that a connected socket\'s token expired', () => {
    expect(isExpiryNotice({ code: 'token_expired', message: 'the token has expired: connect again with a new one' })).toBe(true);
    expect(isExpiryNotice({ code: 'rate_limited', message: 'slow down' })).toBe(false);
    expect(isExpiryNotice('token_expired')).toBe(false);
    expect(isExpiryNotice(null)).toBe(false);
    expect(isExpiryNotice(undefined)).toBe(false);
  });
});

describe('DevTokenAuth', () => {
  it('asks once for /chat and /notifications connecting together, and reuses the token', async () => {
    const fetchToken = vi.fn(async (): Promise<DevTokenAnswer> => ({ status: 200, body: { token: 't1', expires_in: 900 } }));
    const auth = new DevTokenAuth('Ada', fetchToken, () => NOW);
    expect(await Promise.all([auth.handshake(), auth.handshake()])).toEqual([{ token: 't1' }, { token: 't1' }]);
    expect(await auth.handshake()).toEqual({ token: 't1' });
    expect(fetchToken).toHaveBeenCalledTimes(1);
    expect(fetchToken).toHaveBeenCalledWith('Ada');
    expect(auth.usesToken).toBe(true);
  });

  it('renews the token when it is about to expire and after invalidate()', async () => {
    let now = NOW;
    let n = 0;
    const fetchToken = vi.fn(async (): Promise<DevTokenAnswer> => ({ status: 200, body: { token: `t${++n}`, expires_in: 60 } }));
    const auth = new DevTokenAuth('Ada', fetchToken, () => now);
    expect(await auth.handshake()).toEqual({ token: 't1' });
    now += 60_000 - TOKEN_RENEW_MARGIN_MS;
    expect(await auth.handshake()).toEqual({ token: 't2' });
    auth.invalidate();
    expect(await auth.handshake()).toEqual({ token: 't3' });
    expect(fetchToken).toHaveBeenCalledTimes(3);
  });

  it('is a guest for good once the endpoint answers 404', async () => {
    const fetchToken = vi.fn(async (): Promise<DevTokenAnswer> => ({ status: 404, body: null }));
    const auth = new DevTokenAuth('Ada', fetchToken, () => NOW);
    expect(await auth.handshake()).toEqual({ name: 'Ada' });
    auth.invalidate();
    expect(await auth.handshake()).toEqual({ name: 'Ada' });
    expect(fetchToken).toHaveBeenCalledTimes(1);
    expect(auth.usesToken).toBe(false);
  });
});

describe('devTokenFetcher', () => {
  it('POSTs {name} as JSON and returns the status and body', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const fetchImpl = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({ token: 't', expires_in: 900 }), { status: 200 });
    }) as unknown as typeof fetch;
    expect(await devTokenFetcher('https://chat.example.com', fetchImpl)('Ada')).toEqual({
      status: 200,
      body: { token: 't', expires_in: 900 },
    });
    expect(calls[0].url).toBe('https://chat.example.com/auth/dev-token');
    expect(calls[0].init.method).toBe('POST');
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ name: 'Ada' });
  });

  it('gives the status of a 404 without a JSON body, and null when the request fails', async () => {
    const notFound = (async () => new Response('Not Found', { status: 404 })) as unknown as typeof fetch;
    expect(await devTokenFetcher('', notFound)('Ada')).toEqual({ status: 404, body: null });
    const failing = (async () => {
      throw new TypeError('network');
    }) as unknown as typeof fetch;
    expect(await devTokenFetcher('', failing)('Ada')).toBeNull();
  });
});
