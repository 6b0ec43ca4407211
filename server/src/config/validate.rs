//! Checks of the settings that their types alone do not make: ranges,
//! combinations, and lists whose entries must agree with each other.

use super::{AdapterKind, BUILTIN_NAMESPACES, Config, ConfigError, FLASK_MAX_MESSAGE_BYTES};
use crate::protocol::namespace_pattern::NamespacePattern;

impl Config {
    /// Checks ranges and combinations that the types alone do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        let e = &self.engine;
        if e.ping_interval_ms == 0 {
            return invalid("engine.ping_interval_ms", "must be greater than 0");
        }
        if e.ping_timeout_ms == 0 {
            return invalid("engine.ping_timeout_ms", "must be greater than 0");
        }
        if e.connect_timeout_ms == 0 {
            return invalid("engine.connect_timeout_ms", "must be greater than 0");
        }
        if e.max_payload < 1024 {
            return invalid("engine.max_payload", "must be at least 1024 bytes");
        }
        if e.max_buffer_size == 0 {
            return invalid("engine.max_buffer_size", "must be greater than 0");
        }
        if e.max_queued_bytes < 64 * 1024 {
            return invalid("engine.max_queued_bytes", "must be at least 65536 bytes");
        }
        if self.server.body_read_timeout_ms == 0 {
            return invalid("server.body_read_timeout_ms", "must be greater than 0");
        }
        if self.server.header_read_timeout_ms == 0 {
            return invalid("server.header_read_timeout_ms", "must be greater than 0");
        }
        if self.server.idle_timeout_ms <= e.ping_interval_ms {
            return invalid(
                "server.idle_timeout_ms",
                "must exceed engine.ping_interval_ms (a long-poll is silent that long)",
            );
        }
        if e.ws_read_buffer < 64 {
            return invalid("engine.ws_read_buffer", "must be at least 64 bytes");
        }
        if u64::try_from(e.max_attachment_bytes).is_ok_and(|bytes| bytes < e.max_payload) {
            return invalid(
                "engine.max_attachment_bytes",
                "must be at least engine.max_payload (a polling body may carry that much)",
            );
        }
        if e.max_attachments == 0 {
            return invalid("engine.max_attachments", "must be greater than 0");
        }
        if e.attachment_timeout_ms == 0 {
            return invalid("engine.attachment_timeout_ms", "must be greater than 0");
        }
        if e.transports.is_empty() {
            return invalid("engine.transports", "at least one transport is required");
        }
        if !e.path.starts_with('/') || e.path.len() < 2 {
            return invalid("engine.path", "must start with '/' and not be '/' alone");
        }
        if (1..100).contains(&self.server.log_repeat_interval_ms) {
            return invalid(
                "server.log_repeat_interval_ms",
                "must be 0 (log every line) or at least 100",
            );
        }
        if self.server.worker_threads == Some(0) {
            return invalid("server.worker_threads", "must be greater than 0");
        }
        if let Some(dir) = &self.server.static_dir
            && !dir.is_dir()
        {
            return invalid(
                "server.static_dir",
                &format!("{} is not a directory", dir.display()),
            );
        }
        for origin in &self.server.cors_origins {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return invalid(
                    "server.cors_origins",
                    &format!("{origin:?} is not `*` or an http(s):// origin"),
                );
            }
        }
        self.validate_namespaces()?;
        if self.cluster.adapter == AdapterKind::Redis && self.cluster.redis_url.is_none() {
            return invalid("cluster.redis_url", "required with --adapter redis");
        }
        if self.cluster.redis_prefix.is_empty()
            || self.cluster.redis_prefix.contains(char::is_whitespace)
        {
            return invalid("cluster.redis_prefix", "must be a non-empty word");
        }
        if self.api.api_keys.iter().any(|k| k.len() < 16) {
            return invalid("api.api_keys", "every key needs at least 16 characters");
        }
        if let Some(url) = &self.flask.flask_queue {
            let redis = ["redis://", "unix://", "redis+unix://"];
            if !redis.iter().any(|scheme| url.starts_with(scheme)) {
                return invalid(
                    "flask.flask_queue",
                    "must be a redis:// URL (Kombu/AMQP queues are not supported)",
                );
            }
        }
        if self.flask.flask_max_buffered_bytes < FLASK_MAX_MESSAGE_BYTES {
            return invalid(
                "flask.flask_max_buffered_bytes",
                "must hold at least one message (4 MiB)",
            );
        }
        if self.flask.flask_channel.is_empty()
            || self.flask.flask_channel.contains(char::is_whitespace)
        {
            return invalid("flask.flask_channel", "must be a non-empty word");
        }
        self.validate_django()?;
        let mut taken = self.namespaces.generic_paths();
        taken.extend(BUILTIN_NAMESPACES.iter().map(|ns| (*ns).to_owned()));
        self.admin_ui.validate(&taken)?;
        for (key, routes) in [
            ("forwarding.forward_url", &self.forwarding.forward_url),
            ("forwarding.connect_url", &self.forwarding.connect_url),
        ] {
            for (i, route) in routes.iter().enumerate() {
                let ns = &route.namespace;
                if routes[..i].iter().any(|known| &known.namespace == ns) {
                    return invalid(key, &format!("{ns} has two URLs"));
                }
                if !self.namespaces.routes_to(ns) {
                    return invalid(
                        key,
                        &format!(
                            "{ns} is not a generic namespace (`/`, one of --namespaces or of their patterns)"
                        ),
                    );
                }
            }
        }
        if self.forwarding.forward_timeout_ms == 0 {
            return invalid("forwarding.forward_timeout_ms", "must be greater than 0");
        }
        // It travels as a header value: visible ASCII only.
        if let Some(secret) = &self.forwarding.forward_secret
            && (secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()))
        {
            return invalid(
                "forwarding.forward_secret",
                "must be 1 or more visible ASCII characters (no spaces)",
            );
        }
        let c = &self.chat;
        if c.chat_history_size == 0 {
            return invalid("chat.chat_history_size", "must be greater than 0");
        }
        if c.chat_join_history > c.chat_history_size {
            return invalid(
                "chat.chat_join_history",
                "must not exceed chat.chat_history_size",
            );
        }
        if c.chat_max_message_chars == 0 {
            return invalid("chat.chat_max_message_chars", "must be greater than 0");
        }
        if c.max_rooms_per_socket == 0 {
            return invalid("chat.max_rooms_per_socket", "must be greater than 0");
        }
        // A page is one Redis script call with the page's ids as arguments.
        if c.presence_page_size == 0 || c.presence_page_size > 1000 {
            return invalid("chat.presence_page_size", "must be between 1 and 1000");
        }
        if c.chat_history_max_rooms == 0 {
            return invalid("chat.chat_history_max_rooms", "must be greater than 0");
        }
        if c.chat_history_max_bytes < 64 * 1024 {
            return invalid("chat.chat_history_max_bytes", "must be at least 65536");
        }
        for pattern in &c.chat_public_rooms {
            let name = pattern.strip_suffix('*').unwrap_or(pattern);
            if pattern != "*" && crate::protocol::validate_room(name).is_err() {
                return invalid(
                    "chat.chat_public_rooms",
                    &format!("{pattern:?} is not a room name or a prefix like lobby.*"),
                );
            }
        }
        self.validate_security()?;
        Ok(())
    }

    /// Checks the auth, limit and TLS settings (files are read by the modules that use them).
    fn validate_security(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        let a = &self.auth;
        if a.jwt_secret.is_some() && a.jwt_public_key.is_some() {
            return invalid(
                "auth.jwt_secret",
                "give --jwt-secret or --jwt-public-key, not both",
            );
        }
        if a.jwt_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return invalid("auth.jwt_secret", "must have at least 32 bytes");
        }
        let verifies = a.jwt_secret.is_some() || a.jwt_public_key.is_some();
        if !a.private_namespaces.is_empty() && !verifies {
            return invalid(
                "auth.private_namespaces",
                "needs --jwt-secret or --jwt-public-key to verify tokens",
            );
        }
        for ns in &a.private_namespaces {
            if !self.namespaces.routes_to(ns) && !BUILTIN_NAMESPACES.contains(&ns.as_str()) {
                return invalid(
                    "auth.private_namespaces",
                    &format!("{ns} is not a namespace this server serves"),
                );
            }
        }
        if a.dev_auth && a.jwt_secret.is_none() {
            return invalid("auth.dev_auth", "needs --jwt-secret to sign tokens");
        }
        let l = &self.limits;
        if l.handshake_rate > 0 && l.handshake_burst == 0 {
            return invalid("limits.handshake_burst", "must be greater than 0");
        }
        if l.event_rate > 0 && l.event_burst == 0 {
            return invalid("limits.event_burst", "must be greater than 0");
        }
        if self.tls.tls_cert.is_some() != self.tls.tls_key.is_some() {
            return invalid("tls.tls_cert", "--tls-cert and --tls-key go together");
        }
        Ok(())
    }
}

impl Config {
    /// The generic namespaces and their patterns: each a namespace like
    /// `/admin` or a pattern like `/tenant-*`, none a built-in app's, and no
    /// two patterns the router cannot tell apart.
    fn validate_namespaces(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| {
            Err(ConfigError::Invalid {
                key: "namespaces.namespaces",
                message,
            })
        };
        let mut router = matchit::Router::new();
        for path in &self.namespaces.namespaces {
            let pattern = match NamespacePattern::parse(path) {
                Ok(pattern) => pattern,
                Err(message) => return invalid(message),
            };
            if BUILTIN_NAMESPACES.contains(&path.as_str()) {
                return invalid(format!("{path} is a built-in app's namespace"));
            }
            if pattern.is_pattern() && router.insert(pattern.route(), ()).is_err() {
                return invalid(format!(
                    "{path} overlaps another pattern in a way the namespace router cannot tell apart"
                ));
            }
        }
        Ok(())
    }

    /// The Django bridge's settings: hosts, names and bounds.
    fn validate_django(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        let d = &self.django;
        let redis = ["redis://", "rediss://", "unix://", "redis+unix://"];
        if d.django_layer
            .iter()
            .any(|url| !redis.iter().any(|scheme| url.starts_with(scheme)))
        {
            return invalid("django.django_layer", "every host must be a redis:// URL");
        }
        if d.django_layer.len() > 8 {
            return invalid("django.django_layer", "at most 8 hosts");
        }
        if d.django_prefix.is_empty() || d.django_prefix.contains(char::is_whitespace) {
            return invalid("django.django_prefix", "must be a non-empty word");
        }
        if d.django_encryption_keys.iter().any(String::is_empty) {
            return invalid("django.django_encryption_keys", "a key may not be empty");
        }
        let mut served = self.namespaces.generic_paths();
        served.extend(BUILTIN_NAMESPACES.iter().map(|p| (*p).to_owned()));
        if !served.contains(&d.django_namespace) || d.django_namespace.contains('*') {
            return invalid(
                "django.django_namespace",
                "must be a namespace this server serves (`/`, one of --namespaces, or a built-in one)",
            );
        }
        let pattern = &d.django_user_group;
        if !pattern.is_empty()
            && (pattern.matches("{id}").count() != 1
                || !pattern
                    .replace("{id}", "")
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return invalid(
                "django.django_user_group",
                "must hold `{id}` once, around ASCII letters, digits, `-`, `_` or `.` (or be empty)",
            );
        }
        if d.django_group_expiry_secs < 10 {
            return invalid("django.django_group_expiry_secs", "must be at least 10");
        }
        if !(1024..=64 * 1024 * 1024).contains(&d.django_max_message_bytes) {
            return invalid(
                "django.django_max_message_bytes",
                "must be between 1024 bytes and 64 MiB",
            );
        }
        Ok(())
    }
}
