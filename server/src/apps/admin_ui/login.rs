//! Who may use the Admin UI: the password login (a bcrypt hash from the
//! configuration) and the sessions it hands out.
//!
//! The UI logs in with `auth: {username, password}`, is given a session id
//! (`session` event) and reconnects with `auth: {sessionId}`; anything else is
//! refused with exactly `invalid credentials`, the text the UI matches. With
//! Redis, sessions live there (any node accepts them after a reconnect
//! elsewhere); alone, in memory, bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use subtle::ConstantTimeEq;

use super::password_check::PasswordCheck;
use crate::cluster::RedisLink;
use crate::protocol::admin_ui::INVALID_CREDENTIALS;

/// How long a session stays valid after the login that made it.
const SESSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Sessions kept in memory at once; the oldest go first.
const MAX_MEMORY_SESSIONS: usize = 10_000;
/// Longest session id or password considered (bcrypt reads 72 bytes).
const MAX_SECRET_BYTES: usize = 128;

/// Why a login was refused; the text is the client's `connect_error` message.
#[derive(Debug, thiserror::Error)]
pub enum LoginRefused {
    /// Wrong or missing credentials (or an unknown session).
    #[error("{}", INVALID_CREDENTIALS)]
    InvalidCredentials,
    /// Over the connection's CONNECT rate.
    #[error("rate_limited: too many connection attempts; slow down")]
    RateLimited,
    /// Too many password logins are being checked at once on this node.
    #[error("rate_limited: too many logins in progress; try again in a moment")]
    LoginsBusy,
}

/// What a login asks with; a field of the wrong type counts as absent.
#[derive(Debug, Default, PartialEq, Eq)]
struct Credentials {
    session: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl Credentials {
    /// Reads the handshake `auth`.
    fn of(auth: Option<&serde_json::Value>) -> Self {
        let field = |name| {
            auth.and_then(|a| a.get(name))
                .and_then(serde_json::Value::as_str)
                .filter(|s| s.len() <= MAX_SECRET_BYTES)
                .map(str::to_owned)
        };
        Self {
            session: field("sessionId"),
            username: field("username"),
            password: field("password"),
        }
    }
}

/// Where sessions are kept.
enum SessionStore {
    Memory(Mutex<HashMap<String, Instant>>),
    Redis(RedisLink),
}

/// The login rules of one node.
pub struct Login {
    username: String,
    /// `None`: no login (`--admin-no-auth`).
    hash: Option<String>,
    sessions: SessionStore,
    passwords: PasswordCheck,
}

impl Login {
    /// Checks against `username` and the bcrypt `hash`; sessions in Redis when `link` is given.
    pub fn new(username: &str, hash: Option<String>, link: Option<RedisLink>) -> Self {
        Self::with_check(username, hash, link, PasswordCheck::for_this_host())
    }

    /// As [`Login::new`], with the bound on bcrypt verifications given.
    pub fn with_check(
        username: &str,
        hash: Option<String>,
        link: Option<RedisLink>,
        passwords: PasswordCheck,
    ) -> Self {
        Self {
            passwords,
            username: username.to_owned(),
            hash,
            sessions: match link {
                Some(link) => SessionStore::Redis(link),
                None => SessionStore::Memory(Mutex::default()),
            },
        }
    }

    /// Admits the handshake `auth`; `Ok(Some(id))` is a new session to hand to the UI.
    pub async fn check(
        &self,
        auth: Option<&serde_json::Value>,
    ) -> Result<Option<String>, LoginRefused> {
        let Some(hash) = &self.hash else {
            return Ok(None);
        };
        // As the reference server: a known session first, else the password.
        let credentials = Credentials::of(auth);
        if let Some(session) = &credentials.session
            && self.session_exists(session).await
        {
            return Ok(None);
        }
        let (Some(username), Some(password)) = (credentials.username, credentials.password) else {
            return Err(LoginRefused::InvalidCredentials);
        };
        if !bool::from(username.as_bytes().ct_eq(self.username.as_bytes())) {
            return Err(LoginRefused::InvalidCredentials);
        }
        // bcrypt costs tens of milliseconds by design: off the runtime's workers, bounded.
        let matches = self
            .passwords
            .verify(password, hash.clone())
            .await
            .map_err(|_| LoginRefused::LoginsBusy)?;
        if !matches {
            return Err(LoginRefused::InvalidCredentials);
        }
        let id = new_session_id().ok_or(LoginRefused::InvalidCredentials)?;
        self.save_session(&id).await;
        Ok(Some(id))
    }

    async fn session_exists(&self, id: &str) -> bool {
        match &self.sessions {
            SessionStore::Memory(sessions) => {
                let sessions = sessions.lock().unwrap_or_else(|p| p.into_inner());
                sessions
                    .get(id)
                    .is_some_and(|made| made.elapsed() < SESSION_TTL)
            }
            SessionStore::Redis(link) => {
                let mut conn = link.conn.clone();
                conn.exists(session_key(link, id))
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "cannot check an admin session in Redis");
                        false
                    })
            }
        }
    }

    async fn save_session(&self, id: &str) {
        match &self.sessions {
            SessionStore::Memory(sessions) => {
                let mut sessions = sessions.lock().unwrap_or_else(|p| p.into_inner());
                sessions.retain(|_, made| made.elapsed() < SESSION_TTL);
                if sessions.len() >= MAX_MEMORY_SESSIONS
                    && let Some(oldest) = sessions
                        .iter()
                        .min_by_key(|(_, made)| **made)
                        .map(|(id, _)| id.clone())
                {
                    sessions.remove(&oldest);
                }
                sessions.insert(id.to_owned(), Instant::now());
            }
            SessionStore::Redis(link) => {
                let mut conn = link.conn.clone();
                let saved: Result<(), _> = conn
                    .set_ex(session_key(link, id), 1, SESSION_TTL.as_secs())
                    .await;
                if let Err(e) = saved {
                    tracing::warn!(error = %e, "cannot keep an admin session in Redis; the UI will log in again");
                }
            }
        }
    }
}

fn session_key(link: &RedisLink, id: &str) -> String {
    link.key(&format!("admin-session:{id}"))
}

/// 16 random hex digits, as the reference server's ids.
fn new_session_id() -> Option<String> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 8];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login() -> Login {
        // Cost 4: the smallest bcrypt allows, so the test stays fast.
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        Login::new("admin", Some(hash), None)
    }

    #[tokio::test]
    async fn a_password_login_hands_out_a_session_that_logs_in_again() {
        let login = login();
        let auth = serde_json::json!({"username": "admin", "password": "s3cret"});
        let session = login.check(Some(&auth)).await.expect("admitted");
        let session = session.expect("a new session");
        assert_eq!(session.len(), 16);
        let again = serde_json::json!({ "sessionId": session });
        assert_eq!(
            login.check(Some(&again)).await.expect("session admitted"),
            None
        );
    }

    #[tokio::test]
    async fn wrong_credentials_are_refused_with_the_text_the_ui_matches() {
        let login = login();
        for auth in [
            serde_json::json!({"username": "admin", "password": "wrong"}),
            serde_json::json!({"username": "root", "password": "s3cret"}),
            serde_json::json!({"sessionId": "0123456789abcdef"}),
            serde_json::json!({"password": 42}),
            serde_json::json!("not an object"),
        ] {
            let refused = login.check(Some(&auth)).await.expect_err("refused");
            assert_eq!(refused.to_string(), "invalid credentials", "{auth}");
        }
        assert!(login.check(None).await.is_err());
    }

    #[tokio::test]
    async fn a_stale_session_beside_the_password_still_logs_in() {
        let login = login();
        let auth = serde_json::json!({"sessionId": "feedfacefeedface", "username": "admin", "password": "s3cret"});
        assert!(login.check(Some(&auth)).await.expect("admitted").is_some());
    }

    #[tokio::test]
    async fn no_login_mode_admits_anyone() {
        let open = Login::new("admin", None, None);
        assert_eq!(open.check(None).await.expect("admitted"), None);
    }
}
