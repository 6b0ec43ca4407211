// Remembers who is signed in and which rooms are open, per browser tab
// (sessionStorage), so a reload puts the person back where they were.

import type { ChatState } from './state';
import { validateName, validateRoom } from './state';

export interface SavedSession {
  name: string;
  rooms: string[];
  activeRoom: string | null;
}

const KEY = 'iorelay-demo:session';
const NAME_KEY = 'iorelay-demo:last-name';

type StorageLike = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** The saved session, or null when there is none or it does not make sense. */
export function loadSession(storage: StorageLike | null): SavedSession | null {
  if (!storage) return null;
  try {
    const raw = storage.getItem(KEY);
    if (!raw) return null;
    const data = JSON.parse(raw) as Partial<SavedSession>;
    if (typeof data.name !== 'string' || validateName(data.name)) return null;
    const rooms = Array.isArray(data.rooms)
      ? data.rooms.filter((r): r is string => typeof r === 'string' && !validateRoom(r))
      : [];
    const activeRoom = typeof data.activeRoom === 'string' && rooms.includes(data.activeRoom) ? data.activeRoom : null;
    return { name: data.name, rooms, activeRoom };
  } catch {
    return null;
  }
}

/** What to save for `state`: null when signed out. */
export function sessionOf(state: ChatState): SavedSession | null {
  if (!state.me) return null;
  return { name: state.me.name, rooms: state.roomOrder, activeRoom: state.activeRoom };
}

export function saveSession(storage: StorageLike | null, session: SavedSession | null): void {
  if (!storage) return;
  try {
    if (session) {
      storage.setItem(KEY, JSON.stringify(session));
    } else {
      storage.removeItem(KEY);
    }
  } catch {
    // Storage full or disabled: the session just is not remembered.
  }
}

/** Remembers the name for the next sign-in form (use localStorage: it outlives the tab). */
export function rememberName(storage: StorageLike | null, name: string): void {
  try {
    storage?.setItem(NAME_KEY, name);
  } catch {
    // Not remembered.
  }
}

/** The name used last time (for the sign-in form). */
export function lastName(storage: StorageLike | null): string {
  try {
    return storage?.getItem(NAME_KEY) ?? '';
  } catch {
    return '';
  }
}
