import { describe, expect, it } from 'vitest';
import { lastName, loadSession, rememberName, saveSession, sessionOf } from './session';
import { chatReducer, initialState } from './state';

function memoryStorage() {
  const data = new Map<string, string>();
  return {
    getItem: (k: string) => data.get(k) ?? null,
    setItem: (k: string, v: string) => void data.set(k, v),
    removeItem: (k: string) => void data.delete(k),
  };
}

describe('session', () => {
  it('round-trips the name, rooms and shown room', () => {
    const storage = memoryStorage();
    const state = chatReducer(initialState, { type: 'signIn', name: 'Alice', rooms: ['general', 'ops'], activeRoom: 'ops' });
    saveSession(storage, sessionOf(state));
    expect(loadSession(storage)).toEqual({ name: 'Alice', rooms: ['general', 'ops'], activeRoom: 'ops' });
    saveSession(storage, sessionOf(initialState));
    expect(loadSession(storage)).toBeNull();
  });

  it('ignores what does not make sense', () => {
    const storage = memoryStorage();
    storage.setItem('iorelay-demo:session', '{not json');
    expect(loadSession(storage)).toBeNull();
    storage.setItem('iorelay-demo:session', JSON.stringify({ name: '', rooms: [] }));
    expect(loadSession(storage)).toBeNull();
    storage.setItem('iorelay-demo:session', JSON.stringify({ name: 'Al', rooms: ['ok', 'bad room', 7], activeRoom: 'bad room' }));
    expect(loadSession(storage)).toEqual({ name: 'Al', rooms: ['ok'], activeRoom: null });
    expect(loadSession(null)).toBeNull();
  });

  it('remembers the last name', () => {
    const storage = memoryStorage();
    expect(lastName(storage)).toBe('');
    rememberName(storage, 'Ada');
    expect(lastName(storage)).toBe('Ada');
  });
});
