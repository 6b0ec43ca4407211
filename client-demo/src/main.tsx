import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { ChatClient } from './realtime/connection';
import { lastName, loadSession, rememberName, saveSession, sessionOf } from './realtime/session';
import './styles.css';

function storage(kind: 'sessionStorage' | 'localStorage'): Storage | null {
  try {
    return window[kind];
  } catch {
    return null;
  }
}

// Same origin by default: served by iorelay (--static-dir) or through the Vite dev proxy.
const client = new ChatClient({ url: import.meta.env.VITE_IORELAY_URL ?? '' });

// Survive a reload: sign back in to the same rooms.
const saved = loadSession(storage('sessionStorage'));
let savedJson = '';
client.subscribe(() => {
  const session = sessionOf(client.getState());
  const json = JSON.stringify(session);
  if (json === savedJson) return;
  savedJson = json;
  saveSession(storage('sessionStorage'), session);
  if (session) rememberName(storage('localStorage'), session.name);
});
if (saved) client.signIn(saved.name, saved.rooms, saved.activeRoom);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App client={client} initialName={lastName(storage('localStorage'))} />
  </StrictMode>,
);
