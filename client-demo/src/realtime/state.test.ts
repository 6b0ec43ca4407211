import { describe, expect, it } from 'vitest';
import {
  MAX_TOASTS,
  TOAST_TTL_MS,
  TYPING_TTL_MS,
  chatReducer,
  describeTyping,
  groupMessages,
  hasExpiring,
  initialState,
  initials,
  isHistoryReset,
  lastSeenId,
  mergeMessages,
  nextCatchUpCursor,
  parseConnectError,
  planResync,
  sortMembers,
  validateName,
  validateRoom,
  validateText,
} from './state';
import type { ChatAction, ChatState } from './state';
import type { ChatMessage, User } from './types';

const alice: User = { id: 'guest:alice', name: 'Alice' };
const bob: User = { id: 'guest:bob', name: 'Bob' };
const carol: User = { id: 'guest:carol', name: 'Carol' };

function msg(id: number, from: User = bob, room = 'general', text = `m${id}`, ts = 1_700_000_000_000 + id * 1000): ChatMessage {
  return { id, room, from, text, ts };
}

function ids(messages: ChatMessage[]): number[] {
  return messages.map((m) => m.id);
}

function run(actions: ChatAction[], from: ChatState = initialState): ChatState {
  return actions.reduce(chatReducer, from);
}

/** Alice signed in, connected, in #general with Bob (and optionally more rooms). */
function joined(rooms: string[] = ['general'], messages: ChatMessage[] = []): ChatState {
  return run([
    { type: 'signIn', name: 'Alice', rooms },
    { type: 'connected', transport: 'websocket' },
    ...rooms.map(
      (room): ChatAction => ({
        type: 'joinSucceeded',
        room,
        members: [alice, bob],
        count: 2,
        messages: messages.filter((m) => m.room === room),
      }),
    ),
  ]);
}

describe('mergeMessages', () => {
  it('appends newer messages', () => {
    expect(ids(mergeMessages([msg(1), msg(2)], [msg(3), msg(4)]))).toEqual([1, 2, 3, 4]);
  });

  it('sorts out-of-order input and drops duplicates', () => {
    const merged = mergeMessages([msg(2), msg(5)], [msg(4), msg(2), msg(1), msg(5), msg(3), msg(4)]);
    expect(ids(merged)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps the copy it already has', () => {
    const original = msg(1, bob, 'general', 'first');
    const merged = mergeMessages([original], [{ ...original, text: 'changed' }, msg(2)]);
    expect(merged[0]).toBe(original);
  });

  it('returns the same array when nothing is new, so nothing re-renders', () => {
    const existing = [msg(1), msg(2), msg(3)];
    expect(mergeMessages(existing, [])).toBe(existing);
    expect(mergeMessages(existing, [msg(2), msg(3)])).toBe(existing);
  });

  it('fills a gap in the middle', () => {
    expect(ids(mergeMessages([msg(1), msg(2), msg(7), msg(8)], [msg(3), msg(4), msg(5), msg(6)]))).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8,
    ]);
  });

  it('does not take the fast path for input that is not strictly increasing', () => {
    expect(ids(mergeMessages([msg(1)], [msg(3), msg(3), msg(2)]))).toEqual([1, 2, 3]);
  });
});

describe('messages in the reducer', () => {
  it('shows a message delivered twice (event and history) once', () => {
    const s = run(
      [
        { type: 'messageReceived', message: msg(1) },
        { type: 'messageReceived', message: msg(1) },
        { type: 'historyLoaded', room: 'general', direction: 'newer', reply: { messages: [msg(1), msg(2)], has_more: false } },
        { type: 'messageReceived', message: msg(2) },
      ],
      joined(),
    );
    expect(ids(s.rooms.general.messages)).toEqual([1, 2]);
  });

  it('ignores messages for rooms it is not in', () => {
    const s0 = joined();
    expect(chatReducer(s0, { type: 'messageReceived', message: msg(1, bob, 'elsewhere') })).toBe(s0);
  });

  it('keeps one copy of an own message whether the ack or the event comes first', () => {
    const start = run([{ type: 'sendStarted', room: 'general', clientId: 'c1', text: 'hi', now: 1 }], joined());
    expect(start.rooms.general.pending).toHaveLength(1);
    const echo = msg(1, alice, 'general', 'hi');

    const ackFirst = run(
      [
        { type: 'sendSucceeded', room: 'general', clientId: 'c1', id: 1, ts: echo.ts },
        { type: 'messageReceived', message: echo },
      ],
      start,
    );
    const eventFirst = run(
      [
        { type: 'messageReceived', message: echo },
        { type: 'sendSucceeded', room: 'general', clientId: 'c1', id: 1, ts: echo.ts },
      ],
      start,
    );
    for (const s of [ackFirst, eventFirst]) {
      expect(s.rooms.general.pending).toEqual([]);
      expect(s.rooms.general.messages).toEqual([echo]);
    }
  });

  it('marks a failed send, and a retry sends it again', () => {
    let s = run(
      [
        { type: 'sendStarted', room: 'general', clientId: 'c1', text: 'hi', now: 1 },
        { type: 'sendFailed', room: 'general', clientId: 'c1', message: 'The server did not answer in time.' },
      ],
      joined(),
    );
    expect(s.rooms.general.pending[0]).toMatchObject({ status: 'failed', error: 'The server did not answer in time.' });
    s = chatReducer(s, { type: 'sendRetried', room: 'general', clientId: 'c1' });
    expect(s.rooms.general.pending[0]).toMatchObject({ status: 'sending' });
    s = chatReducer(s, { type: 'pendingDiscarded', room: 'general', clientId: 'c1' });
    expect(s.rooms.general.pending).toEqual([]);
  });

  it('drops a failed send once the message shows up after all', () => {
    const s = run(
      [
        { type: 'sendStarted', room: 'general', clientId: 'c1', text: 'did it go?', now: 1 },
        { type: 'sendFailed', room: 'general', clientId: 'c1', message: 'The server did not answer in time.' },
        { type: 'historyLoaded', room: 'general', direction: 'newer', reply: { messages: [msg(1, alice, 'general', 'did it go?')], has_more: false } },
      ],
      joined(),
    );
    expect(s.rooms.general.pending).toEqual([]);
    expect(ids(s.rooms.general.messages)).toEqual([1]);
  });

  it('counts unread messages of other people in rooms not shown', () => {
    let s = run(
      [
        { type: 'messageReceived', message: msg(1, bob, 'random') },
        { type: 'messageReceived', message: msg(1, bob, 'random') },
        { type: 'messageReceived', message: msg(2, alice, 'random') },
        { type: 'messageReceived', message: msg(3, carol, 'random') },
        { type: 'messageReceived', message: msg(1, bob, 'general') },
      ],
      joined(['general', 'random']),
    );
    expect(s.activeRoom).toBe('general');
    expect(s.rooms.random.unread).toBe(2);
    expect(s.rooms.general.unread).toBe(0);
    s = chatReducer(s, { type: 'activate', room: 'random' });
    expect(s.rooms.random.unread).toBe(0);
  });

  it('knows whether older messages exist from the ids (they start at 1)', () => {
    const fresh = joined(['general'], [msg(1), msg(2)]);
    expect(fresh.rooms.general.hasOlder).toBe(false);
    const busy = joined(['general'], [msg(51), msg(52)]);
    expect(busy.rooms.general.hasOlder).toBe(true);
    const paged = run(
      [
        { type: 'olderLoading', room: 'general' },
        { type: 'historyLoaded', room: 'general', direction: 'older', reply: { messages: [msg(49), msg(50)], has_more: true } },
      ],
      busy,
    );
    expect(ids(paged.rooms.general.messages)).toEqual([49, 50, 51, 52]);
    expect(paged.rooms.general).toMatchObject({ hasOlder: true, loadingOlder: false });
    const trimmed = chatReducer(paged, {
      type: 'historyLoaded',
      room: 'general',
      direction: 'older',
      reply: { messages: [], has_more: false },
    });
    expect(trimmed.rooms.general.hasOlder).toBe(false);
  });
});

describe('rooms', () => {
  it('signs in with the rooms to join, as joining', () => {
    const s = chatReducer(initialState, { type: 'signIn', name: ' Alice ', rooms: ['general', 'ops', 'general'] });
    expect(s.me).toEqual(alice);
    expect(s.status).toBe('connecting');
    expect(s.roomOrder).toEqual(['general', 'ops']);
    expect(s.activeRoom).toBe('general');
    expect(s.rooms.ops.phase).toBe('joining');
  });

  it('drops a room whose first join failed, with a notice', () => {
    const s = run(
      [
        { type: 'joinStarted', room: 'busy', activate: true },
        { type: 'joinFailed', room: 'busy', message: 'You are in too many rooms.' },
      ],
      joined(),
    );
    expect(s.rooms.busy).toBeUndefined();
    expect(s.roomOrder).toEqual(['general']);
    expect(s.activeRoom).toBe('general');
    expect(s.notice).toMatch(/Could not join #busy/);
  });

  it('keeps a room whose re-join failed, with its messages, marked failed', () => {
    const s = run(
      [
        { type: 'disconnected', willReconnect: true },
        { type: 'joinStarted', room: 'general' },
        { type: 'joinFailed', room: 'general', message: 'nope' },
      ],
      joined(['general'], [msg(1)]),
    );
    expect(s.rooms.general).toMatchObject({ phase: 'failed', error: 'nope' });
    expect(ids(s.rooms.general.messages)).toEqual([1]);
  });

  it('shows the neighbour when the shown room is left', () => {
    let s = joined(['a', 'b', 'c']);
    s = chatReducer(s, { type: 'activate', room: 'b' });
    s = chatReducer(s, { type: 'left', room: 'b' });
    expect(s.roomOrder).toEqual(['a', 'c']);
    expect(s.activeRoom).toBe('c');
    s = chatReducer(s, { type: 'left', room: 'c' });
    expect(s.activeRoom).toBe('a');
    s = chatReducer(s, { type: 'left', room: 'a' });
    expect(s.activeRoom).toBeNull();
  });

  it('re-selecting a joined room does not create a second one', () => {
    const s = chatReducer(joined(['a', 'b']), { type: 'joinStarted', room: 'a', activate: true });
    expect(s.roomOrder).toEqual(['a', 'b']);
    expect(s.activeRoom).toBe('a');
    expect(s.rooms.a.phase).toBe('joined');
  });
});

describe('presence', () => {
  it('applies the joined and left users of each presence event and takes its count', () => {
    const s = run(
      [
        { type: 'presence', event: { room: 'general', joined: [carol], count: 3 } },
        { type: 'presence', event: { room: 'general', left: [bob], count: 2 } },
      ],
      joined(),
    );
    expect(s.rooms.general.members).toEqual([alice, carol]);
    expect(s.rooms.general.memberCount).toBe(2);
  });

  it('is idempotent: a repeated join, or a leave of someone not listed, changes nothing', () => {
    const dave = { id: 'guest:dave', name: 'Dave' };
    const s = run(
      [
        { type: 'presence', event: { room: 'general', joined: [bob, carol], count: 3 } },
        { type: 'presence', event: { room: 'general', joined: [carol], left: [dave], count: 3 } },
      ],
      joined(),
    );
    expect(s.rooms.general.members).toEqual([alice, bob, carol]);
  });

  it('keeps the list in a big room where only counts come', () => {
    const s = run([{ type: 'presence', event: { room: 'general', count: 5000 } }], joined());
    expect(s.rooms.general.members).toEqual([alice, bob]);
    expect(s.rooms.general.memberCount).toBe(5000);
  });

  it('forgets that someone was typing when they leave', () => {
    const s = run(
      [
        { type: 'typingReceived', event: { room: 'general', user: bob, typing: true }, now: 0 },
        { type: 'presence', event: { room: 'general', left: [bob], count: 1 } },
      ],
      joined(),
    );
    expect(s.rooms.general.typing).toEqual([]);
  });

  it('lists me first, then by name, once per user', () => {
    expect(sortMembers([carol, bob, alice, bob], alice.id).map((u) => u.name)).toEqual(['Alice', 'Bob', 'Carol']);
    expect(sortMembers([carol, bob, alice], carol.id).map((u) => u.name)).toEqual(['Carol', 'Alice', 'Bob']);
  });
});

describe('typing', () => {
  const typing = (user: User, on: boolean, now: number): ChatAction => ({
    type: 'typingReceived',
    event: { room: 'general', user, typing: on },
    now,
  });

  it('shows who types, sorted by name, and stops on typing:false', () => {
    let s = run([typing(carol, true, 0), typing(bob, true, 0)], joined());
    expect(s.rooms.general.typing.map((t) => t.user.name)).toEqual(['Bob', 'Carol']);
    s = chatReducer(s, typing(carol, false, 10));
    expect(s.rooms.general.typing.map((t) => t.user.name)).toEqual(['Bob']);
  });

  it('expires an indicator that was not refreshed', () => {
    let s = run([typing(bob, true, 1_000)], joined());
    expect(hasExpiring(s)).toBe(true);
    s = chatReducer(s, { type: 'tick', now: 1_000 + TYPING_TTL_MS - 1 });
    expect(s.rooms.general.typing).toHaveLength(1);
    // A refresh pushes the expiry out.
    s = chatReducer(s, typing(bob, true, 5_000));
    s = chatReducer(s, { type: 'tick', now: 1_000 + TYPING_TTL_MS + 1 });
    expect(s.rooms.general.typing).toHaveLength(1);
    s = chatReducer(s, { type: 'tick', now: 5_000 + TYPING_TTL_MS });
    expect(s.rooms.general.typing).toEqual([]);
    expect(hasExpiring(s)).toBe(false);
  });

  it('a tick with nothing to expire changes nothing', () => {
    const s = run([typing(bob, true, 0)], joined());
    expect(chatReducer(s, { type: 'tick', now: 1 })).toBe(s);
  });

  it('ignores its own typing echo and clears typing on a message from that person', () => {
    let s = run([typing(alice, true, 0)], joined());
    expect(s.rooms.general.typing).toEqual([]);
    s = run([typing(bob, true, 0), { type: 'messageReceived', message: msg(1, bob) }], s);
    expect(s.rooms.general.typing).toEqual([]);
  });

  it('describes who is typing', () => {
    const e = (u: User) => ({ user: u, expiresAt: 0 });
    expect(describeTyping([])).toBe('');
    expect(describeTyping([e(bob)])).toBe('Bob is typing…');
    expect(describeTyping([e(bob), e(carol)])).toBe('Bob and Carol are typing…');
    expect(describeTyping([e(alice), e(bob), e(carol)])).toBe('Alice, Bob and Carol are typing…');
    expect(describeTyping([e(alice), e(bob), e(carol), e({ id: 'x', name: 'X' })])).toBe('Several people are typing…');
  });
});

describe('connection status', () => {
  it('goes connecting → connected → reconnecting → connected', () => {
    let s = chatReducer(initialState, { type: 'signIn', name: 'Alice', rooms: ['general'] });
    expect(s.status).toBe('connecting');
    s = chatReducer(s, { type: 'connected', transport: 'polling' });
    expect(s).toMatchObject({ status: 'connected', transport: 'polling' });
    s = chatReducer(s, { type: 'transport', transport: 'websocket' });
    expect(s.transport).toBe('websocket');
    s = chatReducer(s, { type: 'disconnected', willReconnect: true });
    expect(s).toMatchObject({ status: 'reconnecting', transport: null });
    s = chatReducer(s, { type: 'connectError', code: 'connect_failed', message: 'x', fatal: false });
    expect(s.status).toBe('reconnecting');
    s = chatReducer(s, { type: 'connected', transport: 'websocket' });
    expect(s).toMatchObject({ status: 'connected', lastError: null });
  });

  it('is offline while the browser is, and reconnecting once it is back', () => {
    let s = joined();
    s = chatReducer(s, { type: 'browserOnline', online: false });
    s = chatReducer(s, { type: 'disconnected', willReconnect: true });
    expect(s.status).toBe('offline');
    s = chatReducer(s, { type: 'browserOnline', online: true });
    expect(s.status).toBe('reconnecting');
  });

  it('is offline when the server ended the session for good', () => {
    expect(chatReducer(joined(), { type: 'disconnected', willReconnect: false }).status).toBe('offline');
  });

  it('marks rooms for re-joining and forgets typing when the connection drops', () => {
    const s = run(
      [
        { type: 'typingReceived', event: { room: 'general', user: bob, typing: true }, now: 0 },
        { type: 'disconnected', willReconnect: true },
      ],
      joined(['general'], [msg(1)]),
    );
    expect(s.rooms.general).toMatchObject({ phase: 'rejoining', typing: [] });
    expect(ids(s.rooms.general.messages)).toEqual([1]);
  });

  it('takes its own id from the server\'s member list', () => {
    let s = chatReducer(initialState, { type: 'signIn', name: 'Alice', rooms: ['general'] });
    expect(s.me).toEqual({ id: 'guest:alice', name: 'Alice' });
    const fromServer = { id: 'user-42', name: 'Alice' };
    s = chatReducer(s, { type: 'joinSucceeded', room: 'general', members: [bob, fromServer], count: 2, messages: [] });
    expect(s.me).toEqual(fromServer);
  });

  it('reads the code of a connect_error from data or from the message', () => {
    expect(parseConnectError({ message: 'invalid_name: display names have at most 32 characters' })).toEqual({
      code: 'invalid_name',
      message: 'Display names have at most 32 characters',
    });
    expect(parseConnectError({ message: 'Name refused', data: { code: 'invalid_name' } })).toEqual({
      code: 'invalid_name',
      message: 'Name refused',
    });
    expect(parseConnectError({ message: 'xhr poll error' })).toEqual({ code: 'connect_failed', message: 'Xhr poll error' });
    expect(parseConnectError(undefined)).toEqual({ code: 'connect_failed', message: 'The server refused the connection.' });
  });

  it('signs out with the reason when the server refuses the name', () => {
    const s = chatReducer(joined(), {
      type: 'connectError',
      code: 'invalid_name',
      message: 'names have 1 to 32 characters',
      fatal: true,
    });
    expect(s.me).toBeNull();
    expect(s.status).toBe('signed-out');
    expect(s.lastError).toEqual({ code: 'invalid_name', message: 'names have 1 to 32 characters' });
  });
});

describe('reconnect catch-up planning', () => {
  it('re-joins every room, the shown one first, from the last id seen', () => {
    let s = joined(['a', 'b', 'c'], [msg(3, bob, 'a'), msg(4, bob, 'a'), msg(9, bob, 'c')]);
    s = chatReducer(s, { type: 'activate', room: 'c' });
    s = chatReducer(s, { type: 'disconnected', willReconnect: true });
    expect(planResync(s)).toEqual([
      { room: 'c', after: 9 },
      { room: 'a', after: 4 },
      { room: 'b', after: 0 },
    ]);
  });

  it('lastSeenId is the highest id held', () => {
    expect(lastSeenId(undefined)).toBe(0);
    expect(lastSeenId(joined(['general'], [msg(2), msg(7)]).rooms.general)).toBe(7);
  });

  it('pages on while the server has more', () => {
    expect(nextCatchUpCursor(3, { messages: [msg(4), msg(5)], has_more: true })).toBe(5);
    expect(nextCatchUpCursor(5, { messages: [msg(6)], has_more: false })).toBeNull();
    expect(nextCatchUpCursor(5, { messages: [], has_more: true })).toBeNull();
    // A reply that does not move forward must not loop.
    expect(nextCatchUpCursor(5, { messages: [msg(5)], has_more: true })).toBeNull();
  });

  it('loses nothing and duplicates nothing across a drop', () => {
    // Seen 1..3; while away 4..9 were sent. The re-join brings the newest (8, 9),
    // a live event brings 9 again, the catch-up brings 4..7 then 8..9.
    let s = joined(['general'], [msg(1), msg(2), msg(3)]);
    s = chatReducer(s, { type: 'disconnected', willReconnect: true });
    const [step] = planResync(s);
    expect(step).toEqual({ room: 'general', after: 3 });
    s = run(
      [
        { type: 'connected', transport: 'websocket' },
        { type: 'joinSucceeded', room: 'general', members: [alice, bob], count: 2, messages: [msg(8), msg(9)] },
        { type: 'messageReceived', message: msg(9) },
        { type: 'historyLoaded', room: 'general', direction: 'newer', reply: { messages: [msg(4), msg(5), msg(6), msg(7)], has_more: true } },
        { type: 'historyLoaded', room: 'general', direction: 'newer', reply: { messages: [msg(8), msg(9)], has_more: false } },
      ],
      s,
    );
    expect(ids(s.rooms.general.messages)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s.rooms.general.phase).toBe('joined');
  });
});

describe('a server whose history started over', () => {
  it('is told apart from a normal catch-up', () => {
    const held = [msg(1), msg(2), msg(3)];
    expect(isHistoryReset(held, [msg(2), msg(3), msg(4)])).toBe(false);
    expect(isHistoryReset(held, [])).toBe(false);
    expect(isHistoryReset([], [msg(1)])).toBe(false);
    // Ids went down, or an id we hold now names another message.
    expect(isHistoryReset(held, [msg(1, carol, 'general', 'new era', 5)])).toBe(true);
    expect(isHistoryReset(held, [msg(1), msg(2, alice, 'general', 'other')])).toBe(true);
  });

  it('replaces the room\'s messages on re-join and says so', () => {
    let s = joined(['general'], [msg(1), msg(2), msg(3)]);
    s = chatReducer(s, { type: 'disconnected', willReconnect: true });
    const fresh = [msg(1, carol, 'general', 'after restart', 99)];
    s = chatReducer(s, { type: 'joinSucceeded', room: 'general', members: [alice], count: 1, messages: fresh });
    expect(s.rooms.general.messages).toEqual(fresh);
    expect(s.rooms.general).toMatchObject({ phase: 'joined', hasOlder: false });
    expect(s.notice).toMatch(/started over/);
  });

  it('a live message that clashes with a held id starts the room over; a late duplicate does not', () => {
    const s = joined(['general'], [msg(1), msg(2), msg(3)]);
    expect(chatReducer(s, { type: 'messageReceived', message: msg(2) })).toBe(s);
    const clash = msg(1, carol, 'general', 'after restart', 99);
    expect(chatReducer(s, { type: 'messageReceived', message: clash }).rooms.general.messages).toEqual([clash]);
  });
});

describe('notifications (toasts)', () => {
  const note = (id: string, title = `T${id}`) => ({
    type: 'notification' as const,
    notification: { id, title, body: 'body', data: null, ts: 1 },
    now: 1_000,
  });

  it('shows each notification once', () => {
    const s = run([note('n1'), note('n1'), note('n2')], joined());
    expect(s.toasts.map((t) => t.id)).toEqual(['n1', 'n2']);
  });

  it('keeps at most a few on screen, newest last', () => {
    const many = Array.from({ length: MAX_TOASTS + 2 }, (_, i) => note(`n${i}`));
    const s = run(many, joined());
    expect(s.toasts).toHaveLength(MAX_TOASTS);
    expect(s.toasts[s.toasts.length - 1].id).toBe(`n${MAX_TOASTS + 1}`);
  });

  it('expires and can be dismissed', () => {
    let s = run([note('n1'), note('n2')], joined());
    s = chatReducer(s, { type: 'toastDismissed', id: 'n1' });
    expect(s.toasts.map((t) => t.id)).toEqual(['n2']);
    s = chatReducer(s, { type: 'tick', now: 1_000 + TOAST_TTL_MS });
    expect(s.toasts).toEqual([]);
    // Still remembered: a redelivery does not pop up again.
    expect(chatReducer(s, note('n2')).toasts).toEqual([]);
  });
});

describe('validation', () => {
  it('names', () => {
    expect(validateName('Ada')).toBeNull();
    expect(validateName('  ')).toMatch(/Enter a name/);
    expect(validateName('x'.repeat(32))).toBeNull();
    expect(validateName('x'.repeat(33))).toMatch(/at most 32/);
    expect(validateName('é'.repeat(32))).toBeNull();
    expect(validateName('a\u0007b')).toMatch(/control/);
  });

  it('rooms', () => {
    expect(validateRoom('general')).toBeNull();
    expect(validateRoom('team:ops-1.x_y')).toBeNull();
    expect(validateRoom('ünïcode')).toBeNull();
    expect(validateRoom('')).toMatch(/Enter a room/);
    expect(validateRoom('has space')).toMatch(/letters, digits/);
    expect(validateRoom('x'.repeat(64))).toBeNull();
    expect(validateRoom('x'.repeat(65))).toMatch(/at most 64/);
  });

  it('texts', () => {
    expect(validateText('hi')).toBeNull();
    expect(validateText(' \n ')).toMatch(/Type a message/);
    expect(validateText('x'.repeat(2001))).toMatch(/at most 2000/);
  });
});

describe('display helpers', () => {
  it('groups consecutive messages of one sender', () => {
    const groups = groupMessages([msg(1, bob), msg(2, bob), msg(3, alice), msg(4, bob), { ...msg(5, bob), ts: msg(4).ts + 10 * 60_000 }]);
    expect(groups.map((g) => [g.from.name, ids(g.messages)])).toEqual([
      ['Bob', [1, 2]],
      ['Alice', [3]],
      ['Bob', [4]],
      ['Bob', [5]],
    ]);
  });

  it('initials', () => {
    expect(initials('ada lovelace')).toBe('AL');
    expect(initials('Bob')).toBe('B');
    expect(initials('  ')).toBe('?');
  });
});
