// The event contract of iorelay's /chat and /notifications namespaces, as the
// client sees it. Keep in sync with server/src/events/{chat,notifications}.rs.

/** A chat user: stable id (`guest:<name>` for guests) and display name. */
export interface User {
  id: string;
  name: string;
}

/** A stored message. `id` is per room, starts at 1 and only grows. */
export interface ChatMessage {
  id: number;
  room: string;
  from: User;
  text: string;
  /** Milliseconds since the Unix epoch, set by the server. */
  ts: number;
}

export type ErrorCode =
  | 'bad_request'
  | 'invalid_room'
  | 'invalid_text'
  | 'invalid_name'
  | 'invalid_topic'
  | 'invalid_cursor'
  | 'not_in_room'
  | 'too_many_rooms'
  | 'internal'
  | 'timeout'
  | 'offline';

export interface AckError {
  code: ErrorCode | string;
  message: string;
}

/** Every acknowledgement: `{ok: true, ...T}` or `{ok: false, error}`. */
export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: AckError };

/** Ack of `join`: the first page of members (by id), how many there are, and the newest messages. */
export interface JoinReply {
  room: string;
  members: User[];
  count: number;
  /** Pass to `members` for the next page; null when `members` is everyone. */
  next_cursor: string | null;
  messages: ChatMessage[];
}

/** `members {room, cursor?, limit?}`: the next page of a joined room's members. */
export interface MembersRequest {
  room: string;
  cursor?: string;
  limit?: number;
}

export interface MembersReply {
  members: User[];
  next_cursor: string | null;
  count: number;
}

export interface SendReply {
  id: number;
  ts: number;
}

export interface HistoryReply {
  messages: ChatMessage[];
  has_more: boolean;
}

export interface RoomSummary {
  room: string;
  members: number;
}

export interface RoomsReply {
  rooms: RoomSummary[];
}

export interface HistoryRequest {
  room: string;
  before?: number;
  after?: number;
  limit?: number;
}

/** Server → client `typing`, sent to the others in the room. */
export interface TypingEvent {
  room: string;
  user: User;
  typing: boolean;
}

/**
 * Server → client `presence`: who came and went since the last one (batched
 * per room), and how many users are in the room now. Rooms above the server's
 * listing limit get `{room, count}` only.
 */
export interface PresenceEvent {
  room: string;
  joined?: User[];
  left?: User[];
  count: number;
}

/** Server → client `notification` on /notifications. */
export interface Notification {
  id: string;
  topic?: string;
  title: string;
  body: string;
  data: unknown;
  ts: number;
  /** Its position in each of this user's streams it belongs to (`user:<id>`, `topic:<name>`). */
  positions?: Record<string, number>;
}

/** Stream → the highest position seen: sent back as `auth.since` to catch up. */
export type Cursor = Record<string, number>;

/** Server → client `caught_up`: the end of the catch-up after a connect. */
export interface CaughtUp {
  recovered: boolean;
  missed: number;
  unrecovered?: string[];
  positions: Cursor;
}

export interface TopicsReply {
  topics: string[];
  positions?: Cursor;
}

/** Events the server emits on /chat. */
export interface ChatServerEvents {
  message: (message: ChatMessage) => void;
  typing: (event: TypingEvent) => void;
  presence: (event: PresenceEvent) => void;
}

/** Events the client emits on /chat; each is acknowledged. */
export interface ChatClientEvents {
  join: (req: { room: string }, ack: (reply: Ack<JoinReply>) => void) => void;
  leave: (req: { room: string }, ack: (reply: Ack) => void) => void;
  message: (req: { room: string; text: string }, ack: (reply: Ack<SendReply>) => void) => void;
  typing: (req: { room: string; typing: boolean }, ack: (reply: Ack) => void) => void;
  history: (req: HistoryRequest, ack: (reply: Ack<HistoryReply>) => void) => void;
  members: (req: MembersRequest, ack: (reply: Ack<MembersReply>) => void) => void;
  rooms: (req: Record<string, never>, ack: (reply: Ack<RoomsReply>) => void) => void;
}

export interface NotificationServerEvents {
  notification: (n: Notification) => void;
  caught_up: (reply: CaughtUp) => void;
}

export interface NotificationClientEvents {
  subscribe: (req: { topic: string }, ack: (reply: Ack<TopicsReply>) => void) => void;
  unsubscribe: (req: { topic: string }, ack: (reply: Ack<TopicsReply>) => void) => void;
}

/** Limits the server enforces; checked here too so people get feedback before a round trip. */
export const MAX_NAME_CHARS = 32;
export const MAX_ROOM_CHARS = 64;
export const MAX_TEXT_CHARS = 2000;
