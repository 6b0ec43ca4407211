import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatClient, TYPING_IDLE_MS, TYPING_REFRESH_MS, healthzNode } from './connection';
import type { ClientOptions, Connection, HandshakeAuth, ResumeAuth, SocketLike } from './connection';
import type { ChatMessage, User } from './types';

type Listener = (...args: any[]) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A socket whose "server" is a function; the test drives connects and drops. */
class FakeSocket implements SocketLike {
  connected = false;
  active = true;
  connectCalls = 0;
  readonly sent: { event: string; payload: any }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  private readonly listeners = new Map<string, Listener[]>();

  constructor(private readonly handle: (event: string, payload: any) => unknown) {} // eslint-disable-line @typescript-eslint/no-explicit-any

  on(event: string, listener: Listener) {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }

  fire(event: string, ...args: unknown[]) {
    for (const l of this.listeners.get(event) ?? []) l(...args);
  }

  timeout() {
    return {
      emitWithAck: async (event: string, payload: unknown) => {
        this.sent.push({ event, payload });
        return this.handle(event, payload);
      },
    };
  }

  connect() {
    this.connectCalls++;
  }

  disconnect() {
    this.connected = false;
    this.active = false;
  }

  serverConnect() {
    this.connected = true;
    this.active = true;
    this.fire('connect');
  }

  serverDrop() {
    this.connected = false;
    this.fire('disconnect', 'transport close');
  }

  sentEvents(name: string) {
    return this.sent.filter((s) => s.event === name).map((s) => s.payload);
  }
}

/** The /chat contract over in-memory rooms, with small pages to exercise paging. */
class FakeChatServer {
  readonly rooms = new Map<string, ChatMessage[]>();
  joinHistory = 2;
  members: User[] = [];

  constructor(private readonly me: User) {}

  post(room: string, from: User, text: string): ChatMessage {
    const list = this.rooms.get(room) ?? [];
    const message = { id: list.length + 1, room, from, text, ts: 1_700_000_000_000 + list.length };
    list.push(message);
    this.rooms.set(room, list);
    return message;
  }

  handle = (event: string, p: any): unknown => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const list = this.rooms.get(p.room) ?? [];
    switch (event) {
      case 'join': {
        if (p.room === 'forbidden') return { ok: false, error: { code: 'too_many_rooms', message: 'Too many rooms.' } };
        const members = [this.me, ...this.members];
        return { ok: true, room: p.room, members, count: members.length, next_cursor: null, messages: list.slice(-this.joinHistory) };
      }
      case 'history': {
        let found = list.filter((m) => (p.after === undefined || m.id > p.after) && (p.before === undefined || m.id < p.before));
        const limit = p.limit ?? this.joinHistory;
        const has_more = found.length > limit;
        found = p.before !== undefined ? found.slice(-limit) : found.slice(0, limit);
        return { ok: true, messages: found, has_more };
      }
      case 'message': {
        const m = this.post(p.room, this.me, p.text);
        return { ok: true, id: m.id, ts: m.ts };
      }
      case 'rooms':
        return { ok: true, rooms: [...this.rooms.keys()].map((room) => ({ room, members: 1 })) };
      default:
        return { ok: true };
    }
  };
}

const alice: User = { id: 'guest:alice', name: 'Alice' };
const bob: User = { id: 'guest:bob', name: 'Bob' };

function setup(extra: Partial<ClientOptions> = {}) {
  const server = new FakeChatServer(alice);
  const chat = new FakeSocket((event, payload) => server.handle(event, payload));
  const notifications = new FakeSocket((_event, p) => ({ ok: true, topics: [p.topic] }));
  const network = new EventTarget();
  let online = true;
  let drops = 0;
  const connection: Connection = {
    chat,
    notifications,
    watchTransport: (listener) => listener('websocket'),
    drop: () => {
      drops++;
      chat.serverDrop();
    },
  };
  let handshake: HandshakeAuth = async () => ({});
  let resume: ResumeAuth = () => ({});
  const client = new ChatClient({
    connect: (_name, auth, resumeAuth) => {
      handshake = auth;
      resume = resumeAuth ?? (() => ({}));
      return connection;
    },
    networkEvents: network,
    isOnline: () => online,
    ...extra,
  });
  return {
    handshake: () => handshake(),
    resume: () => resume(),
    server,
    chat,
    notifications,
    client,
    drops: () => drops,
    goOffline() {
      online = false;
      network.dispatchEvent(new Event('offline'));
    },
    goOnline() {
      online = true;
      network.dispatchEvent(new Event('online'));
    },
  };
}

const ids = (ms: ChatMessage[]) => ms.map((m) => m.id);

describe('ChatClient', () => {
  let t: ReturnType<typeof setup>;
  beforeEach(() => {
    t = setup();
  });
  afterEach(() => {
    t.client.dispose();
    vi.useRealTimers();
  });

  it('joins its rooms once connected', async () => {
    t.server.post('general', bob, 'hello');
    t.client.signIn('Alice', ['general']);
    expect(t.client.getState().status).toBe('connecting');
    t.chat.serverConnect();
    await vi.waitFor(() => expect(t.client.getState().rooms.general.phase).toBe('joined'));
    const s = t.client.getState();
    expect(s).toMatchObject({ status: 'connected', transport: 'websocket', me: alice });
    expect(s.rooms.general.messages.map((m) => m.text)).toEqual(['hello']);
    expect(s.rooms.general.members).toEqual([alice]);
    // Nothing seen before: no catch-up request.
    expect(t.chat.sentEvents('history')).toEqual([]);
  });

  it('after a drop, re-joins and catches up from the last id seen, without duplicates', async () => {
    for (let i = 1; i <= 3; i++) t.server.post('general', bob, `before ${i}`);
    t.client.signIn('Alice', ['general']);
    t.chat.serverConnect();
    await vi.waitFor(() => expect(t.client.getState().rooms.general.phase).toBe('joined'));
    // The join brought the newest two; load the first one as a reader would.
    await t.client.loadOlder('general');
    expect(ids(t.client.getState().rooms.general.messages)).toEqual([1, 2, 3]);

    t.chat.serverDrop();
    expect(t.client.getState().status).toBe('reconnecting');
    expect(t.client.getState().rooms.general.phase).toBe('rejoining');
    for (let i = 4; i <= 8; i++) t.server.post('general', bob, `while away ${i}`);

    t.chat.serverConnect();
    // A live event for a message the catch-up also returns.
    t.chat.fire('message', t.server.rooms.get('general')![7]);
    await vi.waitFor(() => expect(ids(t.client.getState().rooms.general.messages)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]));
    // Paged from 3: (4,5) has_more, (6,7) has_more, (8) done.
    expect(t.chat.sentEvents('history').filter((p) => p.after !== undefined)).toEqual([
      { room: 'general', after: 3 },
      { room: 'general', after: 5 },
      { room: 'general', after: 7 },
    ]);
    expect(t.client.getState().rooms.general.phase).toBe('joined');
  });

  it('after a server restart (ids begin again), shows the new history instead of hiding it', async () => {
    for (let i = 1; i <= 3; i++) t.server.post('general', bob, `old ${i}`);
    t.client.signIn('Alice', ['general']);
    t.chat.serverConnect();
    await vi.waitFor(() => expect(t.client.getState().rooms.general.phase).toBe('joined'));
    t.chat.serverDrop();
    t.server.rooms.clear();
    t.server.post('general', bob, 'new 1');
    t.chat.serverConnect();
    await vi.waitFor(() => expect(t.client.getState().rooms.general.messages.map((m) => m.text)).toEqual(['new 1']));
    expect(t.chat.sentEvents('history').filter((p) => p.after !== undefined)).toEqual([]);
    t.chat.fire('message', t.server.post('general', bob, 'new 2'));
    expect(t.client.getState().rooms.general.messages.map((m) => m.text)).toEqual(['new 1', 'new 2']);
  });

  it('asks again when a join is not acknowledged in time, but sends a message only once', async () => {
    let dropJoins = 2;
    const handle = t.server.handle;
    t.server.handle = (event, p) => {
      if (event === 'join' && dropJoins-- > 0) return Promise.reject(new Error('operation has timed out'));
      if (event === 'message') return Promise.reject(new Error('operation has timed out'));
      return handle(event, p);
    };
    t.client.signIn('Alice', ['general']);
    t.chat.serverConnect();
    await vi.waitFor(() => expect(t.client.getState().rooms.general.phase).toBe('joined'));
    expect(t.chat.sentEvents('join')).toHaveLength(3);
    t.client.send('general', 'once');
    await vi.waitFor(() => expect(t.client.getState().rooms.general.pending[0]?.status).toBe('failed'));
    expect(t.chat.sentEvents('message')).toHaveLength(1);
  });

  it('keeps one copy of its own message (ack and event)', async () => {
    t.client.signIn('Alice', ['general']);
    t.chat.serverConnect();
    await vi.waitFor(() => expect(t.client.getState().rooms.general.phase).toBe('joined'));
    expect(t.client.send('general', 'hi all')).toBeNull();
    expect(t.client.getState().rooms.general.pending).toHaveLength(1);
    t.chat.fire('message', t.server.rooms.get('general')![0]);
    await vi.waitFor(() => expect(t.client.getState().rooms.general.pending).toEqual([]));
    expect(t.client.getState().rooms.general.messages.map((m) => m.text)).toEqual(['hi all']);
  });

  it('does not send while disconnected and does not join twice', async () => {
    t.client.signIn('Alice', ['general']);
    t.chat.serverConnect();
    await vi.waitFor(() => expect(t.client.getState().rooms.general.phase).toBe('joined'));
    expect(t.client.join('general')).toBeNull();
    expect(t.chat.sentEvents('join')).toHaveLength(1);
    t.chat.serverDrop();
    expect(t.client.send('general', 'lost?')).toBe('Not in this room yet.');
    expect(t.chat.sentEvents('message')).toEqual([]);
  });

  it('reports a refused join and a refused name', async () => {
    t.client.signIn('Alice', ['general']);
    t.chat.serverConnect();
    await vi.waitFor(() => expect(t.client.getState().rooms.general.phase).toBe('joined'));
    t.client.join('forbidden');
    await vi.waitFor(() => expect(t.client.getState().notice).toBe('Could not join #forbidden: Too many rooms.'));
    expect(t.client.getState().roomOrder).toEqual(['general']);

    const refused = setup();
    refused.client.signIn('Alice');
    refused.chat.active = false; // what socket.io-client does on a CONNECT_ERROR packet
    // iorelay puts the code in front of the message (socketioxide sends no `data`).
    refused.chat.fire('connect_error', new Error('invalid_name: display names have at most 32 characters'));
    expect(refused.client.getState()).toMatchObject({
      me: null,
      status: 'signed-out',
      lastError: { code: 'invalid_name', message: 'Display names have at most 32 characters' },
    });
    refused.client.dispose();
  });

  it('drops the connection when the browser goes offline, and retries when it is back', async () => {
    t.client.signIn('Alice', ['general']);
    t.chat.serverConnect();
    await vi.waitFor(() => expect(t.client.getState().status).toBe('connected'));
    t.goOffline();
    expect(t.drops()).toBe(1);
    expect(t.client.getState().status).toBe('offline');
    t.chat.active = false;
    t.goOnline();
    expect(t.chat.connectCalls).toBe(1);
    expect(t.client.getState().status).toBe('reconnecting');
  });

  it('sends typing on input, refreshes it, and stops after a pause or on send', async () => {
    t.client.signIn('Alice', ['general']);
    t.chat.serverConnect();
    await vi.waitFor(() => expect(t.client.getState().rooms.general.phase).toBe('joined'));
    vi.useFakeTimers();
    const typing = () => t.chat.sentEvents('typing').map((p) => p.typing);

    t.client.typingInput('general');
    t.client.typingInput('general');
    expect(typing()).toEqual([true]);
    vi.advanceTimersByTime(TYPING_IDLE_MS - 100);
    t.client.typingInput('general');
    vi.advanceTimersByTime(TYPING_IDLE_MS - 100);
    t.client.typingInput('general'); // more than TYPING_REFRESH_MS since the first
    expect(TYPING_IDLE_MS * 2 - 200).toBeGreaterThanOrEqual(TYPING_REFRESH_MS);
    expect(typing()).toEqual([true, true]);
    vi.advanceTimersByTime(TYPING_IDLE_MS);
    expect(typing()).toEqual([true, true, false]);

    t.client.typingInput('general');
    t.client.send('general', 'done');
    expect(typing()).toEqual([true, true, false, true, false]);
    vi.advanceTimersByTime(TYPING_IDLE_MS * 2);
    expect(typing()).toEqual([true, true, false, true, false]);
  });

  it('shows notifications from /notifications as toasts, and resumes from its cursor on each connect', async () => {
    t.client.signIn('Alice', ['general']);
    t.chat.serverConnect();
    // The first handshake names the topics and has no cursor yet.
    expect(t.resume()).toEqual({ topics: ['announcements'] });
    t.notifications.serverConnect();
    t.notifications.fire('caught_up', { recovered: true, missed: 0, positions: { 'user:guest:alice': 10, 'topic:announcements': 3 } });
    expect(t.client.getState().topics).toEqual(['announcements']);
    t.notifications.fire('notification', { id: 'n1', title: 'Deploy finished', body: 'v1.2 is live', data: {}, ts: 1, positions: { 'user:guest:alice': 11 } });
    t.notifications.fire('notification', { id: 'n1', title: 'Deploy finished', body: 'v1.2 is live', data: {}, ts: 1, positions: { 'user:guest:alice': 11 } });
    expect(t.client.getState().toasts.map((x) => x.title)).toEqual(['Deploy finished']);
    t.notifications.serverDrop();
    expect(t.client.getState().topics).toEqual([]);
    // The reconnect's handshake carries the highest position seen per stream.
    expect(t.resume()).toEqual({ topics: ['announcements'], since: { 'user:guest:alice': 11, 'topic:announcements': 3 } });
    t.notifications.serverConnect();
    t.notifications.fire('notification', { id: 'n2', title: 'Missed', body: '', data: {}, ts: 2, positions: { 'topic:announcements': 4 } });
    t.notifications.fire('caught_up', { recovered: false, missed: 1, unrecovered: ['user:guest:alice'], positions: { 'user:guest:alice': 11, 'topic:announcements': 4 } });
    expect(t.client.getState().toasts.map((x) => x.title)).toEqual(['Deploy finished', 'Missed']);
    expect(t.client.getState().notice).toMatch(/no longer available/);
    expect(t.resume()).toEqual({ topics: ['announcements'], since: { 'user:guest:alice': 11, 'topic:announcements': 4 } });
    t.client.dismissToast('n1');
    expect(t.client.getState().toasts.map((x) => x.id)).toEqual(['n2']);
  });

  it('keeps chatting when /notifications refuses the user', async () => {
    t.client.signIn('Alice', ['general']);
    t.chat.serverConnect();
    t.notifications.active = false;
    t.notifications.fire('connect_error', new Error('unauthorized: a token is required'));
    expect(t.client.getState()).toMatchObject({ status: 'connected', notificationsError: 'A token is required', topics: [] });
  });

  it('ignores events of a session that was signed out', async () => {
    t.client.signIn('Alice', ['general']);
    t.chat.serverConnect();
    t.client.signOut();
    t.chat.fire('message', { id: 1, room: 'general', from: bob, text: 'late', ts: 1 });
    expect(t.client.getState()).toMatchObject({ me: null, rooms: {} });
  });
});

describe('node shown in the badge', () => {
  afterEach(() => vi.useRealTimers());

  it('asks which node answered after each connect, and forgets it on a drop', async () => {
    const answers = ['node-a', 'node-b'];
    const fetchNode = vi.fn(async () => answers.shift() ?? null);
    const t = setup({ fetchNode });
    try {
      t.client.signIn('Alice', ['general']);
      expect(t.client.getState().node).toBeNull();
      t.chat.serverConnect();
      await vi.waitFor(() => expect(t.client.getState().node).toBe('node-a'));
      t.chat.serverDrop();
      expect(t.client.getState().node).toBeNull();
      t.chat.serverConnect();
      await vi.waitFor(() => expect(t.client.getState().node).toBe('node-b'));
      expect(fetchNode).toHaveBeenCalledTimes(2);
    } finally {
      t.client.dispose();
    }
  });

  it('ignores an answer that arrives after the connection dropped', async () => {
    let answer: (node: string) => void = () => {};
    const t = setup({ fetchNode: () => new Promise((resolve) => (answer = resolve)) });
    try {
      t.client.signIn('Alice', ['general']);
      t.chat.serverConnect();
      t.chat.serverDrop();
      answer('node-a');
      await Promise.resolve();
      await Promise.resolve();
      expect(t.client.getState().node).toBeNull();
    } finally {
      t.client.dispose();
    }
  });

  it('reads the node from GET /healthz, and gives null when it cannot tell', async () => {
    const reply = (status: number, body: unknown) =>
      (async () => new Response(JSON.stringify(body), { status })) as unknown as typeof fetch;
    expect(await healthzNode('', reply(200, { status: 'ok', node: 'node-a' }))()).toBe('node-a');
    expect(await healthzNode('', reply(200, { status: 'ok' }))()).toBeNull();
    expect(await healthzNode('', reply(503, { status: 'down', node: 'node-a' }))()).toBeNull();
    const failing = (async () => {
      throw new TypeError('network');
    }) as unknown as typeof fetch;
    expect(await healthzNode('', failing)()).toBeNull();
    const seen: string[] = [];
    const recording = (async (input: string) => {
      seen.push(input);
      return new Response('{"node":"n"}');
    }) as unknown as typeof fetch;
    await healthzNode('https://chat.example.com', recording)();
    expect(seen).toEqual(['https://chat.example.com/healthz']);
  });
});

describe('dev token sign-in', () => {
  it('connects as a guest {name} when the server has no dev tokens (404)', async () => {
    const fetchDevToken = vi.fn(async () => ({ status: 404, body: null }));
    const t = setup({ fetchDevToken });
    try {
      t.client.signIn('Alice', ['general']);
      expect(await t.handshake()).toEqual({ name: 'Alice' });
      expect(await t.handshake()).toEqual({ name: 'Alice' });
      expect(fetchDevToken).toHaveBeenCalledTimes(1);
    } finally {
      t.client.dispose();
    }
  });

  it('connects with {token} from POST /auth/dev-token, and renews it when refused as expired', async () => {
    let n = 0;
    const fetchDevToken = vi.fn(async () => ({ status: 200, body: { token: `t${++n}`, expires_in: 900 } }));
    const t = setup({ fetchDevToken });
    try {
      t.client.signIn('Alice', ['general']);
      expect(await t.handshake()).toEqual({ token: 't1' });
      // A reconnect reuses the token while it is valid.
      expect(await t.handshake()).toEqual({ token: 't1' });
      expect(fetchDevToken).toHaveBeenCalledWith('Alice');

      // The server refuses it as expired: socket.io-client gives up on the socket; the client connects again.
      t.chat.active = false;
      t.chat.fire('connect_error', new Error('token_expired: the token has expired'));
      expect(t.chat.connectCalls).toBe(1);
      expect(t.client.getState().status).not.toBe('signed-out');
      expect(t.client.getState().lastError?.code).toBe('token_expired');
      expect(await t.handshake()).toEqual({ token: 't2' });
      t.chat.serverConnect();
      await vi.waitFor(() => expect(t.client.getState().rooms.general.phase).toBe('joined'));
      expect(t.client.getState().status).toBe('connected');

      // /notifications renews it too.
      t.notifications.active = false;
      t.notifications.fire('connect_error', new Error('token_expired: the token has expired'));
      expect(t.notifications.connectCalls).toBe(1);
      expect(await t.handshake()).toEqual({ token: 't3' });
    } finally {
      t.client.dispose();
    }
  });

  it('connects again with a new token when the server ends a socket whose token expired', async () => {
    let n = 0;
    const fetchDevToken = vi.fn(async () => ({ status: 200, body: { token: `t${++n}`, expires_in: 900 } }));
    const t = setup({ fetchDevToken });
    try {
      t.client.signIn('Alice', ['general']);
      expect(await t.handshake()).toEqual({ token: 't1' });
      t.chat.serverConnect();
      await vi.waitFor(() => expect(t.client.getState().rooms.general.phase).toBe('joined'));

      // The server's notice, then its namespace disconnect (after which socket.io-client stays down).
      t.chat.fire('error', { code: 'token_expired', message: 'the token has expired: connect again with a new one' });
      t.chat.connected = false;
      t.chat.active = false;
      t.chat.fire('disconnect', 'io server disconnect');
      expect(t.chat.connectCalls).toBe(1);
      expect(t.client.getState().status).not.toBe('signed-out');
      expect(await t.handshake()).toEqual({ token: 't2' });
      t.chat.serverConnect();
      await vi.waitFor(() => expect(t.client.getState().status).toBe('connected'));

      t.notifications.fire('error', { code: 'token_expired', message: 'expired' });
      t.notifications.fire('disconnect', 'io server disconnect');
      expect(t.notifications.connectCalls).toBe(1);

      // Other server disconnects (and other errors) are not renewals.
      t.chat.fire('error', { code: 'rate_limited', message: 'slow down' });
      t.chat.connected = false;
      t.chat.active = false;
      t.chat.fire('disconnect', 'io server disconnect');
      expect(t.chat.connectCalls).toBe(1);
    } finally {
      t.client.dispose();
    }
  });

  it('gives up after repeated expired refusals without a connect in between', async () => {
    const fetchDevToken = vi.fn(async () => ({ status: 200, body: { token: 't', expires_in: 900 } }));
    const t = setup({ fetchDevToken });
    try {
      t.client.signIn('Alice', ['general']);
      t.chat.active = false;
      for (let i = 0; i < 3; i++) t.chat.fire('connect_error', new Error('token_expired: the token has expired'));
      expect(t.chat.connectCalls).toBe(2);
      expect(t.client.getState().lastError).toMatchObject({ code: 'token_expired' });
      expect(t.client.getState().status).toBe('signed-out');
    } finally {
      t.client.dispose();
    }
  });
});
