import type { ConnectionStatus, TransportName } from '../realtime/state';

const LABELS: Record<ConnectionStatus, string> = {
  'signed-out': 'Signed out',
  connecting: 'Connecting',
  connected: 'Connected',
  reconnecting: 'Reconnecting',
  offline: 'Offline',
};

export interface ConnectionBadgeProps {
  status: ConnectionStatus;
  transport: TransportName | null;
  /** The server node that answered, when the server names it (a cluster). */
  node?: string | null;
  onReconnect?: () => void;
}

/** Connection state, transport and node, e.g. "Connected · websocket · node-a". */
export function ConnectionBadge({ status, transport, node = null, onReconnect }: ConnectionBadgeProps) {
  const showTransport = status === 'connected' && transport;
  const showNode = status === 'connected' && node;
  return (
    <div className="connection">
      <span
        className={`badge badge-${status}`}
        role="status"
        data-testid="connection-badge"
        data-status={status}
        data-transport={transport ?? ''}
        data-node={showNode ? node : ''}
        title={showTransport ? `Connected over ${transport === 'websocket' ? 'WebSocket' : 'HTTP long-polling'}` : undefined}
      >
        <span className="badge-dot" aria-hidden="true" />
        <span className="badge-label">{LABELS[status]}</span>
        {showTransport && (
          <>
            <span className="badge-sep" aria-hidden="true">
              ·
            </span>
            <span className="badge-transport">{transport}</span>
          </>
        )}
        {showNode && (
          // Hidden at phone width, where the top bar has no room for it.
          <span className="badge-node-part hide-narrow">
            <span className="badge-sep" aria-hidden="true">
              ·
            </span>
            <span className="badge-node" title="Server node">
              {node}
            </span>
          </span>
        )}
      </span>
      {status === 'offline' && onReconnect && (
        <button type="button" className="link-button" onClick={onReconnect}>
          Retry
        </button>
      )}
    </div>
  );
}
