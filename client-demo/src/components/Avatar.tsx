import type { CSSProperties } from 'react';
import type { User } from '../realtime/types';
import { hueFor, initials } from '../realtime/state';

export function Avatar({ user, size = 'md' }: { user: User; size?: 'sm' | 'md' }) {
  return (
    <span className={`avatar avatar-${size}`} style={{ '--hue': hueFor(user.id) } as CSSProperties} aria-hidden="true">
      {initials(user.name)}
    </span>
  );
}
