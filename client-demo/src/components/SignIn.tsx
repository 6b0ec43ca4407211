import { useId, useState } from 'react';
import { validateName, validateRoom } from '../realtime/state';
import { MAX_NAME_CHARS, MAX_ROOM_CHARS } from '../realtime/types';
import type { ProblemInfo } from '../realtime/state';
import { Logo } from './Logo';

export interface SignInProps {
  initialName: string;
  error: ProblemInfo | null;
  onSignIn: (name: string, room: string) => void;
}

export function SignIn({ initialName, error, onSignIn }: SignInProps) {
  const [name, setName] = useState(initialName);
  const [room, setRoom] = useState('general');
  const [touched, setTouched] = useState(false);
  const nameId = useId();
  const roomId = useId();
  const errorId = useId();

  const nameProblem = validateName(name);
  const roomProblem = validateRoom(room);
  const shown = touched ? (nameProblem ?? roomProblem) : null;
  const serverProblem = !shown && error ? error.message : null;
  const problem = shown ?? serverProblem;

  return (
    <main className="signin">
      <div className="signin-card">
        <div className="signin-brand">
          <Logo />
          <div>
            <h1>iorelay chat</h1>
            <p className="muted">A stock socket.io-client app, talking to a Rust Socket.IO server.</p>
          </div>
        </div>
        <form
          aria-label="Sign in"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            setTouched(true);
            if (!nameProblem && !roomProblem) onSignIn(name.trim(), room.trim());
          }}
        >
          <div className="field">
            <label htmlFor={nameId}>Your name</label>
            <input
              id={nameId}
              name="name"
              autoComplete="nickname"
              autoFocus
              value={name}
              maxLength={MAX_NAME_CHARS * 2}
              placeholder="e.g. Ada"
              aria-invalid={Boolean(touched && nameProblem) || Boolean(serverProblem && error?.code === 'invalid_name')}
              aria-describedby={problem ? errorId : undefined}
              onChange={(e) => setName(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor={roomId}>Room</label>
            <div className="input-prefix">
              <span aria-hidden="true">#</span>
              <input
                id={roomId}
                name="room"
                value={room}
                maxLength={MAX_ROOM_CHARS}
                autoCapitalize="none"
                spellCheck={false}
                aria-invalid={Boolean(touched && roomProblem)}
                onChange={(e) => setRoom(e.target.value)}
              />
            </div>
          </div>
          {problem && (
            <p id={errorId} className="form-error" role="alert">
              {problem}
            </p>
          )}
          <button type="submit" className="button button-primary button-block">
            Join chat
          </button>
        </form>
        <p className="fine-print muted">
          You join as a guest; your name is visible to everyone in the rooms you join.
        </p>
      </div>
    </main>
  );
}
