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
  onReconnect?: () => void;
}

/** Connection state and transport, e.g. "Connected · websocket". */
export function ConnectionBadge({ status, transport, onReconnect }: ConnectionBadgeProps) {
  const showTransport = status === 'connected' && transport;
  return (
    <div className="connection">
      <span
        className={`badge badge-${status}`}
        role="status"
        data-testid="connection-badge"
        data-status={status}
        data-transport={transport ?? ''}
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
      </span>
      {status === 'offline' && onReconnect && (
        <button type="button" className="link-button" onClick={onReconnect}>
          Retry
        </button>
      )}
    </div>
  );
}
