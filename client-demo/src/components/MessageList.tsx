import { Fragment, useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { PendingMessage, RoomState } from '../realtime/state';
import { dayLabel, groupMessages, sameDay } from '../realtime/state';
import type { User } from '../realtime/types';
import { Avatar } from './Avatar';
import { formatFull, formatTime, isoTime } from './format';

export interface MessageListProps {
  room: RoomState;
  me: User;
  onLoadOlder: () => void;
  onRetry: (clientId: string) => void;
  onDiscard: (clientId: string) => void;
}

/** Pixels from the bottom within which the view counts as "at the latest message". */
const STICK_PX = 80;

export function MessageList({ room, me, onLoadOlder, onRetry, onDiscard }: MessageListProps) {
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const [showJump, setShowJump] = useState(false);
  const firstId = room.messages[0]?.id ?? 0;
  const lastId = room.messages[room.messages.length - 1]?.id ?? 0;
  const previous = useRef({ room: room.name, firstId, lastId, pending: room.pending.length, height: 0 });

  // Keep the view pinned to the newest message, keep its place when older ones are
  // prepended, and offer a "new messages" jump when the reader has scrolled up.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const prev = previous.current;
    const mine = room.messages[room.messages.length - 1]?.from.id === me.id;
    if (prev.room !== room.name) {
      el.scrollTop = el.scrollHeight;
      atBottom.current = true;
      setShowJump(false);
    } else if (firstId !== prev.firstId && lastId === prev.lastId && prev.height > 0) {
      el.scrollTop += el.scrollHeight - prev.height;
    } else if (lastId !== prev.lastId || room.pending.length > prev.pending) {
      if (atBottom.current || mine || room.pending.length > prev.pending) {
        el.scrollTop = el.scrollHeight;
      } else {
        setShowJump(true);
      }
    }
    previous.current = { room: room.name, firstId, lastId, pending: room.pending.length, height: el.scrollHeight };
  });

  useEffect(() => {
    const el = scroller.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, []);

  const groups = groupMessages(room.messages);
  const now = Date.now();

  return (
    <div className="messages-wrap">
      <div
        className="messages"
        ref={scroller}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
          if (atBottom.current && showJump) setShowJump(false);
        }}
      >
        {room.hasOlder && (
          <div className="older">
            <button type="button" className="button button-quiet" onClick={onLoadOlder} disabled={room.loadingOlder}>
              {room.loadingOlder ? 'Loading…' : 'Load earlier messages'}
            </button>
          </div>
        )}
        {room.messages.length === 0 && room.pending.length === 0 && (
          <div className="empty-room">
            {room.phase === 'joined' ? (
              <>
                <p className="empty-title">This is the start of #{room.name}</p>
                <p className="muted">Say hello — everyone who joins will see the latest messages.</p>
              </>
            ) : (
              <p className="muted">Joining #{room.name}…</p>
            )}
          </div>
        )}
        <ol className="message-log" role="log" aria-label={`Messages in #${room.name}`} aria-relevant="additions">
          {groups.map((group, i) => {
            const prevGroup = groups[i - 1];
            const newDay = !prevGroup || !sameDay(prevGroup.ts, group.ts);
            const mine = group.from.id === me.id;
            return (
              <Fragment key={group.key}>
                {newDay && (
                  <li className="day-separator" aria-hidden="true">
                    <span>{dayLabel(group.ts, now)}</span>
                  </li>
                )}
                {group.messages.map((m, j) => (
                  <li
                    key={m.id}
                    className={`message${mine ? ' is-mine' : ''}${j === 0 ? ' is-first' : ''}`}
                    data-id={m.id}
                    data-testid="message"
                  >
                    {j === 0 ? (
                      <Avatar user={m.from} />
                    ) : (
                      <time className="message-time-gutter" dateTime={isoTime(m.ts)} title={formatFull(m.ts)}>
                        {formatTime(m.ts)}
                      </time>
                    )}
                    <div className="message-main">
                      {j === 0 && (
                        <div className="message-meta">
                          <span className="message-sender">{m.from.name}</span>
                          {mine && <span className="tag">you</span>}
                          <time className="message-time" dateTime={isoTime(m.ts)} title={formatFull(m.ts)}>
                            {formatTime(m.ts)}
                          </time>
                        </div>
                      )}
                      {j !== 0 && (
                        <span className="visually-hidden">
                          {m.from.name} at {formatTime(m.ts)}:{' '}
                        </span>
                      )}
                      <p className="message-text">{m.text}</p>
                    </div>
                  </li>
                ))}
              </Fragment>
            );
          })}
          {room.pending.map((p) => (
            <PendingItem key={p.clientId} pending={p} me={me} onRetry={onRetry} onDiscard={onDiscard} />
          ))}
        </ol>
      </div>
      {showJump && (
        <button
          type="button"
          className="jump"
          onClick={() => {
            const el = scroller.current;
            if (el) el.scrollTo({ top: el.scrollHeight, behavior: 'smooth' });
            setShowJump(false);
          }}
        >
          New messages ↓
        </button>
      )}
    </div>
  );
}

function PendingItem({
  pending,
  me,
  onRetry,
  onDiscard,
}: {
  pending: PendingMessage;
  me: User;
  onRetry: (clientId: string) => void;
  onDiscard: (clientId: string) => void;
}) {
  const failed = pending.status === 'failed';
  return (
    <li className={`message is-mine is-first is-pending${failed ? ' is-failed' : ''}`} data-testid="pending-message">
      <Avatar user={me} />
      <div className="message-main">
        <div className="message-meta">
          <span className="message-sender">{me.name}</span>
          <span className="tag">you</span>
          <span className="message-time">{failed ? 'Not sent' : 'Sending…'}</span>
        </div>
        <p className="message-text">{pending.text}</p>
        {failed && (
          <p className="message-error" role="alert">
            {pending.error ?? 'Could not send.'}{' '}
            <button type="button" className="link-button" onClick={() => onRetry(pending.clientId)}>
              Retry
            </button>{' '}
            <button type="button" className="link-button" onClick={() => onDiscard(pending.clientId)}>
              Discard
            </button>
          </p>
        )}
      </div>
    </li>
  );
}
