import { useId, useLayoutEffect, useRef } from 'react';
import { MAX_TEXT_CHARS } from '../realtime/types';

export interface ComposerProps {
  room: string;
  draft: string;
  /** Why sending is not possible right now, or null when it is. */
  blockedReason: string | null;
  onDraftChange: (text: string) => void;
  /** Returns why the message was not sent, or null when it was. */
  onSend: (text: string) => string | null;
}

/** Multi-line input: Enter sends, Shift+Enter starts a new line. */
export function Composer({ room, draft, blockedReason, onDraftChange, onSend }: ComposerProps) {
  const inputId = useId();
  const hintId = useId();
  const area = useRef<HTMLTextAreaElement>(null);
  const length = [...draft].length;
  const near = length > MAX_TEXT_CHARS - 200;
  const tooLong = length > MAX_TEXT_CHARS;
  const canSend = !blockedReason && draft.trim().length > 0 && !tooLong;

  // Grow with the text, up to a few lines.
  useLayoutEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
  }, [draft]);

  const submit = () => {
    if (!canSend) return;
    if (!onSend(draft)) onDraftChange('');
  };

  return (
    <form
      className="composer"
      aria-label="Send a message"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label htmlFor={inputId} className="visually-hidden">
        Message #{room}
      </label>
      <textarea
        id={inputId}
        ref={area}
        rows={1}
        value={draft}
        placeholder={`Message #${room}`}
        aria-describedby={hintId}
        aria-invalid={tooLong}
        onChange={(e) => onDraftChange(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            submit();
          }
        }}
      />
      <button type="submit" className="button button-primary composer-send" disabled={!canSend}>
        <span className="visually-hidden">Send</span>
        <svg viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
          <path d="M3 10l14-7-5 14-2.5-5.5z" fill="currentColor" />
        </svg>
      </button>
      <p id={hintId} className={`composer-hint${tooLong ? ' is-error' : ''}`}>
        {blockedReason ?? (near ? `${length} / ${MAX_TEXT_CHARS}` : 'Enter to send · Shift+Enter for a new line')}
      </p>
    </form>
  );
}
