import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { ConnectionBadge } from './ConnectionBadge';
import { PresenceList } from './PresenceList';
import { Toasts } from './Toasts';
import { TypingIndicator } from './TypingIndicator';
import { sendBlockedReason } from '../App';
import { chatReducer, initialState } from '../realtime/state';

const bob = { id: 'guest:bob', name: 'Bob' };
const alice = { id: 'guest:alice', name: 'Alice' };

describe('Toasts', () => {
  it('renders each notification in a polite live region, with a labelled dismiss button', () => {
    const html = renderToStaticMarkup(
      <Toasts
        toasts={[{ id: 'n1', title: 'Deploy finished', body: 'v1.2 is live', topic: 'ops', ts: 0, expiresAt: 1 }]}
        onDismiss={() => {}}
      />,
    );
    expect(html).toContain('aria-live="polite"');
    expect(html).toContain('aria-label="Notifications"');
    expect(html).toContain('role="status"');
    expect(html).toContain('Deploy finished');
    expect(html).toContain('v1.2 is live');
    expect(html).toContain('>ops<');
    expect(html).toContain('aria-label="Dismiss notification: Deploy finished"');
  });

  it('renders an empty region when there is nothing to show (so later toasts are announced)', () => {
    const html = renderToStaticMarkup(<Toasts toasts={[]} onDismiss={() => {}} />);
    expect(html).toMatch(/^<section[^>]*aria-live="polite"[^>]*><\/section>$/);
  });
});

describe('ConnectionBadge', () => {
  it('shows the transport when connected', () => {
    const html = renderToStaticMarkup(<ConnectionBadge status="connected" transport="websocket" />);
    expect(html).toContain('data-status="connected"');
    expect(html).toContain('Connected');
    expect(html).toContain('websocket');
  });

  it('names the node that answered, when connected', () => {
    const html = renderToStaticMarkup(<ConnectionBadge status="connected" transport="websocket" node="node-a" />);
    expect(html).toContain('data-node="node-a"');
    expect(html).toContain('>node-a<');
    const reconnecting = renderToStaticMarkup(<ConnectionBadge status="reconnecting" transport={null} node="node-a" />);
    expect(reconnecting).not.toContain('>node-a<');
  });

  it('shows reconnecting and offline without a transport, and a retry when offline', () => {
    expect(renderToStaticMarkup(<ConnectionBadge status="reconnecting" transport={null} />)).toContain('Reconnecting');
    const offline = renderToStaticMarkup(<ConnectionBadge status="offline" transport="polling" onReconnect={() => {}} />);
    expect(offline).toContain('Offline');
    expect(offline).not.toContain('>polling<');
    expect(offline).toContain('Retry');
  });
});

describe('TypingIndicator and PresenceList', () => {
  it('announces who is typing', () => {
    const html = renderToStaticMarkup(<TypingIndicator typing={[{ user: bob, expiresAt: 1 }]} />);
    expect(html).toContain('aria-live="polite"');
    expect(html).toContain('Bob is typing…');
  });

  it('lists members, me first and tagged', () => {
    const html = renderToStaticMarkup(
      <PresenceList room="general" members={[bob, alice]} meId={alice.id} typingIds={[bob.id]} />,
    );
    expect(html.indexOf('Alice')).toBeLessThan(html.indexOf('Bob'));
    expect(html).toContain('>you<');
    expect(html).toContain('typing…');
  });

  it('counts the members it does not list in a big room', () => {
    const html = renderToStaticMarkup(
      <PresenceList room="general" members={[bob, alice]} meId={alice.id} typingIds={[]} count={1200} />,
    );
    expect(html).toContain('<span class="count">1200</span>');
    expect(html).toContain('and 1198 more');
  });
});

describe('sendBlockedReason', () => {
  it('explains why the composer cannot send', () => {
    let s = chatReducer(initialState, { type: 'signIn', name: 'Alice', rooms: ['general'] });
    expect(sendBlockedReason(s)).toMatch(/Reconnecting/);
    s = chatReducer(s, { type: 'connected', transport: 'polling' });
    expect(sendBlockedReason(s)).toBe('Joining #general…');
    s = chatReducer(s, { type: 'joinSucceeded', room: 'general', members: [alice], count: 1, messages: [] });
    expect(sendBlockedReason(s)).toBeNull();
    s = chatReducer(s, { type: 'browserOnline', online: false });
    s = chatReducer(s, { type: 'disconnected', willReconnect: true });
    expect(sendBlockedReason(s)).toMatch(/offline/);
  });
});
