import { useEffect, useMemo, useRef, useState } from 'react';
import type { Ref } from 'react';
import type { ChatClient } from './realtime/connection';
import { useChatState } from './realtime/useChat';
import type { ChatState } from './realtime/state';
import { Avatar } from './components/Avatar';
import { Composer } from './components/Composer';
import { ConnectionBadge } from './components/ConnectionBadge';
import { Logo } from './components/Logo';
import { MessageList } from './components/MessageList';
import { PresenceList } from './components/PresenceList';
import { RoomSidebar } from './components/RoomSidebar';
import { SignIn } from './components/SignIn';
import { Toasts } from './components/Toasts';
import { TypingIndicator } from './components/TypingIndicator';

export interface AppProps {
  client: ChatClient;
  initialName: string;
}

export function App({ client, initialName }: AppProps) {
  const state = useChatState(client);
  if (!state.me) {
    return (
      <>
        <SignIn initialName={initialName} error={state.lastError} onSignIn={(name, room) => client.signIn(name, [room])} />
        <Toasts toasts={state.toasts} onDismiss={(id) => client.dismissToast(id)} />
      </>
    );
  }
  return <ChatScreen client={client} state={state} />;
}

/** Why the composer cannot send in the active room right now, or null. */
export function sendBlockedReason(state: ChatState): string | null {
  const room = state.activeRoom ? state.rooms[state.activeRoom] : undefined;
  if (!room) return 'Join a room first.';
  if (state.status === 'offline') return 'You are offline. Your draft is kept; send it once you are back.';
  if (state.status !== 'connected') return 'Reconnecting… your draft is kept.';
  if (room.phase === 'failed') return room.error ?? `Could not join #${room.name}.`;
  if (room.phase !== 'joined') return `Joining #${room.name}…`;
  return null;
}

function ChatScreen({ client, state }: { client: ChatClient; state: ChatState }) {
  const me = state.me!;
  const [panel, setPanel] = useState<'none' | 'rooms' | 'members'>('none');
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  const room = state.activeRoom ? state.rooms[state.activeRoom] : undefined;
  const rooms = useMemo(() => state.roomOrder.map((r) => state.rooms[r]).filter(Boolean), [state.roomOrder, state.rooms]);

  // Drawers (phone and tablet widths): focus moves into an opened drawer and back to its toggle.
  const roomsToggle = useRef<HTMLButtonElement>(null);
  const membersToggle = useRef<HTMLButtonElement>(null);
  const roomsClose = useRef<HTMLButtonElement>(null);
  const membersClose = useRef<HTMLButtonElement>(null);
  const lastPanel = useRef(panel);
  useEffect(() => {
    const previous = lastPanel.current;
    lastPanel.current = panel;
    if (panel === 'rooms') roomsClose.current?.focus();
    else if (panel === 'members') membersClose.current?.focus();
    else if (previous === 'rooms' && document.activeElement === document.body) roomsToggle.current?.focus();
    else if (previous === 'members' && document.activeElement === document.body) membersToggle.current?.focus();
  }, [panel]);

  // Close the drawers with Escape.
  useEffect(() => {
    if (panel === 'none') return;
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && setPanel('none');
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [panel]);

  const totalUnread = rooms.reduce((n, r) => n + (r.name === state.activeRoom ? 0 : r.unread), 0);
  useEffect(() => {
    const unread = totalUnread > 0 ? `(${totalUnread}) ` : '';
    document.title = `${unread}${room ? `#${room.name} · ` : ''}iorelay chat`;
  }, [room?.name, totalUnread]); // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <div className={`shell panel-${panel}`}>
      <header className="topbar">
        <button
          ref={roomsToggle}
          type="button"
          className="icon-button only-narrow"
          aria-label="Rooms"
          aria-expanded={panel === 'rooms'}
          aria-controls="sidebar"
          onClick={() => setPanel(panel === 'rooms' ? 'none' : 'rooms')}
        >
          <svg viewBox="0 0 20 20" width="20" height="20" aria-hidden="true">
            <path d="M3 5h14M3 10h14M3 15h14" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
          </svg>
          {totalUnread > 0 && <span className="dot-badge" aria-hidden="true" />}
        </button>
        <div className="brand">
          <Logo />
          <span className="brand-name">iorelay chat</span>
        </div>
        <div className="topbar-spacer" />
        <ConnectionBadge
          status={state.status}
          transport={state.transport}
          node={state.node}
          // Retrying helps when the server ended the session, not while the browser is offline.
          onReconnect={state.browserOnline ? () => client.reconnectNow() : undefined}
        />
        <div className="me">
          <Avatar user={me} size="sm" />
          <span className="me-name">{me.name}</span>
          <button type="button" className="button button-quiet button-small hide-narrow" onClick={() => client.signOut()}>
            Sign out
          </button>
        </div>
      </header>

      {state.notice && (
        <div className="notice" role="alert">
          <span>{state.notice}</span>
          <button type="button" className="icon-button" aria-label="Dismiss" onClick={() => client.dismissNotice()}>
            ×
          </button>
        </div>
      )}

      <aside id="sidebar" className="sidebar" aria-label="Rooms">
        <CloseDrawer ref={roomsClose} className="only-narrow" label="Close rooms" onClose={() => setPanel('none')} />
        <RoomSidebar
          rooms={rooms}
          activeRoom={state.activeRoom}
          directory={state.directory}
          topics={state.topics}
          notificationsError={state.notificationsError}
          onSelect={(r) => {
            client.activate(r);
            setPanel('none');
          }}
          onLeave={(r) => client.leave(r)}
          onJoin={(r) => {
            const why = client.join(r);
            if (!why) setPanel('none');
            return why;
          }}
        />
        <div className="sidebar-account only-narrow">
          <Avatar user={me} size="sm" />
          <span className="sidebar-account-name">
            Signed in as <strong>{me.name}</strong>
          </span>
          <button type="button" className="button button-small" onClick={() => client.signOut()}>
            Sign out
          </button>
        </div>
      </aside>

      <main className="room" aria-label={room ? `#${room.name}` : 'No room'}>
        {room ? (
          <>
            <div className="room-header">
              <h1 className="room-title">
                <span className="room-hash" aria-hidden="true">
                  #
                </span>
                {room.name}
              </h1>
              <span className="muted small room-subtitle">
                {room.memberCount} {room.memberCount === 1 ? 'member' : 'members'} online
              </span>
              <div className="topbar-spacer" />
              <button
                ref={membersToggle}
                type="button"
                className="button button-quiet button-small only-medium"
                aria-expanded={panel === 'members'}
                aria-controls="members-panel"
                onClick={() => setPanel(panel === 'members' ? 'none' : 'members')}
              >
                Members ({room.memberCount})
              </button>
            </div>
            {room.error && room.phase === 'failed' && (
              <div className="notice notice-inline" role="alert">
                <span>{room.error}</span>
                <button type="button" className="button button-small" onClick={() => client.join(room.name)}>
                  Try again
                </button>
              </div>
            )}
            <MessageList
              key={room.name}
              room={room}
              me={me}
              onLoadOlder={() => void client.loadOlder(room.name)}
              onRetry={(id) => client.retry(room.name, id)}
              onDiscard={(id) => client.discard(room.name, id)}
            />
            <TypingIndicator typing={room.typing} />
            <Composer
              room={room.name}
              draft={drafts[room.name] ?? ''}
              blockedReason={sendBlockedReason(state)}
              onDraftChange={(text) => {
                setDrafts((d) => ({ ...d, [room.name]: text }));
                if (text) client.typingInput(room.name);
                else client.stopTyping(room.name);
              }}
              onSend={(text) => client.send(room.name, text)}
            />
          </>
        ) : (
          <div className="no-room">
            <h1>No room open</h1>
            <p className="muted">Join a room from the list, or create one by typing its name.</p>
            <button type="button" className="button button-primary" onClick={() => client.join('general')}>
              Join #general
            </button>
          </div>
        )}
      </main>

      <aside id="members-panel" className="members-panel" aria-label="Members">
        <CloseDrawer ref={membersClose} className="only-medium" label="Close members" onClose={() => setPanel('none')} />
        {room && (
          <PresenceList
            room={room.name}
            members={room.members}
            count={room.memberCount}
            meId={me.id}
            typingIds={room.typing.map((t) => t.user.id)}
            live={room.phase === 'joined' && state.status === 'connected'}
          />
        )}
      </aside>

      {panel !== 'none' && <div className="scrim" aria-hidden="true" onClick={() => setPanel('none')} />}
      <Toasts toasts={state.toasts} onDismiss={(id) => client.dismissToast(id)} />
    </div>
  );
}

interface CloseDrawerProps {
  className: string;
  label: string;
  onClose: () => void;
  ref?: Ref<HTMLButtonElement>;
}

function CloseDrawer({ className, label, onClose, ref }: CloseDrawerProps) {
  return (
    <button ref={ref} type="button" className={`icon-button drawer-close ${className}`} aria-label={label} onClick={onClose}>
      <svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">
        <path d="M4 4l8 8M12 4l-8 8" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
      </svg>
    </button>
  );
}
