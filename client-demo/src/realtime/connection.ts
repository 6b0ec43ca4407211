// The one module that owns the sockets.
//
// `ChatClient` opens /chat and /notifications (multiplexed on one Engine.IO
// connection), keeps the pure state of state.ts up to date from their
// events, and offers the actions the UI needs. After a dropped connection it
// re-joins every room and asks `history {room, after: lastSeenId}` so that no
// message is lost or shown twice. Components read `getState()` (through
// `useSyncExternalStore`) and call the actions; they never touch a socket.

import { io } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { DevTokenAuth, devTokenFetcher, isExpiryNotice, isTokenExpired } from './auth';
import type { DevTokenFetcher } from './auth';
import {
  chatReducer,
  hasExpiring,
  initialState,
  isHistoryReset,
  nextCatchUpCursor,
  parseConnectError,
  planResync,
  validateName,
  validateRoom,
  validateText,
} from './state';
import type { ChatAction, ChatState, TransportName } from './state';
import type {
  Ack,
  CaughtUp,
  ChatClientEvents,
  ChatMessage,
  ChatServerEvents,
  Cursor,
  HistoryReply,
  HistoryRequest,
  JoinReply,
  Notification,
  NotificationClientEvents,
  NotificationServerEvents,
  PresenceEvent,
  RoomsReply,
  SendReply,
  TopicsReply,
  TypingEvent,
} from './types';

/** How long an acknowledgement may take before the request counts as failed. */
export const ACK_TIMEOUT_MS = 5_000;
/** Typing stops counting after this much idle time (or on send). */
export const TYPING_IDLE_MS = 2_000;
/** While typing goes on, `typing: true` is sent again this often (remote sides expire it). */
export const TYPING_REFRESH_MS = 3_000;
/** How often the room directory is refreshed while connected. */
const DIRECTORY_REFRESH_MS = 20_000;
/** Tries of a request that is safe to repeat, when the acknowledgements time out. */
const IDEMPOTENT_ATTEMPTS = 3;
/** Upper bound on catch-up pages per room (each page is up to the server's join history size). */
const MAX_CATCH_UP_PAGES = 100;

// ---------------------------------------------------------------------------
// The sockets, seen through the few members the client uses (so tests can fake them)

type Listener = (...args: any[]) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface SocketLike {
  readonly connected: boolean;
  /** Whether socket.io-client will (re)connect by itself. */
  readonly active: boolean;
  on(event: string, listener: Listener): unknown;
  timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> };
  connect(): unknown;
  disconnect(): unknown;
}

export interface Connection {
  chat: SocketLike;
  notifications: SocketLike;
  /** Calls `listener` with the transport now in use, and again on each change. */
  watchTransport(listener: (name: TransportName | null) => void): void;
  /** Drops the underlying connection now (socket.io-client then reconnects by itself). */
  drop(): void;
}

/** The handshake `auth` for the next connect: `{token}` or, for a guest, `{name}`. */
export type HandshakeAuth = () => Promise<Record<string, unknown>>;

/**
 * What /notifications adds to its handshake: the topics to subscribe to and,
 * after the first connect, the cursor to catch up from (`since`).
 */
export type ResumeAuth = () => Record<string, unknown>;

export type ConnectionFactory = (name: string, auth: HandshakeAuth, resume?: ResumeAuth) => Connection;

export interface ClientOptions {
  /** Server origin; '' (default) means the page's own origin. */
  url?: string;
  /** Opens the sockets; the default uses socket.io-client. */
  connect?: ConnectionFactory;
  /** Where `online`/`offline` events come from; the default is `window` when there is one. */
  networkEvents?: Pick<EventTarget, 'addEventListener' | 'removeEventListener'> | null;
  /** Whether the browser thinks it is online now. */
  isOnline?: () => boolean;
  now?: () => number;
  ackTimeoutMs?: number;
  /** Notification topics to subscribe to on every (re)connect of /notifications. */
  topics?: string[];
  /**
   * Asks which server node answered; called after every connect. The default
   * reads `node` from `GET /healthz` on the socket's origin.
   */
  fetchNode?: () => Promise<string | null>;
  /**
   * Asks for a dev token (`POST /auth/dev-token {name}`). The default asks the
   * server at `url`; with a custom `connect` and no fetcher, the client is a guest.
   */
  fetchDevToken?: DevTokenFetcher;
}

/** How many times in a row a refused, expired token is renewed before giving up. */
const TOKEN_RENEWALS = 2;

/** Reads the node id from `GET {url}/healthz` (`{"status":"ok","node":"…"}`); null when it cannot tell. */
export function healthzNode(url: string, fetchImpl: typeof fetch = (...args) => fetch(...args)): () => Promise<string | null> {
  return async () => {
    try {
      const res = await fetchImpl(`${url}/healthz`, { cache: 'no-store', credentials: 'omit' });
      if (!res.ok) return null;
      const body = (await res.json()) as { node?: unknown } | null;
      return body && typeof body.node === 'string' && body.node !== '' ? body.node : null;
    } catch {
      return null;
    }
  };
}

/** Topics the demo listens to besides the notifications addressed to the user. */
export const DEFAULT_TOPICS = ['announcements'];

/** Opens /chat with socket.io-client, and /notifications on the same connection. */
export function socketIoConnection(url: string): ConnectionFactory {
  return (_name, auth, resume) => {
    // socket.io-client calls this before every connect and reconnect, so each
    // handshake carries the current token (or the guest name).
    const handshake = (cb: (data: object) => void) => void auth().then(cb);
    // /notifications also says where it left off, so a reconnect catches up.
    const resumeHandshake = (cb: (data: object) => void) =>
      void auth().then((base) => cb({ ...base, ...(resume?.() ?? {}) }));
    const chat: Socket<ChatServerEvents, ChatClientEvents> = io(`${url}/chat`, {
      auth: handshake,
      // A fresh Manager per sign-in: the auth belongs to this person only.
      forceNew: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 3_000,
      timeout: 10_000,
    });
    const manager = chat.io;
    const notifications: Socket<NotificationServerEvents, NotificationClientEvents> = manager.socket(
      '/notifications',
      { auth: resumeHandshake },
    );
    return {
      chat: chat as unknown as SocketLike,
      notifications: notifications as unknown as SocketLike,
      watchTransport(listener) {
        const attach = () => {
          const engine = manager.engine;
          if (!engine) return;
          listener((engine.transport?.name as TransportName | undefined) ?? null);
          engine.on('upgrade', (transport: { name: string }) => listener(transport.name as TransportName));
        };
        manager.on('open', attach);
        if (manager.engine?.readyState === 'open') attach();
      },
      drop() {
        manager.engine?.close();
      },
    };
  };
}

function problem(code: string, message: string): { ok: false; error: { code: string; message: string } } {
  return { ok: false, error: { code, message } };
}

interface TypingOut {
  lastSent: number;
  idle: ReturnType<typeof setTimeout> | null;
}

type Requests = {
  join: { room: string };
  leave: { room: string };
  message: { room: string; text: string };
  typing: { room: string; typing: boolean };
  history: HistoryRequest;
  rooms: Record<string, never>;
};
type Replies = {
  join: JoinReply;
  leave: object;
  message: SendReply;
  typing: object;
  history: HistoryReply;
  rooms: RoomsReply;
};

export class ChatClient {
  private state: ChatState = initialState;
  private readonly listeners = new Set<() => void>();
  private conn: Connection | null = null;
  /** Bumped on every sign-in and sign-out, so late answers of an old session are ignored. */
  private generation = 0;
  private readonly typingOut = new Map<string, TypingOut>();
  private tickTimer: ReturnType<typeof setInterval> | null = null;
  private directoryTimer: ReturnType<typeof setInterval> | null = null;
  private directoryDebounce: ReturnType<typeof setTimeout> | null = null;
  private clientSeq = 0;
  private readonly connectFactory: ConnectionFactory;
  private readonly network: ClientOptions['networkEvents'];
  private readonly isOnline: () => boolean;
  private readonly now: () => number;
  private readonly ackTimeoutMs: number;
  private readonly topics: string[];
  private readonly fetchNode: () => Promise<string | null>;
  private readonly fetchDevToken: DevTokenFetcher;

  constructor(options: ClientOptions = {}) {
    this.connectFactory = options.connect ?? socketIoConnection(options.url ?? '');
    this.network =
      options.networkEvents !== undefined ? options.networkEvents : typeof window !== 'undefined' ? window : null;
    this.isOnline = options.isOnline ?? (() => (typeof navigator === 'undefined' ? true : navigator.onLine));
    this.now = options.now ?? (() => Date.now());
    this.ackTimeoutMs = options.ackTimeoutMs ?? ACK_TIMEOUT_MS;
    this.topics = options.topics ?? DEFAULT_TOPICS;
    this.fetchNode = options.fetchNode ?? (options.connect ? async () => null : healthzNode(options.url ?? ''));
    this.fetchDevToken =
      options.fetchDevToken ??
      (options.connect ? async () => ({ status: 404, body: null }) : devTokenFetcher(options.url ?? ''));
  }

  // --- store ---------------------------------------------------------------

  getState = (): ChatState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  private dispatch(action: ChatAction): void {
    const next = chatReducer(this.state, action);
    if (next === this.state) return;
    this.state = next;
    for (const listener of this.listeners) listener();
  }

  // --- session -------------------------------------------------------------

  /** Connects as `name` and joins `rooms` (the first, or `activeRoom`, is shown). */
  signIn(rawName: string, rooms: string[] = ['general'], activeRoom?: string | null): void {
    const name = rawName.trim();
    const invalid = validateName(name);
    if (invalid) {
      this.dispatch({ type: 'connectError', code: 'invalid_name', message: invalid, fatal: true });
      return;
    }
    this.teardown();
    const generation = ++this.generation;
    this.dispatch({ type: 'browserOnline', online: this.isOnline() });
    this.dispatch({ type: 'signIn', name, rooms: rooms.filter((r) => !validateRoom(r)), activeRoom });

    const auth = new DevTokenAuth(name, this.fetchDevToken, this.now);
    // The notification cursor belongs to this sign-in: a fresh one starts from now.
    let cursor: Cursor | null = null;
    const resume = () => ({ topics: this.topics, ...(cursor ? { since: { ...cursor } } : {}) });
    const advance = (positions: Cursor | undefined) => {
      if (!positions) return;
      cursor ??= {};
      for (const [stream, position] of Object.entries(positions)) {
        cursor[stream] = Math.max(cursor[stream] ?? 0, position);
      }
    };
    const conn = this.connectFactory(name, () => auth.handshake(), resume);
    this.conn = conn;
    const live = () => this.generation === generation;
    const { chat, notifications } = conn;
    // Renewals of a refused, expired token since the last successful connect.
    let chatRenewals = 0;
    let notificationRenewals = 0;
    // The server said the token of a connected socket expired; its disconnect comes next.
    let chatExpired = false;
    let notificationsExpired = false;
    chat.on('error', (payload: unknown) => {
      if (!live() || !isExpiryNotice(payload)) return;
      chatExpired = true;
      auth.invalidate();
    });
    notifications.on('error', (payload: unknown) => {
      if (!live() || !isExpiryNotice(payload)) return;
      notificationsExpired = true;
      auth.invalidate();
    });

    chat.on('connect', () => {
      if (!live()) return;
      chatRenewals = 0;
      this.dispatch({ type: 'connected', transport: this.state.transport });
      void this.resync(generation);
      void this.fetchNode().then((node) => {
        // Only while this very connection lasts: a later one asks again.
        if (live() && chat.connected) this.dispatch({ type: 'node', node });
      });
      this.refreshRooms();
    });
    chat.on('disconnect', (reason?: string) => {
      if (!live()) return;
      this.clearTypingOut();
      if (chatExpired && reason === 'io server disconnect') {
        // socket.io-client does not reconnect after a server disconnect: connect again, with a new token.
        chatExpired = false;
        this.dispatch({ type: 'disconnected', willReconnect: true });
        chat.connect();
        return;
      }
      this.dispatch({ type: 'disconnected', willReconnect: chat.active });
    });
    chat.on('connect_error', (err: Error & { data?: unknown }) => {
      if (!live()) return;
      if (isTokenExpired(err) && chatRenewals < TOKEN_RENEWALS) {
        // The server refused the token as expired: ask for a new one and connect again.
        chatRenewals++;
        auth.invalidate();
        this.dispatch({ type: 'connectError', code: 'token_expired', message: 'Renewing the sign-in…', fatal: false });
        chat.connect();
        return;
      }
      if (!chat.active) {
        // Refused by the server (e.g. invalid_name): socket.io-client will not retry.
        const { code, message } = parseConnectError(err);
        this.teardown();
        this.dispatch({ type: 'connectError', code, message, fatal: true });
      } else {
        this.dispatch({ type: 'connectError', code: 'connect_failed', message: 'Cannot reach the server. Retrying…', fatal: false });
      }
    });
    chat.on('message', (message: ChatMessage) => live() && this.dispatch({ type: 'messageReceived', message }));
    chat.on('typing', (event: TypingEvent) => live() && this.dispatch({ type: 'typingReceived', event, now: this.now() }));
    chat.on('presence', (event: PresenceEvent) => {
      if (!live()) return;
      this.dispatch({ type: 'presence', event });
      this.refreshRoomsSoon();
    });
    // Topics come with every handshake (`auth.topics`), and so does the
    // cursor: what was published while away arrives before `caught_up`.
    notifications.on('connect', () => {
      if (!live()) return;
      notificationRenewals = 0;
    });
    notifications.on('caught_up', (reply: CaughtUp) => {
      if (!live()) return;
      advance(reply.positions);
      this.dispatch({ type: 'topics', topics: [...this.topics].sort() });
      if (!reply.recovered) {
        this.dispatch({ type: 'notice', message: 'Some notifications from while you were away are no longer available.' });
      }
    });
    notifications.on('disconnect', (reason?: string) => {
      if (!live()) return;
      this.dispatch({ type: 'topics', topics: [] });
      if (notificationsExpired && reason === 'io server disconnect') {
        notificationsExpired = false;
        notifications.connect();
      }
    });
    notifications.on('connect_error', (err: Error & { data?: unknown }) => {
      if (!live()) return;
      if (isTokenExpired(err) && notificationRenewals < TOKEN_RENEWALS) {
        notificationRenewals++;
        auth.invalidate();
        notifications.connect();
        return;
      }
      // Chat goes on without notifications (e.g. the server requires a token for them).
      if (!notifications.active) {
        this.dispatch({ type: 'notificationsRefused', message: parseConnectError(err).message });
      }
    });
    notifications.on('notification', (notification: Notification) => {
      if (!live()) return;
      advance(notification.positions);
      this.dispatch({ type: 'notification', notification, now: this.now() });
    });
    conn.watchTransport((transport) => live() && this.dispatch({ type: 'transport', transport }));

    this.network?.addEventListener('offline', this.onOffline);
    this.network?.addEventListener('online', this.onOnline);
    this.tickTimer = setInterval(() => {
      if (hasExpiring(this.state)) this.dispatch({ type: 'tick', now: this.now() });
    }, 500);
    this.directoryTimer = setInterval(() => this.refreshRooms(), DIRECTORY_REFRESH_MS);
  }

  /** Disconnects and forgets the session. */
  signOut(): void {
    this.teardown();
    this.generation++;
    this.dispatch({ type: 'signOut' });
  }

  /** Retries at once after the server closed the connection for good. */
  reconnectNow(): void {
    const chat = this.conn?.chat;
    if (chat && !chat.connected && !chat.active) chat.connect();
  }

  /** Stops timers and sockets; the client can be signed in again afterwards. */
  dispose(): void {
    this.teardown();
    this.generation++;
    this.listeners.clear();
  }

  private teardown(): void {
    this.clearTypingOut();
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.directoryTimer) clearInterval(this.directoryTimer);
    if (this.directoryDebounce) clearTimeout(this.directoryDebounce);
    this.tickTimer = this.directoryTimer = this.directoryDebounce = null;
    this.network?.removeEventListener('offline', this.onOffline);
    this.network?.removeEventListener('online', this.onOnline);
    if (this.conn) {
      this.conn.notifications.disconnect();
      this.conn.chat.disconnect();
      this.conn = null;
    }
  }

  private readonly onOffline = () => {
    this.dispatch({ type: 'browserOnline', online: false });
    // Without this, a dead connection is only noticed at the next missed heartbeat.
    if (this.conn?.chat.connected) this.conn.drop();
  };

  private readonly onOnline = () => {
    this.dispatch({ type: 'browserOnline', online: true });
    this.reconnectNow();
  };

  // --- requests ------------------------------------------------------------

  private async request<E extends keyof Requests>(event: E, payload: Requests[E]): Promise<Ack<Replies[E]>> {
    const chat = this.conn?.chat;
    // socket.io-client would buffer the packet until the next connection; a chat
    // would rather tell the person now than deliver a stale typing or join later.
    if (!chat || !chat.connected) return problem('offline', 'You are offline.');
    try {
      const reply = (await chat.timeout(this.ackTimeoutMs).emitWithAck(event, payload)) as Ack<Replies[E]>;
      if (!reply || typeof reply !== 'object' || typeof (reply as { ok?: unknown }).ok !== 'boolean') {
        return problem('bad_reply', 'The server sent an unexpected answer.');
      }
      return reply;
    } catch {
      return problem('timeout', 'The server did not answer in time.');
    }
  }

  /**
   * `request` for events that are safe to repeat (join, history, …): on a
   * timeout, asks again while still connected. A busy server answers late
   * rather than never, and a late answer to an earlier try does no harm.
   */
  private async idempotent<E extends 'join' | 'history' | 'rooms'>(
    event: E,
    payload: Requests[E],
    attempts = IDEMPOTENT_ATTEMPTS,
  ): Promise<Ack<Replies[E]>> {
    let reply = await this.request(event, payload);
    for (let i = 1; i < attempts && !reply.ok && reply.error.code === 'timeout' && this.conn?.chat.connected; i++) {
      reply = await this.request(event, payload);
    }
    return reply;
  }

  // --- rooms ---------------------------------------------------------------

  /** Joins a room (or shows it, when already joined). Returns why not, or null. */
  join(rawRoom: string): string | null {
    const room = rawRoom.trim();
    const invalid = validateRoom(room);
    if (invalid) return invalid;
    if (!this.state.me) return 'Sign in first.';
    if (this.state.rooms[room] && this.state.rooms[room].phase !== 'failed') {
      this.activate(room);
      return null;
    }
    this.dispatch({ type: 'joinStarted', room, activate: true });
    if (this.conn?.chat.connected) void this.syncRoom(room, 0, this.generation);
    return null;
  }

  leave(room: string): void {
    if (!this.state.rooms[room]) return;
    this.stopTyping(room);
    this.dispatch({ type: 'left', room });
    void this.request('leave', { room }).then(() => this.refreshRooms());
  }

  activate(room: string): void {
    const previous = this.state.activeRoom;
    if (previous && previous !== room) this.stopTyping(previous);
    this.dispatch({ type: 'activate', room });
  }

  /** Asks for the rooms that have members, for the directory. */
  refreshRooms(): void {
    const generation = this.generation;
    void this.request('rooms', {}).then((reply) => {
      if (reply.ok && generation === this.generation) this.dispatch({ type: 'directory', rooms: reply.rooms });
    });
  }

  private refreshRoomsSoon(): void {
    if (this.directoryDebounce) clearTimeout(this.directoryDebounce);
    this.directoryDebounce = setTimeout(() => {
      this.directoryDebounce = null;
      this.refreshRooms();
    }, 300);
  }

  /** Re-joins every room after a (re)connect and catches up on what was missed. */
  private async resync(generation: number): Promise<void> {
    await Promise.all(planResync(this.state).map((step) => this.syncRoom(step.room, step.after, generation)));
  }

  /** Joins `room`, then asks for every message after `after` (when > 0), page by page. */
  private async syncRoom(room: string, after: number, generation: number): Promise<void> {
    this.dispatch({ type: 'joinStarted', room });
    const joined = await this.idempotent('join', { room });
    if (generation !== this.generation) return;
    if (!this.state.rooms[room]) {
      // Left while the join was under way.
      if (joined.ok) void this.request('leave', { room });
      return;
    }
    if (!joined.ok) {
      this.dispatch({ type: 'joinFailed', room, message: joined.error.message });
      return;
    }
    // After a reset, `after` points into a history that no longer exists: the join reply is all there is.
    const reset = isHistoryReset(this.state.rooms[room].messages, joined.messages);
    this.dispatch({ type: 'joinSucceeded', room, members: joined.members, count: joined.count, messages: joined.messages });
    this.refreshRoomsSoon();
    let cursor: number | null = after > 0 && !reset ? after : null;
    for (let page = 0; cursor !== null && page < MAX_CATCH_UP_PAGES; page++) {
      const reply = await this.idempotent('history', { room, after: cursor });
      if (generation !== this.generation || !this.state.rooms[room]) return;
      if (!reply.ok) {
        this.dispatch({ type: 'historyFailed', room, message: reply.error.message });
        return;
      }
      this.dispatch({ type: 'historyLoaded', room, direction: 'newer', reply });
      cursor = nextCatchUpCursor(cursor, reply);
    }
  }

  /** Loads the page of messages before the oldest one shown. */
  async loadOlder(room: string): Promise<void> {
    const state = this.state.rooms[room];
    if (!state || state.loadingOlder || !state.hasOlder) return;
    const before = state.messages[0]?.id;
    if (!before) return;
    const generation = this.generation;
    this.dispatch({ type: 'olderLoading', room });
    const reply = await this.idempotent('history', { room, before });
    if (generation !== this.generation) return;
    if (reply.ok) this.dispatch({ type: 'historyLoaded', room, direction: 'older', reply });
    else this.dispatch({ type: 'historyFailed', room, message: reply.error.message });
  }

  // --- messages ------------------------------------------------------------

  /** Sends a message; returns why it cannot be sent, or null. */
  send(room: string, text: string): string | null {
    const invalid = validateText(text);
    if (invalid) return invalid;
    const state = this.state.rooms[room];
    if (!state || state.phase !== 'joined') return 'Not in this room yet.';
    const clientId = `c${++this.clientSeq}-${this.now()}`;
    this.stopTyping(room);
    this.dispatch({ type: 'sendStarted', room, clientId, text, now: this.now() });
    void this.deliver(room, clientId, text);
    return null;
  }

  retry(room: string, clientId: string): void {
    const pending = this.state.rooms[room]?.pending.find((p) => p.clientId === clientId);
    if (!pending || pending.status !== 'failed') return;
    this.dispatch({ type: 'sendRetried', room, clientId });
    void this.deliver(room, clientId, pending.text);
  }

  discard(room: string, clientId: string): void {
    this.dispatch({ type: 'pendingDiscarded', room, clientId });
  }

  private async deliver(room: string, clientId: string, text: string): Promise<void> {
    const generation = this.generation;
    const reply = await this.request('message', { room, text });
    if (generation !== this.generation) return;
    if (reply.ok) this.dispatch({ type: 'sendSucceeded', room, clientId, id: reply.id, ts: reply.ts });
    else this.dispatch({ type: 'sendFailed', room, clientId, message: reply.error.message });
  }

  // --- typing --------------------------------------------------------------

  /** Call on every edit of the composer: sends `typing: true`, and `false` after a pause. */
  typingInput(room: string): void {
    if (!this.conn?.chat.connected || this.state.rooms[room]?.phase !== 'joined') return;
    const now = this.now();
    let entry = this.typingOut.get(room);
    if (!entry) {
      entry = { lastSent: 0, idle: null };
      this.typingOut.set(room, entry);
    }
    if (now - entry.lastSent >= TYPING_REFRESH_MS) {
      entry.lastSent = now;
      void this.request('typing', { room, typing: true });
    }
    if (entry.idle) clearTimeout(entry.idle);
    entry.idle = setTimeout(() => this.stopTyping(room), TYPING_IDLE_MS);
  }

  /** Sends `typing: false` if `typing: true` was sent for this room. */
  stopTyping(room: string): void {
    const entry = this.typingOut.get(room);
    if (!entry) return;
    if (entry.idle) clearTimeout(entry.idle);
    this.typingOut.delete(room);
    void this.request('typing', { room, typing: false });
  }

  private clearTypingOut(): void {
    for (const entry of this.typingOut.values()) if (entry.idle) clearTimeout(entry.idle);
    this.typingOut.clear();
  }

  // --- notifications -------------------------------------------------------

  dismissToast(id: string): void {
    this.dispatch({ type: 'toastDismissed', id });
  }

  dismissNotice(): void {
    this.dispatch({ type: 'notice', message: null });
  }

  /** Subscribes this tab to a notification topic; resolves to the topics now subscribed. */
  async subscribeTopic(topic: string): Promise<Ack<TopicsReply>> {
    return this.topicRequest('subscribe', topic);
  }

  async unsubscribeTopic(topic: string): Promise<Ack<TopicsReply>> {
    return this.topicRequest('unsubscribe', topic);
  }

  /** Subscribing is idempotent, so a timed-out try is repeated like `idempotent` does. */
  private async topicRequest(event: 'subscribe' | 'unsubscribe', topic: string): Promise<Ack<TopicsReply>> {
    let reply: Ack<TopicsReply> = problem('offline', 'You are offline.');
    for (let i = 0; i < IDEMPOTENT_ATTEMPTS; i++) {
      const socket = this.conn?.notifications;
      if (!socket || !socket.connected) return reply;
      try {
        return (await socket.timeout(this.ackTimeoutMs).emitWithAck(event, { topic })) as Ack<TopicsReply>;
      } catch {
        reply = problem('timeout', 'The server did not answer in time.');
      }
    }
    return reply;
  }
}
