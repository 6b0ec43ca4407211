import type { User } from '../realtime/types';
import { sortMembers } from '../realtime/state';
import { Avatar } from './Avatar';

export interface PresenceListProps {
  room: string;
  members: User[];
  meId: string;
  typingIds: string[];
  /** False while the room is being (re-)joined: the list is the last one known. */
  live?: boolean;
  /** Users in the room per the server; big rooms list only a page of them. */
  count?: number;
}

export function PresenceList({ room, members, meId, typingIds, live = true, count }: PresenceListProps) {
  const sorted = sortMembers(members, meId);
  const total = Math.max(count ?? sorted.length, sorted.length);
  return (
    <section className={`presence${live ? '' : ' is-stale'}`} aria-labelledby="presence-heading">
      <h2 id="presence-heading" className="sidebar-heading">
        In #{room} <span className="count">{total}</span>
      </h2>
      {!live && <p className="presence-note muted">Last known members — updating when you are back online.</p>}
      <ul className="member-list" aria-live="polite" aria-relevant="additions removals" data-testid="members">
        {sorted.map((m) => (
          <li key={m.id} className="member" data-user-id={m.id}>
            <span className="member-avatar">
              <Avatar user={m} size="sm" />
              <span className="online-dot" aria-hidden="true" />
            </span>
            <span className="member-name">{m.name}</span>
            {m.id === meId && <span className="tag">you</span>}
            {typingIds.includes(m.id) && <span className="member-typing">typing…</span>}
          </li>
        ))}
      </ul>
      {total > sorted.length && <p className="presence-note muted">and {total - sorted.length} more</p>}
    </section>
  );
}
