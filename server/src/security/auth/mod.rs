//! Who a client is, proven by a JWT, and which namespaces insist on one.
//!
//! A token comes with the namespace CONNECT (`auth: {token}`), or on the
//! Engine.IO handshake as `Authorization: Bearer <token>` or `?token=`, so
//! browsers (which cannot set headers on a WebSocket) and backends both have
//! a way. It is verified at connect; the resulting [`User`] is what `/chat`
//! and `/notifications` act as, until the token expires ([`expiry`]: the
//! socket is disconnected then, unless it sent a fresh token in time). Namespaces listed in
//! `--private-namespaces` refuse connections without a valid token; the
//! others still take guests. A refusal carries a stable code (`token_missing`,
//! `token_expired`, `token_invalid`), which leads the client's `connect_error`.

pub mod dev_token;

use crate::protocol::namespace_pattern::NamespaceTable;
use std::path::{Path, PathBuf};

use axum::http::request::Parts;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::AuthConfig;
use crate::ops::metrics;
use crate::protocol::user::User;
use crate::protocol::{ErrorCode, Refusal};
use crate::security::identity::MAX_NAME_CHARS;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const CLOCK_SKEW_SECS: u64 = 30;

/// Longest token accepted, in bytes; longer ones are refused unparsed.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a connection's token was refused; its `Display` is the message clients get.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The namespace is private and no token came.
    #[error("this namespace requires a token (auth.token, Authorization: Bearer or ?token=)")]
    Missing,
    /// The token's `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// Bad signature, shape, algorithm, audience, issuer, or not valid yet.
    #[error("{0}")]
    Invalid(String),
}

impl AuthError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Missing => ErrorCode::TokenMissing,
            AuthError::Expired => ErrorCode::TokenExpired,
            AuthError::Invalid(_) => ErrorCode::TokenInvalid,
        }
    }
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Self {
        Refusal::new(e.code(), e.to_string())
    }
}

/// The key settings cannot be used (checked at start, so never at connect time).
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The public key file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an RSA or EC P-256 public key in PEM.
    #[error("{path} is not an RSA or EC P-256 public key in PEM")]
    Key {
        /// The file.
        path: PathBuf,
    },
}

/// The claims iorelay reads; others are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Display name (defaults to `sub`).
    #[serde(default)]
    pub name: Option<String>,
    /// Expiry, seconds since the Unix epoch (required, so always present once verified).
    #[serde(default)]
    pub exp: u64,
}

/// A verified token: whom it stands for, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The user.
    pub user: User,
    /// The token's `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Verifies tokens with one key and the configured claims.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// The verifier the configuration asks for, or `None` when tokens are not configured.
    pub fn from_config(config: &AuthConfig) -> Result<Option<Self>, AuthSetupError> {
        let (key, algorithm) = if let Some(secret) = &config.jwt_secret {
            (
                DecodingKey::from_secret(secret.as_bytes()),
                Algorithm::HS256,
            )
        } else if let Some(path) = &config.jwt_public_key {
            read_public_key(path)?
        } else {
            return Ok(None);
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = CLOCK_SKEW_SECS;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &config.jwt_audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            // No audience configured: a token meant for someone else (with `aud`) is refused.
            None => validation.validate_aud = true,
        }
        if let Some(issuer) = &config.jwt_issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        Ok(Some(Self { key, validation }))
    }

    /// The user a token stands for, and its expiry.
    pub fn verify(&self, token: &str) -> Result<Grant, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid(format!(
                "tokens have at most {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| classify(e.kind()))?;
        let expires_at = data.claims.exp;
        Ok(Grant {
            user: user_from_claims(data.claims)?,
            expires_at,
        })
    }
}

fn read_public_key(path: &Path) -> Result<(DecodingKey, Algorithm), AuthSetupError> {
    let pem = std::fs::read(path).map_err(|source| AuthSetupError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8_lossy(&pem);
    // The PEM label tells RSA from EC; a SPKI "PUBLIC KEY" block may hold either, so try both.
    if !text.contains("EC ")
        && let Ok(key) = DecodingKey::from_rsa_pem(&pem)
    {
        return Ok((key, Algorithm::RS256));
    }
    DecodingKey::from_ec_pem(&pem)
        .map(|key| (key, Algorithm::ES256))
        .map_err(|_| AuthSetupError::Key {
            path: path.to_owned(),
        })
}

fn classify(kind: &ErrorKind) -> AuthError {
    let invalid = |m: &str| AuthError::Invalid(m.to_owned());
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => invalid("the token is not valid yet (nbf)"),
        ErrorKind::InvalidSignature => invalid("the signature does not match"),
        ErrorKind::InvalidAudience => invalid("the token is meant for another audience (aud)"),
        ErrorKind::InvalidIssuer => invalid("the token comes from another issuer (iss)"),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            invalid("the token is signed with an algorithm this server does not accept")
        }
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::Invalid(format!("the token lacks the {claim} claim"))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::Invalid(format!("the token's {claim} claim has the wrong type"))
        }
        _ => invalid("the token is malformed"),
    }
}

/// The user of verified claims: id `sub`, name the `name` claim (cleaned) or `sub`.
pub fn user_from_claims(claims: Claims) -> Result<User, AuthError> {
    let id = claims.sub.trim().to_owned();
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Err(AuthError::Invalid(
            "sub must have 1 to 256 bytes and no control characters".to_owned(),
        ));
    }
    let name: String = claims
        .name
        .as_deref()
        .unwrap_or(&id)
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    let name = if name.is_empty() {
        id.chars().take(MAX_NAME_CHARS).collect()
    } else {
        name
    };
    Ok(User { id, name })
}

/// The token a connecting client presents, if any: `auth.token` first, then
/// the handshake's `Authorization: Bearer`, then its `?token=`.
pub fn presented_token(
    auth: Option<&serde_json::Value>,
    handshake: &Parts,
) -> Result<Option<String>, AuthError> {
    match auth.and_then(|a| a.get("token")) {
        Some(serde_json::Value::String(token)) => return Ok(Some(token.clone())),
        Some(serde_json::Value::Null) | None => {}
        Some(_) => return Err(AuthError::Invalid("auth.token must be a string".to_owned())),
    }
    if let Some(bearer) = bearer_token(&handshake.headers) {
        return Ok(Some(bearer.to_owned()));
    }
    Ok(handshake.uri.query().and_then(token_from_query))
}

/// The credential of an `Authorization: Bearer <credential>` header, trimmed
/// (client tokens on a handshake, API keys on the publish API).
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The `token` parameter of a query string, percent-decoded (the first one).
pub fn token_from_query(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
}

/// `uri` for a log line: the value of every `token` parameter (a handshake's
/// `?token=`, socket.io-client 2.x's `query: {token}`) replaced by `<redacted>`,
/// so tokens in URLs do not end up in iorelay's logs.
pub fn redact_uri_tokens(uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.to_string();
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| {
            let key = pair.split('=').next().unwrap_or(pair);
            let decoded: String = form_urlencoded::parse(key.as_bytes())
                .map(|(k, _)| k.into_owned())
                .collect();
            if decoded == "token" {
                format!("{key}=<redacted>")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{}?{}", uri.path(), redacted.join("&"))
}

/// What a connect is checked against: the verifier and the private namespaces.
#[derive(Debug, Default)]
pub struct AuthGate {
    verifier: Option<TokenVerifier>,
    /// Private namespaces and patterns (`/tenant-*`).
    private: NamespaceTable<()>,
}

/// What the gate decided about a connecting client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A valid token: this user, until the token expires.
    User(Grant),
    /// No token, and the namespace takes guests.
    Guest,
}

impl AuthGate {
    /// The gate the configuration describes.
    pub fn from_config(config: &AuthConfig) -> Result<Self, AuthSetupError> {
        Ok(Self {
            verifier: TokenVerifier::from_config(config)?,
            private: NamespaceTable::new(
                config.private_namespaces.iter().map(|ns| (ns.clone(), ())),
            ),
        })
    }

    /// Whether `namespace` refuses guests.
    pub fn is_private(&self, namespace: &str) -> bool {
        self.private.get(namespace).is_some()
    }

    /// Verifies a token outside a connect (a refresh); `None` when tokens are not configured.
    pub fn verify(&self, token: &str) -> Option<Result<Grant, AuthError>> {
        self.verifier.as_ref().map(|v| v.verify(token))
    }

    /// Decides on a connect to `namespace` presenting `token`; counts refusals.
    ///
    /// Without a configured key, tokens are ignored (everyone is a guest).
    pub fn admit(
        &self,
        namespace: &str,
        token: Result<Option<String>, AuthError>,
    ) -> Result<Admission, AuthError> {
        let result = match (&self.verifier, token) {
            (None, _) => Ok(Admission::Guest),
            (Some(_), Err(e)) => Err(e),
            (Some(verifier), Ok(Some(token))) => verifier.verify(&token).map(Admission::User),
            (Some(_), Ok(None)) if self.is_private(namespace) => Err(AuthError::Missing),
            (Some(_), Ok(None)) => Ok(Admission::Guest),
        };
        if let Err(e) = &result {
            metrics::auth_failure(e.code().as_str());
            // `refused`: a client can repeat this at will, so it is limited like a warning.
            tracing::info!(
                ns = namespace,
                refused = e.code().as_str(),
                "connection refused: {e}"
            );
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn config() -> AuthConfig {
        AuthConfig {
            jwt_secret: Some(SECRET.to_owned()),
            jwt_public_key: None,
            jwt_audience: None,
            jwt_issuer: None,
            private_namespaces: vec!["/chat".to_owned()],
            dev_auth: false,
        }
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn sign(claims: serde_json::Value, secret: &str) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign")
    }

    fn gate(config: &AuthConfig) -> AuthGate {
        AuthGate::from_config(config).expect("gate")
    }

    #[test]
    fn valid_tokens_give_the_user() {
        let token = sign(
            json!({"sub": "u1", "name": " Ada\u{7} ", "exp": now() + 60}),
            SECRET,
        );
        let admission = gate(&config()).admit("/chat", Ok(Some(token)));
        let Ok(Admission::User(grant)) = admission else {
            panic!("valid: {admission:?}")
        };
        assert_eq!(
            grant.user,
            User {
                id: "u1".into(),
                name: "Ada".into()
            }
        );
        assert!((now() + 59..=now() + 60).contains(&grant.expires_at));
        let token = sign(json!({"sub": "u2", "exp": now() + 60}), SECRET);
        let Ok(Admission::User(grant)) = gate(&config()).admit("/", Ok(Some(token))) else {
            panic!("valid")
        };
        assert_eq!(grant.user.name, "u2", "name falls back to sub");
    }

    #[test]
    fn refusals_carry_their_code() {
        let g = gate(&config());
        let code = |token: Option<String>, ns: &str| g.admit(ns, Ok(token)).map_err(|e| e.code());
        assert_eq!(code(None, "/chat"), Err(ErrorCode::TokenMissing));
        assert_eq!(code(None, "/"), Ok(Admission::Guest));
        let expired = sign(json!({"sub": "u", "exp": now() - 3600}), SECRET);
        assert_eq!(code(Some(expired), "/"), Err(ErrorCode::TokenExpired));
        let forged = sign(
            json!({"sub": "u", "exp": now() + 60}),
            "another-secret-another-secret-xx",
        );
        assert_eq!(code(Some(forged), "/chat"), Err(ErrorCode::TokenInvalid));
        let early = sign(
            json!({"sub": "u", "exp": now() + 7200, "nbf": now() + 3600}),
            SECRET,
        );
        assert_eq!(code(Some(early), "/chat"), Err(ErrorCode::TokenInvalid));
        for junk in ["", "a.b.c", "not a token", &"x".repeat(MAX_TOKEN_BYTES + 1)] {
            assert_eq!(
                code(Some(junk.to_owned()), "/"),
                Err(ErrorCode::TokenInvalid)
            );
        }
        let no_exp = sign(json!({"sub": "u"}), SECRET);
        assert_eq!(code(Some(no_exp), "/"), Err(ErrorCode::TokenInvalid));
        let foreign_aud = sign(json!({"sub": "u", "exp": now() + 60, "aud": "x"}), SECRET);
        assert_eq!(code(Some(foreign_aud), "/"), Err(ErrorCode::TokenInvalid));
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        // alg "none": header {"alg":"none","typ":"JWT"}, claims {"sub":"u","exp":9999999999}.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1IiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        let err = gate(&config())
            .admit("/", Ok(Some(none.to_owned())))
            .expect_err("alg none");
        assert_eq!(err.code(), ErrorCode::TokenInvalid);
    }

    #[test]
    fn audience_and_issuer_are_required_when_configured() {
        let mut c = config();
        c.jwt_audience = Some("chat-app".into());
        c.jwt_issuer = Some("https://id.example".into());
        let g = gate(&c);
        let ok = sign(
            json!({"sub": "u", "exp": now() + 60, "aud": "chat-app", "iss": "https://id.example"}),
            SECRET,
        );
        assert!(matches!(g.admit("/", Ok(Some(ok))), Ok(Admission::User(_))));
        let missing = sign(json!({"sub": "u", "exp": now() + 60}), SECRET);
        assert_eq!(
            g.admit("/", Ok(Some(missing))).map_err(|e| e.code()),
            Err(ErrorCode::TokenInvalid)
        );
        let wrong = sign(
            json!({"sub": "u", "exp": now() + 60, "aud": "chat-app", "iss": "https://evil"}),
            SECRET,
        );
        assert!(g.admit("/", Ok(Some(wrong))).is_err());
    }

    #[test]
    fn without_a_key_everyone_is_a_guest() {
        let g = AuthGate::default();
        assert_eq!(
            g.admit("/chat", Ok(Some("junk".into()))),
            Ok(Admission::Guest)
        );
    }

    #[test]
    fn tokens_come_from_auth_header_or_query() {
        let parts = |uri: &str, bearer: Option<&str>| {
            let mut req = axum::http::Request::get(uri);
            if let Some(b) = bearer {
                req = req.header("authorization", format!("Bearer {b}"));
            }
            req.body(()).expect("request").into_parts().0
        };
        let p = parts("/socket.io/?EIO=4&token=q%2Eq", Some("h"));
        let auth = json!({"token": "a"});
        assert_eq!(presented_token(Some(&auth), &p), Ok(Some("a".into())));
        assert_eq!(presented_token(None, &p), Ok(Some("h".into())));
        let p = parts("/socket.io/?EIO=4&token=q%2Eq", None);
        assert_eq!(
            presented_token(Some(&json!({})), &p),
            Ok(Some("q.q".into()))
        );
        let p = parts("/socket.io/?EIO=4", None);
        assert_eq!(presented_token(None, &p), Ok(None));
        assert_eq!(
            token_from_query("EIO=4&token=a+b%2Bc&token=second"),
            Some("a b+c".to_owned())
        );
        assert!(presented_token(Some(&json!({"token": 5})), &p).is_err());
    }

    #[test]
    fn tokens_are_redacted_from_logged_uris() {
        let uri = |s: &str| s.parse::<axum::http::Uri>().expect("uri");
        assert_eq!(
            redact_uri_tokens(&uri("/socket.io/?EIO=3&token=abc.def&name=Ada&%74oken=x")),
            "/socket.io/?EIO=3&token=<redacted>&name=Ada&%74oken=<redacted>"
        );
        assert_eq!(redact_uri_tokens(&uri("/healthz")), "/healthz");
        assert_eq!(redact_uri_tokens(&uri("/a?tokens=1&x")), "/a?tokens=1&x");
    }

    #[test]
    fn refusal_message_leads_with_the_code() {
        let refusal = Refusal::from(AuthError::Expired);
        assert_eq!(refusal.to_string(), "token_expired: the token has expired");
    }

    /// A private/public PEM pair made by Debian's `openssl` (`algorithm` RSA or EC).
    fn key_pair(algorithm: &str, option: &str) -> (Vec<u8>, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("iorelay-jwt-{algorithm}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (private, public) = (dir.join("private.pem"), dir.join("public.pem"));
        let ok = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                algorithm,
                "-pkeyopt",
                option,
                "-out",
            ])
            .arg(&private)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl")
            .success()
            && std::process::Command::new("openssl")
                .args(["pkey", "-pubout", "-in"])
                .arg(&private)
                .arg("-out")
                .arg(&public)
                .status()
                .expect("openssl")
                .success();
        assert!(ok, "openssl failed");
        (std::fs::read(private).expect("private key"), public)
    }

    #[test]
    fn public_keys_verify_rs256_and_es256_and_refuse_algorithm_confusion() {
        for (algorithm, option, alg) in [
            (
                "RSA",
                "rsa_keygen_bits:2048",
                jsonwebtoken::Algorithm::RS256,
            ),
            (
                "EC",
                "ec_paramgen_curve:P-256",
                jsonwebtoken::Algorithm::ES256,
            ),
        ] {
            let (private, public) = key_pair(algorithm, option);
            let key = match alg {
                jsonwebtoken::Algorithm::RS256 => EncodingKey::from_rsa_pem(&private),
                _ => EncodingKey::from_ec_pem(&private),
            }
            .expect("private key");
            let mut c = config();
            c.jwt_secret = None;
            c.jwt_public_key = Some(public.clone());
            let g = gate(&c);
            let claims = json!({"sub": "u", "exp": now() + 60});
            let token = encode(&Header::new(alg), &claims, &key).expect("sign");
            assert!(
                matches!(g.admit("/chat", Ok(Some(token))), Ok(Admission::User(_))),
                "{algorithm}"
            );
            // HS256 signed with the public key's bytes: the classic confusion attack.
            let pem = std::fs::read(&public).expect("public key");
            let forged =
                encode(&Header::default(), &claims, &EncodingKey::from_secret(&pem)).expect("sign");
            assert_eq!(
                g.admit("/chat", Ok(Some(forged))).map_err(|e| e.code()),
                Err(ErrorCode::TokenInvalid),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn bad_key_files_are_setup_errors() {
        let mut c = config();
        c.jwt_secret = None;
        c.jwt_public_key = Some("/nonexistent/key.pem".into());
        assert!(matches!(
            AuthGate::from_config(&c),
            Err(AuthSetupError::Read { .. })
        ));
    }
}
