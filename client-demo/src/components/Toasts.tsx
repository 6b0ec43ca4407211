import type { Toast } from '../realtime/state';
import { formatTime, isoTime } from './format';

export interface ToastsProps {
  toasts: Toast[];
  onDismiss: (id: string) => void;
}

/** Notifications from /notifications, newest at the bottom. */
export function Toasts({ toasts, onDismiss }: ToastsProps) {
  return (
    <section className="toasts" aria-label="Notifications" aria-live="polite" aria-relevant="additions">
      {toasts.map((t) => (
        <div key={t.id} className="toast" role="status" data-testid="toast">
          <div className="toast-icon" aria-hidden="true">
            <svg viewBox="0 0 20 20" width="18" height="18">
              <path
                d="M10 2a5 5 0 0 0-5 5v3.6L3.3 13.4A1 1 0 0 0 4.2 15h11.6a1 1 0 0 0 .9-1.6L15 10.6V7a5 5 0 0 0-5-5zm-2 14a2 2 0 0 0 4 0z"
                fill="currentColor"
              />
            </svg>
          </div>
          <div className="toast-body">
            <p className="toast-title">
              {t.title}
              {t.topic && <span className="tag">{t.topic}</span>}
            </p>
            {t.body && <p className="toast-text">{t.body}</p>}
            <time className="toast-time" dateTime={isoTime(t.ts)}>
              {formatTime(t.ts)}
            </time>
          </div>
          <button type="button" className="icon-button" aria-label={`Dismiss notification: ${t.title}`} onClick={() => onDismiss(t.id)}>
            <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
              <path d="M4 4l8 8M12 4l-8 8" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
            </svg>
          </button>
        </div>
      ))}
    </section>
  );
}
