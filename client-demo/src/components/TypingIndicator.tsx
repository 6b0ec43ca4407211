import type { TypingEntry } from '../realtime/state';
import { describeTyping } from '../realtime/state';

/** "Bob is typing…", announced politely to screen readers. */
export function TypingIndicator({ typing }: { typing: TypingEntry[] }) {
  const text = describeTyping(typing);
  return (
    <div className="typing" aria-live="polite" data-testid="typing">
      {text && (
        <>
          <span className="typing-dots" aria-hidden="true">
            <span />
            <span />
            <span />
          </span>
          {text}
        </>
      )}
    </div>
  );
}
