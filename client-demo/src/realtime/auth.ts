// What the app sends as the Socket.IO handshake `auth`.
//
// When the server runs with `--dev-auth`, `POST /auth/dev-token {name}` answers
// `{token, expires_in}` and the app connects with `auth: {token}` (needed when
// the namespace is private). When the endpoint answers 404 (no --dev-auth), the
// app connects as a guest with `auth: {name}`. The token is asked for before
// the first connect, again before any reconnect when it is about to expire,
// and again after the server refuses it with `token_expired:` or ends a
// connected socket with the notice `error {code: "token_expired"}`.

/** Renew a token this long before it expires (clocks differ, requests take time). */
export const TOKEN_RENEW_MARGIN_MS = 30_000;

export type Credentials =
  | { kind: 'token'; token: string; expiresAt: number }
  | { kind: 'guest' };

/** The endpoint's answer: an HTTP status and its JSON body, or null when the request failed. */
export type DevTokenAnswer = { status: number; body: unknown } | null;

/**
 * Decides from the answer of `POST /auth/dev-token` how to authenticate.
 * 200 with a token: use it. 404 (no dev auth on this server), a failed request
 * or any other answer: a guest, named in the handshake (the server then says
 * itself why it refuses, e.g. `token_missing` or `invalid_name`).
 */
export function decideCredentials(answer: DevTokenAnswer, now: number): Credentials {
  if (!answer || answer.status !== 200) return { kind: 'guest' };
  const body = answer.body as { token?: unknown; expires_in?: unknown } | null;
  if (!body || typeof body.token !== 'string' || body.token === '') return { kind: 'guest' };
  const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 0;
  return { kind: 'token', token: body.token, expiresAt: now + seconds * 1000 };
}

/** The handshake `auth` for these credentials. */
export function handshakeAuth(name: string, credentials: Credentials): { token: string } | { name: string } {
  return credentials.kind === 'token' ? { token: credentials.token } : { name };
}

/** Whether to ask for a token (again) before connecting. */
export function needsToken(credentials: Credentials | null, now: number, marginMs = TOKEN_RENEW_MARGIN_MS): boolean {
  if (!credentials) return true;
  return credentials.kind === 'token' && credentials.expiresAt - marginMs <= now;
}

/** Whether a `connect_error` says the token expired (then: a new token, and connect again). */
export function isTokenExpired(err: { message?: string; data?: unknown } | null | undefined): boolean {
  const data = err?.data as { code?: unknown } | undefined;
  if (data?.code === 'token_expired') return true;
  return (err?.message ?? '').trim().startsWith('token_expired:');
}

/**
 * Whether an `error` event is the server's notice that the socket's token expired while it
 * was connected (a namespace disconnect follows; then: a new token, and connect again).
 */
export function isExpiryNotice(payload: unknown): boolean {
  return (payload as { code?: unknown } | null | undefined)?.code === 'token_expired';
}

export type DevTokenFetcher = (name: string) => Promise<DevTokenAnswer>;

/** `POST {url}/auth/dev-token {name}`; null when the request itself failed. */
export function devTokenFetcher(url: string, fetchImpl: typeof fetch = (...args) => fetch(...args)): DevTokenFetcher {
  return async (name) => {
    try {
      const res = await fetchImpl(`${url}/auth/dev-token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
        cache: 'no-store',
        credentials: 'omit',
      });
      const body: unknown = await res.json().catch(() => null);
      return { status: res.status, body };
    } catch {
      return null;
    }
  };
}

/**
 * The credentials of one signed-in person: asked for once, renewed when about
 * to expire or when refused as expired. Concurrent connects (/chat and
 * /notifications) share one request.
 */
export class DevTokenAuth {
  private credentials: Credentials | null = null;
  private pending: Promise<Credentials> | null = null;

  constructor(
    private readonly name: string,
    private readonly fetchToken: DevTokenFetcher,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** The handshake `auth` to send now, with a fresh token when one is due. */
  async handshake(): Promise<{ token: string } | { name: string }> {
    return handshakeAuth(this.name, await this.current());
  }

  /** Forgets the token, so the next handshake asks for a new one (after `token_expired`). */
  invalidate(): void {
    if (this.credentials?.kind === 'token') this.credentials = null;
  }

  /** Whether the last answer gave a token (false for guests and before the first answer). */
  get usesToken(): boolean {
    return this.credentials?.kind === 'token';
  }

  private current(): Promise<Credentials> {
    if (!needsToken(this.credentials, this.now())) return Promise.resolve(this.credentials as Credentials);
    if (!this.pending) {
      this.pending = this.fetchToken(this.name)
        .then((answer) => (this.credentials = decideCredentials(answer, this.now())))
        .finally(() => (this.pending = null));
    }
    return this.pending;
  }
}
