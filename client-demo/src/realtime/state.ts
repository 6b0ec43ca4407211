// Pure state of the chat client: no sockets, no timers, no DOM.
//
// `chatReducer(state, action)` is the only way the state changes. Time is
// passed in (`now`) so that typing and toast expiry can be tested without
// waiting. The connection module (connection.ts) turns socket events into
// actions; components only read the state.

import type {
  ChatMessage,
  HistoryReply,
  Notification,
  PresenceEvent,
  RoomSummary,
  TypingEvent,
  User,
} from './types';
import { MAX_NAME_CHARS, MAX_ROOM_CHARS, MAX_TEXT_CHARS } from './types';

/** How long a remote "is typing" lasts without a refresh (the sender refreshes every few seconds). */
export const TYPING_TTL_MS = 6_000;
/** How long a toast stays up. */
export const TOAST_TTL_MS = 8_000;
/** Toasts shown at once; older ones are dropped. */
export const MAX_TOASTS = 4;
/** Notification ids remembered for de-duplication. */
const SEEN_NOTIFICATIONS = 200;

export type ConnectionStatus =
  /** Not signed in: no socket. */
  | 'signed-out'
  /** First connection attempt under way. */
  | 'connecting'
  | 'connected'
  /** The connection dropped; socket.io-client is retrying. */
  | 'reconnecting'
  /** The browser is offline, or the server closed the connection for good. */
  | 'offline';

export type TransportName = 'polling' | 'websocket';

export type RoomPhase = 'joining' | 'joined' | 'rejoining' | 'failed';

export interface PendingMessage {
  /** Client-side id, unique in this tab. */
  clientId: string;
  text: string;
  createdAt: number;
  status: 'sending' | 'failed';
  error?: string;
}

export interface TypingEntry {
  user: User;
  expiresAt: number;
}

export interface RoomState {
  name: string;
  phase: RoomPhase;
  /** Stored messages, sorted by id, no two with the same id. */
  messages: ChatMessage[];
  /** Members we know of: the join reply's first page, then kept by presence changes. */
  members: User[];
  /** Users in the room, from the server (may exceed `members.length` in big rooms). */
  memberCount: number;
  /** Others typing now, sorted by name. */
  typing: TypingEntry[];
  /** Own messages not yet acknowledged (or that failed). */
  pending: PendingMessage[];
  /** Whether older messages than the first one can be asked for. */
  hasOlder: boolean;
  loadingOlder: boolean;
  unread: number;
  error: string | null;
}

export interface Toast {
  id: string;
  title: string;
  body: string;
  topic?: string;
  ts: number;
  expiresAt: number;
}

export interface ProblemInfo {
  code: string;
  message: string;
}

export interface ChatState {
  me: User | null;
  status: ConnectionStatus;
  transport: TransportName | null;
  /** Id of the server node that answered (from `GET /healthz`), or null when unknown. */
  node: string | null;
  /** What the browser says about the network (navigator.onLine). */
  browserOnline: boolean;
  /** Why signing in or connecting failed, last time it did. */
  lastError: ProblemInfo | null;
  /** Joined rooms (and those being joined), by name. */
  rooms: Record<string, RoomState>;
  /** Joined rooms in the order they were joined. */
  roomOrder: string[];
  activeRoom: string | null;
  /** Rooms that have members on the server (from `rooms`). */
  directory: RoomSummary[];
  toasts: Toast[];
  seenNotifications: string[];
  /** Notification topics this tab is subscribed to (empty while /notifications is not connected). */
  topics: string[];
  /** Why /notifications refused this user (e.g. it needs a token), or null. */
  notificationsError: string | null;
  /** A one-off message for the person (e.g. a room could not be joined). */
  notice: string | null;
}

export const initialState: ChatState = {
  me: null,
  status: 'signed-out',
  transport: null,
  node: null,
  browserOnline: true,
  lastError: null,
  rooms: {},
  roomOrder: [],
  activeRoom: null,
  directory: [],
  toasts: [],
  seenNotifications: [],
  topics: [],
  notificationsError: null,
  notice: null,
};

export type ChatAction =
  | { type: 'signIn'; name: string; rooms: string[]; activeRoom?: string | null }
  | { type: 'signOut' }
  | { type: 'connected'; transport: TransportName | null }
  | { type: 'transport'; transport: TransportName | null }
  | { type: 'node'; node: string | null }
  | { type: 'disconnected'; willReconnect: boolean }
  | { type: 'connectError'; code: string; message: string; fatal: boolean }
  | { type: 'browserOnline'; online: boolean }
  | { type: 'joinStarted'; room: string; activate?: boolean }
  | { type: 'joinSucceeded'; room: string; members: User[]; count: number; messages: ChatMessage[] }
  | { type: 'joinFailed'; room: string; message: string }
  | { type: 'left'; room: string }
  | { type: 'activate'; room: string }
  | { type: 'messageReceived'; message: ChatMessage }
  | { type: 'olderLoading'; room: string }
  | { type: 'historyLoaded'; room: string; direction: 'older' | 'newer'; reply: HistoryReply }
  | { type: 'historyFailed'; room: string; message: string }
  | { type: 'sendStarted'; room: string; clientId: string; text: string; now: number }
  | { type: 'sendSucceeded'; room: string; clientId: string; id: number; ts: number }
  | { type: 'sendFailed'; room: string; clientId: string; message: string }
  | { type: 'sendRetried'; room: string; clientId: string }
  | { type: 'pendingDiscarded'; room: string; clientId: string }
  | { type: 'typingReceived'; event: TypingEvent; now: number }
  | { type: 'presence'; event: PresenceEvent }
  | { type: 'directory'; rooms: RoomSummary[] }
  | { type: 'notification'; notification: Notification; now: number }
  | { type: 'toastDismissed'; id: string }
  | { type: 'topics'; topics: string[] }
  | { type: 'notificationsRefused'; message: string }
  | { type: 'notice'; message: string | null }
  | { type: 'tick'; now: number };

// ---------------------------------------------------------------------------
// Validation (mirrors the server; the server has the last word)

/** Why a display name would be refused, or null if it is fine. */
export function validateName(raw: string): string | null {
  const name = raw.trim();
  if (name.length === 0) return 'Enter a name.';
  if ([...name].length > MAX_NAME_CHARS) return `Names have at most ${MAX_NAME_CHARS} characters.`;
  if (/\p{Cc}/u.test(name)) return 'Names cannot contain control characters.';
  return null;
}

/** Why a room name would be refused, or null if it is fine. */
export function validateRoom(raw: string): string | null {
  const room = raw.trim();
  if (room.length === 0) return 'Enter a room name.';
  if ([...room].length > MAX_ROOM_CHARS) return `Room names have at most ${MAX_ROOM_CHARS} characters.`;
  if (!/^[\p{L}\p{N}\-_.:]+$/u.test(room)) {
    return "Room names use letters, digits, '-', '_', '.' and ':' only.";
  }
  return null;
}

/** Why a message text would be refused, or null if it is fine. */
export function validateText(text: string): string | null {
  if (text.trim().length === 0) return 'Type a message.';
  if ([...text].length > MAX_TEXT_CHARS) return `Messages have at most ${MAX_TEXT_CHARS} characters.`;
  return null;
}

/**
 * The id the server gives a guest: `guest:` and the name in lower case (so
 * "Ada" and "ada" are one user). Only a first guess: the id the server lists
 * in a join reply wins (see `joinSucceeded`).
 */
export function guestId(name: string): string {
  return `guest:${name.toLowerCase()}`;
}

/**
 * The code and explanation of a `connect_error`. The code is in `err.data.code`
 * when the server sends data; otherwise it leads the message ("invalid_name: …").
 */
export function parseConnectError(err: { message?: string; data?: unknown } | null | undefined): ProblemInfo {
  const raw = (err?.message ?? '').trim();
  const data = err?.data as { code?: unknown } | undefined;
  const match = /^([a-z][a-z0-9_]*):\s*(.*)$/s.exec(raw);
  const code = typeof data?.code === 'string' ? data.code : (match?.[1] ?? 'connect_failed');
  let message = match ? match[2] : raw;
  if (!message) message = 'The server refused the connection.';
  return { code, message: message[0].toUpperCase() + message.slice(1) };
}

// ---------------------------------------------------------------------------
// Messages

/**
 * Merges `incoming` into `existing` (sorted by id): the result is sorted by
 * id and has each id once. A message already held is kept as it is. Returns
 * `existing` itself when nothing new came in, so callers can skip re-renders.
 */
export function mergeMessages(existing: ChatMessage[], incoming: ChatMessage[]): ChatMessage[] {
  if (incoming.length === 0) return existing;
  const last = existing.length > 0 ? existing[existing.length - 1].id : 0;
  // Fast path: the usual case of new messages strictly after the newest one held.
  if (isStrictlyIncreasing(incoming) && incoming[0].id > last) {
    return existing.concat(incoming);
  }
  const byId = new Map<number, ChatMessage>();
  for (const m of existing) byId.set(m.id, m);
  let added = false;
  for (const m of incoming) {
    if (!byId.has(m.id)) {
      byId.set(m.id, m);
      added = true;
    }
  }
  if (!added) return existing;
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

function isStrictlyIncreasing(messages: ChatMessage[]): boolean {
  for (let i = 1; i < messages.length; i++) {
    if (messages[i].id <= messages[i - 1].id) return false;
  }
  return true;
}

function sameMessage(a: ChatMessage, b: ChatMessage): boolean {
  return a.ts === b.ts && a.from.id === b.from.id && a.text === b.text;
}

/**
 * Whether the server's history no longer continues what we hold: a message
 * with an id we have but other content, or a newest id below ours. That is
 * what a restarted in-memory server looks like (its ids begin again at 1);
 * merging by id would then hide its new messages behind our old ones.
 */
export function isHistoryReset(held: ChatMessage[], latest: ChatMessage[]): boolean {
  if (held.length === 0 || latest.length === 0) return false;
  if (latest[latest.length - 1].id < held[held.length - 1].id) return true;
  const byId = new Map(held.map((m) => [m.id, m]));
  return latest.some((m) => {
    const h = byId.get(m.id);
    return h !== undefined && !sameMessage(h, m);
  });
}

/** The highest message id held for a room, 0 when none. */
export function lastSeenId(room: RoomState | undefined): number {
  if (!room || room.messages.length === 0) return 0;
  return room.messages[room.messages.length - 1].id;
}

/** One room to re-join after a reconnect, and where its catch-up starts. */
export interface ResyncStep {
  room: string;
  /** Ask `history {room, after}` once joined; 0 when nothing was seen yet (the join brings the latest). */
  after: number;
}

/**
 * What to do after the connection comes back: re-join every room, active one
 * first, and for each, catch up from the last message seen.
 */
export function planResync(state: ChatState): ResyncStep[] {
  const order = [...state.roomOrder];
  if (state.activeRoom && order.includes(state.activeRoom)) {
    order.splice(order.indexOf(state.activeRoom), 1);
    order.unshift(state.activeRoom);
  }
  return order.map((room) => ({ room, after: lastSeenId(state.rooms[room]) }));
}

/**
 * Where the next `history {after}` page starts, or null when the catch-up is
 * complete. `after` is the cursor the reply answered.
 */
export function nextCatchUpCursor(after: number, reply: HistoryReply): number | null {
  if (!reply.has_more || reply.messages.length === 0) return null;
  const last = reply.messages[reply.messages.length - 1].id;
  return last > after ? last : null;
}

// ---------------------------------------------------------------------------
// Typing, presence

/** Who is typing in a room, as a sentence, or '' when nobody is. */
export function describeTyping(entries: TypingEntry[]): string {
  const names = entries.map((e) => e.user.name);
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return 'Several people are typing…';
}

/** Members with the given user first, then by name. One entry per id. */
export function sortMembers(members: User[], meId: string | null): User[] {
  const seen = new Set<string>();
  const unique = members.filter((m) => (seen.has(m.id) ? false : (seen.add(m.id), true)));
  return unique.sort((a, b) => {
    if (a.id === meId) return -1;
    if (b.id === meId) return 1;
    return a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }) || a.id.localeCompare(b.id);
  });
}

/**
 * A room after a presence change: the users who left are dropped (and stop
 * typing), those who joined are added once, and the count is the server's.
 * Applying a change twice, or one about a user not in our page, is harmless.
 */
export function applyPresence(room: RoomState, event: PresenceEvent): RoomState {
  const left = new Set((event.left ?? []).map((u) => u.id));
  const members = room.members.filter((m) => !left.has(m.id));
  for (const user of event.joined ?? []) {
    if (!members.some((m) => m.id === user.id)) members.push(user);
  }
  let typing = room.typing;
  for (const id of left) typing = withoutTyping(typing, id);
  return { ...room, members, memberCount: event.count, typing };
}

function upsertTyping(entries: TypingEntry[], user: User, expiresAt: number): TypingEntry[] {
  const rest = entries.filter((e) => e.user.id !== user.id);
  rest.push({ user, expiresAt });
  return rest.sort((a, b) => a.user.name.localeCompare(b.user.name));
}

function withoutTyping(entries: TypingEntry[], userId: string): TypingEntry[] {
  return entries.some((e) => e.user.id === userId) ? entries.filter((e) => e.user.id !== userId) : entries;
}

// ---------------------------------------------------------------------------
// Display helpers

export interface MessageGroup {
  key: string;
  from: User;
  /** Timestamp of the first message. */
  ts: number;
  messages: ChatMessage[];
}

/** Consecutive messages of one sender within `gapMs` of each other form a group. */
export function groupMessages(messages: ChatMessage[], gapMs = 5 * 60_000): MessageGroup[] {
  const groups: MessageGroup[] = [];
  for (const m of messages) {
    const g = groups[groups.length - 1];
    const prev = g?.messages[g.messages.length - 1];
    if (g && prev && g.from.id === m.from.id && m.ts - prev.ts <= gapMs && sameDay(prev.ts, m.ts)) {
      g.messages.push(m);
    } else {
      groups.push({ key: `${m.room}:${m.id}`, from: m.from, ts: m.ts, messages: [m] });
    }
  }
  return groups;
}

export function sameDay(a: number, b: number): boolean {
  const x = new Date(a);
  const y = new Date(b);
  return x.getFullYear() === y.getFullYear() && x.getMonth() === y.getMonth() && x.getDate() === y.getDate();
}

/** "Today", "Yesterday" or a date, for day separators. */
export function dayLabel(ts: number, now: number): string {
  if (sameDay(ts, now)) return 'Today';
  if (sameDay(ts, now - 86_400_000)) return 'Yesterday';
  return new Date(ts).toLocaleDateString(undefined, { weekday: 'short', month: 'short', day: 'numeric', year: 'numeric' });
}

/** Initials for an avatar: first letters of up to two words. */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0] ?? '');
  return letters.join('').toUpperCase() || '?';
}

/** A stable hue (0–359) for a user id, for avatar colours. */
export function hueFor(id: string): number {
  let h = 0;
  for (const ch of id) h = (h * 31 + (ch.codePointAt(0) ?? 0)) % 360;
  return h;
}

// ---------------------------------------------------------------------------
// Reducer

function newRoom(name: string): RoomState {
  return {
    name,
    phase: 'joining',
    messages: [],
    members: [],
    memberCount: 0,
    typing: [],
    pending: [],
    hasOlder: false,
    loadingOlder: false,
    unread: 0,
    error: null,
  };
}

function updateRoom(state: ChatState, name: string, update: (room: RoomState) => RoomState): ChatState {
  const room = state.rooms[name];
  if (!room) return state;
  const next = update(room);
  if (next === room) return state;
  return { ...state, rooms: { ...state.rooms, [name]: next } };
}

function withoutRoom(state: ChatState, name: string): ChatState {
  if (!state.rooms[name]) return state;
  const rooms = { ...state.rooms };
  delete rooms[name];
  const index = state.roomOrder.indexOf(name);
  const roomOrder = state.roomOrder.filter((r) => r !== name);
  let activeRoom = state.activeRoom;
  if (activeRoom === name) {
    activeRoom = roomOrder[Math.min(index, roomOrder.length - 1)] ?? null;
  }
  const next = { ...state, rooms, roomOrder, activeRoom };
  return activeRoom ? updateRoom(next, activeRoom, (r) => (r.unread ? { ...r, unread: 0 } : r)) : next;
}

function addMessages(room: RoomState, incoming: ChatMessage[], isActive: boolean, meId: string | null): RoomState {
  const messages = mergeMessages(room.messages, incoming);
  if (messages === room.messages) return room;
  let unread = room.unread;
  if (!isActive) {
    const known = new Set(room.messages.map((m) => m.id));
    unread += incoming.filter((m) => !known.has(m.id) && m.from.id !== meId).length;
  }
  // A message from someone means they stopped typing.
  let typing = room.typing;
  for (const m of incoming) typing = withoutTyping(typing, m.from.id);
  // A send that timed out may have been stored after all: once it shows up, drop the failed copy.
  let pending = room.pending;
  if (meId && pending.some((p) => p.status === 'failed')) {
    const mine = new Set(incoming.filter((m) => m.from.id === meId).map((m) => m.text));
    pending = pending.filter((p) => !(p.status === 'failed' && mine.has(p.text)));
  }
  return { ...room, messages, unread, typing, pending };
}

/** Starts the room's messages over from `messages` (see `isHistoryReset`). */
function resetMessages(room: RoomState, messages: ChatMessage[]): RoomState {
  const sorted = mergeMessages([], messages);
  return { ...room, messages: sorted, hasOlder: (sorted[0]?.id ?? 0) > 1, loadingOlder: false };
}

function resetNotice(room: string): string {
  return `The server's history of #${room} started over (it may have restarted).`;
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'signIn': {
      const name = action.name.trim();
      const rooms: Record<string, RoomState> = {};
      const roomOrder: string[] = [];
      for (const r of action.rooms) {
        if (!rooms[r]) {
          rooms[r] = newRoom(r);
          roomOrder.push(r);
        }
      }
      const activeRoom =
        action.activeRoom && rooms[action.activeRoom] ? action.activeRoom : (roomOrder[0] ?? null);
      return {
        ...initialState,
        browserOnline: state.browserOnline,
        me: { id: guestId(name), name },
        status: 'connecting',
        rooms,
        roomOrder,
        activeRoom,
      };
    }

    case 'signOut':
      return { ...initialState, browserOnline: state.browserOnline, lastError: state.lastError };

    case 'connected':
      if (!state.me) return state;
      return { ...state, status: 'connected', transport: action.transport, lastError: null };

    case 'transport':
      return state.transport === action.transport ? state : { ...state, transport: action.transport };

    case 'node':
      if (!state.me || state.status !== 'connected' || state.node === action.node) return state;
      return { ...state, node: action.node };

    case 'disconnected': {
      if (!state.me) return state;
      // The server forgets our rooms with the connection: mark them for re-joining,
      // and forget who was typing (we will not hear them stop).
      const rooms: Record<string, RoomState> = {};
      for (const [name, room] of Object.entries(state.rooms)) {
        rooms[name] = {
          ...room,
          phase: room.phase === 'failed' ? 'failed' : 'rejoining',
          typing: [],
          loadingOlder: false,
        };
      }
      return {
        ...state,
        rooms,
        transport: null,
        node: null,
        status: action.willReconnect && state.browserOnline ? 'reconnecting' : 'offline',
      };
    }

    case 'connectError':
      if (action.fatal) {
        return {
          ...initialState,
          browserOnline: state.browserOnline,
          lastError: { code: action.code, message: action.message },
        };
      }
      if (!state.me) return state;
      return {
        ...state,
        lastError: { code: action.code, message: action.message },
        status: state.status === 'connecting' ? 'connecting' : state.browserOnline ? 'reconnecting' : 'offline',
      };

    case 'browserOnline': {
      if (state.browserOnline === action.online) return state;
      let status = state.status;
      if (!action.online && (status === 'reconnecting' || status === 'connecting')) status = 'offline';
      if (action.online && status === 'offline' && state.me) status = 'reconnecting';
      return { ...state, browserOnline: action.online, status };
    }

    case 'joinStarted': {
      const existing = state.rooms[action.room];
      let room: RoomState;
      if (!existing) room = newRoom(action.room);
      else if (existing.phase === 'failed') room = { ...existing, phase: 'rejoining', error: null };
      else room = existing;
      const roomOrder = existing ? state.roomOrder : [...state.roomOrder, action.room];
      const activeRoom = action.activate || !state.activeRoom ? action.room : state.activeRoom;
      if (activeRoom === action.room && room.unread) room = { ...room, unread: 0 };
      return { ...state, rooms: { ...state.rooms, [action.room]: room }, roomOrder, activeRoom, notice: null };
    }

    case 'joinSucceeded': {
      // The server's member list says who we are (ids are the server's to give).
      let me = state.me;
      if (me && !action.members.some((m) => m.id === me!.id)) {
        const self = action.members.find((m) => m.name === me!.name);
        if (self) me = self;
      }
      const withMe = me === state.me ? state : { ...state, me };
      const held = state.rooms[action.room];
      if (held && isHistoryReset(held.messages, action.messages)) {
        return updateRoom({ ...withMe, notice: resetNotice(action.room) }, action.room, (room) => ({
          ...resetMessages(room, action.messages),
          phase: 'joined',
          error: null,
          members: action.members,
          memberCount: action.count,
        }));
      }
      return updateRoom(withMe, action.room, (room) => {
        const first = room.messages.length === 0;
        const merged = addMessages(room, action.messages, state.activeRoom === action.room, state.me?.id ?? null);
        const oldest = merged.messages[0]?.id ?? 0;
        return {
          ...merged,
          phase: 'joined',
          error: null,
          members: action.members,
          memberCount: action.count,
          // Ids start at 1, so anything older than the oldest held exists if its id is above 1.
          hasOlder: first ? oldest > 1 : room.hasOlder || oldest > 1,
        };
      });
    }

    case 'joinFailed': {
      const room = state.rooms[action.room];
      if (!room) return state;
      if (room.phase === 'joining' && room.messages.length === 0) {
        // A first join that failed: do not keep an empty room around.
        return { ...withoutRoom(state, action.room), notice: `Could not join #${action.room}: ${action.message}` };
      }
      return updateRoom(state, action.room, (r) => ({ ...r, phase: 'failed', error: action.message }));
    }

    case 'left':
      return withoutRoom(state, action.room);

    case 'activate':
      if (!state.rooms[action.room]) return state;
      return updateRoom({ ...state, activeRoom: action.room }, action.room, (r) =>
        r.unread ? { ...r, unread: 0 } : r,
      );

    case 'messageReceived': {
      const held = state.rooms[action.message.room];
      // Only a clash of ids counts here: a late duplicate of an older message is no reset.
      const clash = held?.messages.find((m) => m.id === action.message.id);
      if (held && clash && !sameMessage(clash, action.message)) {
        return updateRoom({ ...state, notice: resetNotice(held.name) }, held.name, (room) =>
          resetMessages(room, [action.message]),
        );
      }
      return updateRoom(state, action.message.room, (room) =>
        addMessages(room, [action.message], state.activeRoom === room.name, state.me?.id ?? null),
      );
    }

    case 'olderLoading':
      return updateRoom(state, action.room, (r) => ({ ...r, loadingOlder: true }));

    case 'historyLoaded':
      return updateRoom(state, action.room, (room) => {
        const merged = addMessages(room, action.reply.messages, state.activeRoom === room.name, state.me?.id ?? null);
        if (action.direction === 'older') {
          return {
            ...merged,
            loadingOlder: false,
            hasOlder: action.reply.has_more && (merged.messages[0]?.id ?? 0) > 1,
          };
        }
        return merged;
      });

    case 'historyFailed':
      return updateRoom(state, action.room, (r) => ({ ...r, loadingOlder: false, error: action.message }));

    case 'sendStarted':
      return updateRoom(state, action.room, (r) => ({
        ...r,
        pending: [...r.pending, { clientId: action.clientId, text: action.text, createdAt: action.now, status: 'sending' }],
      }));

    case 'sendSucceeded': {
      const me = state.me;
      return updateRoom(state, action.room, (room) => {
        const sent = room.pending.find((p) => p.clientId === action.clientId);
        const pending = room.pending.filter((p) => p.clientId !== action.clientId);
        if (!sent || !me) return { ...room, pending };
        // The `message` event may come before or after the ack: merging by id keeps one copy.
        const message: ChatMessage = { id: action.id, room: room.name, from: me, text: sent.text, ts: action.ts };
        const clash = room.messages.find((m) => m.id === message.id);
        if (clash && !sameMessage(clash, message)) return { ...resetMessages(room, [message]), pending };
        return { ...room, pending, messages: mergeMessages(room.messages, [message]) };
      });
    }

    case 'sendFailed':
      return updateRoom(state, action.room, (r) => ({
        ...r,
        pending: r.pending.map((p) =>
          p.clientId === action.clientId ? { ...p, status: 'failed', error: action.message } : p,
        ),
      }));

    case 'sendRetried':
      return updateRoom(state, action.room, (r) => ({
        ...r,
        pending: r.pending.map((p) =>
          p.clientId === action.clientId ? { ...p, status: 'sending', error: undefined } : p,
        ),
      }));

    case 'pendingDiscarded':
      return updateRoom(state, action.room, (r) => ({
        ...r,
        pending: r.pending.filter((p) => p.clientId !== action.clientId),
      }));

    case 'typingReceived': {
      const { event, now } = action;
      if (event.user.id === state.me?.id) return state;
      return updateRoom(state, event.room, (r) => ({
        ...r,
        typing: event.typing ? upsertTyping(r.typing, event.user, now + TYPING_TTL_MS) : withoutTyping(r.typing, event.user.id),
      }));
    }

    case 'presence': {
      const { event } = action;
      return updateRoom(state, event.room, (r) => applyPresence(r, event));
    }

    case 'directory':
      return { ...state, directory: action.rooms };

    case 'notification': {
      const n = action.notification;
      if (state.seenNotifications.includes(n.id)) return state;
      const toast: Toast = {
        id: n.id,
        title: n.title,
        body: n.body,
        topic: n.topic,
        ts: n.ts,
        expiresAt: action.now + TOAST_TTL_MS,
      };
      return {
        ...state,
        toasts: [...state.toasts, toast].slice(-MAX_TOASTS),
        seenNotifications: [...state.seenNotifications, n.id].slice(-SEEN_NOTIFICATIONS),
      };
    }

    case 'toastDismissed':
      if (!state.toasts.some((t) => t.id === action.id)) return state;
      return { ...state, toasts: state.toasts.filter((t) => t.id !== action.id) };

    case 'topics':
      if (!state.me) return state;
      if (state.topics.length === action.topics.length && state.topics.every((t, i) => t === action.topics[i])) {
        return state;
      }
      return { ...state, topics: action.topics, notificationsError: null };

    case 'notificationsRefused':
      return state.me ? { ...state, topics: [], notificationsError: action.message } : state;

    case 'notice':
      return state.notice === action.message ? state : { ...state, notice: action.message };

    case 'tick': {
      const { now } = action;
      let changed = false;
      const rooms: Record<string, RoomState> = {};
      for (const [name, room] of Object.entries(state.rooms)) {
        const typing = room.typing.filter((t) => t.expiresAt > now);
        if (typing.length !== room.typing.length) {
          changed = true;
          rooms[name] = { ...room, typing };
        } else {
          rooms[name] = room;
        }
      }
      const toasts = state.toasts.filter((t) => t.expiresAt > now);
      if (toasts.length !== state.toasts.length) changed = true;
      return changed ? { ...state, rooms, toasts } : state;
    }
  }
}

/** Whether anything in the state expires with time (so a timer is needed). */
export function hasExpiring(state: ChatState): boolean {
  return state.toasts.length > 0 || Object.values(state.rooms).some((r) => r.typing.length > 0);
}
