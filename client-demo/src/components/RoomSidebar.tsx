import { useId, useState } from 'react';
import type { RoomState } from '../realtime/state';
import { validateRoom } from '../realtime/state';
import type { RoomSummary } from '../realtime/types';
import { MAX_ROOM_CHARS } from '../realtime/types';

export interface RoomSidebarProps {
  rooms: RoomState[];
  activeRoom: string | null;
  directory: RoomSummary[];
  /** Notification topics subscribed to. */
  topics: string[];
  /** Why notifications are not available, or null. */
  notificationsError?: string | null;
  onSelect: (room: string) => void;
  onLeave: (room: string) => void;
  /** Returns why the room cannot be joined, or null. */
  onJoin: (room: string) => string | null;
}

function phaseLabel(room: RoomState): string | null {
  switch (room.phase) {
    case 'joining':
      return 'joining…';
    case 'rejoining':
      return 'rejoining…';
    case 'failed':
      return 'not joined';
    default:
      return null;
  }
}

export function RoomSidebar({
  rooms,
  activeRoom,
  directory,
  topics,
  notificationsError = null,
  onSelect,
  onLeave,
  onJoin,
}: RoomSidebarProps) {
  const [draft, setDraft] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const inputId = useId();
  const errorId = useId();
  const joined = new Set(rooms.map((r) => r.name));
  const others = directory.filter((d) => !joined.has(d.room));

  return (
    <div className="sidebar-inner">
      <nav aria-label="Your rooms" className="sidebar-section">
        <h2 className="sidebar-heading">Your rooms</h2>
        {rooms.length === 0 ? (
          <p className="muted small">You are not in any room.</p>
        ) : (
          <ul className="room-list">
            {rooms.map((room) => {
              const active = room.name === activeRoom;
              const phase = phaseLabel(room);
              return (
                <li key={room.name} className={`room-item${active ? ' is-active' : ''}`}>
                  <button
                    type="button"
                    className="room-button"
                    aria-current={active ? 'page' : undefined}
                    onClick={() => onSelect(room.name)}
                  >
                    <span className="room-hash" aria-hidden="true">
                      #
                    </span>
                    <span className="room-name">{room.name}</span>
                    {phase && <span className="room-phase">{phase}</span>}
                    {room.unread > 0 && (
                      <span className="unread" aria-label={`${room.unread} unread`}>
                        {room.unread > 99 ? '99+' : room.unread}
                      </span>
                    )}
                  </button>
                  <button
                    type="button"
                    className="icon-button room-leave"
                    aria-label={`Leave #${room.name}`}
                    title={`Leave #${room.name}`}
                    onClick={() => onLeave(room.name)}
                  >
                    <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
                      <path d="M4 4l8 8M12 4l-8 8" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
                    </svg>
                  </button>
                </li>
              );
            })}
          </ul>
        )}
      </nav>

      <form
        className="sidebar-section join-form"
        aria-label="Join a room"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          const name = draft.trim();
          const why = validateRoom(name) ?? onJoin(name);
          setProblem(why);
          if (!why) setDraft('');
        }}
      >
        <label htmlFor={inputId} className="sidebar-heading">
          Join or create a room
        </label>
        <div className="join-row">
          <div className="input-prefix">
            <span aria-hidden="true">#</span>
            <input
              id={inputId}
              value={draft}
              placeholder="room-name"
              maxLength={MAX_ROOM_CHARS}
              autoCapitalize="none"
              spellCheck={false}
              aria-invalid={Boolean(problem)}
              aria-describedby={problem ? errorId : undefined}
              onChange={(e) => {
                setDraft(e.target.value);
                if (problem) setProblem(null);
              }}
            />
          </div>
          <button type="submit" className="button">
            Join
          </button>
        </div>
        {problem && (
          <p id={errorId} className="form-error small" role="alert">
            {problem}
          </p>
        )}
      </form>

      <section className="sidebar-section" aria-labelledby="directory-heading">
        <h2 className="sidebar-heading" id="directory-heading">
          Active rooms
        </h2>
        {others.length === 0 ? (
          <p className="muted small">No other rooms have people in them right now.</p>
        ) : (
          <ul className="directory">
            {others.map((d) => (
              <li key={d.room}>
                <button type="button" className="directory-button" onClick={() => onJoin(d.room)}>
                  <span className="room-hash" aria-hidden="true">
                    #
                  </span>
                  <span className="room-name">{d.room}</span>
                  <span className="directory-count">{d.members} online</span>
                  <span className="visually-hidden">, join</span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </section>

      <section className="sidebar-section" aria-labelledby="topics-heading">
        <h2 className="sidebar-heading" id="topics-heading">
          Notifications
        </h2>
        <p className="muted small topics" data-testid="topics" data-topics={topics.join(',')}>
          {notificationsError ? (
            `Unavailable: ${notificationsError}`
          ) : topics.length === 0 ? (
            'Connecting…'
          ) : (
            <>
              Yours, and{' '}
              {topics.map((t, i) => (
                <span key={t}>
                  {i > 0 && ', '}
                  <span className="tag">{t}</span>
                </span>
              ))}
            </>
          )}
        </p>
      </section>
    </div>
  );
}
