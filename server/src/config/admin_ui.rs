//! The settings of the Socket.IO Admin UI namespace (`@socket.io/admin-ui`'s
//! protocol): who may log in, what the UI may do, and what it may see.
//!
//! Kept apart from the other sections because it is off by default and its
//! checks (a bcrypt hash, a namespace no app uses) concern it alone.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The Admin UI namespace: off unless `--admin-password-hash` or `--admin-no-auth` is given.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminUiConfig {
    /// bcrypt hash of the Admin UI password (e.g. `htpasswd -nbBC 10 "" 'PASSWORD' | cut -d: -f2`); setting it serves the admin namespace.
    #[arg(
        long,
        env = "IORELAY_ADMIN_PASSWORD_HASH",
        hide_env_values = true,
        help_heading = "Admin UI"
    )]
    pub admin_password_hash: Option<String>,

    /// User name the Admin UI logs in with.
    #[arg(
        long,
        env = "IORELAY_ADMIN_USERNAME",
        default_value = "admin",
        help_heading = "Admin UI"
    )]
    pub admin_username: String,

    /// DANGER: serve the admin namespace without a login; whoever reaches it can read and drive every socket. Not with --admin-password-hash.
    #[arg(long, env = "IORELAY_ADMIN_NO_AUTH", help_heading = "Admin UI")]
    pub admin_no_auth: bool,

    /// Namespace the Admin UI connects to.
    #[arg(
        long,
        env = "IORELAY_ADMIN_NAMESPACE",
        default_value = "/admin",
        help_heading = "Admin UI"
    )]
    pub admin_namespace: String,

    /// `production`: server stats and commands; `development`: also every socket, room change and received event, mirrored live to the UI.
    #[arg(long, env = "IORELAY_ADMIN_MODE", value_enum, default_value_t = AdminMode::Production, help_heading = "Admin UI")]
    pub admin_mode: AdminMode,

    /// The UI may look but not emit, join, leave or disconnect.
    #[arg(long, env = "IORELAY_ADMIN_READ_ONLY", help_heading = "Admin UI")]
    pub admin_read_only: bool,

    /// Directory with the Admin UI's files (`ui/dist` of the `@socket.io/admin-ui` npm package), served at `/admin-ui/`.
    #[arg(long, env = "IORELAY_ADMIN_UI_DIR", help_heading = "Admin UI")]
    pub admin_ui_dir: Option<PathBuf>,

    /// Development mode: records (sockets, rooms, events) waiting for the UI at once; past it they are dropped and counted.
    #[arg(
        long,
        env = "IORELAY_ADMIN_MIRROR_CAPACITY",
        default_value_t = 1_024,
        help_heading = "Admin UI"
    )]
    pub admin_mirror_capacity: usize,
}

/// How much the Admin UI sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminMode {
    /// Server stats and commands.
    Production,
    /// Also every socket, room change and received event (a debugging aid).
    Development,
}

impl AdminUiConfig {
    /// Whether the admin namespace is served.
    pub fn enabled(&self) -> bool {
        self.admin_password_hash.is_some() || self.admin_no_auth
    }

    /// Checks the hash, the namespace and the UI directory; `taken` are namespaces apps use.
    pub(super) fn validate(&self, taken: &[String]) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if self.admin_no_auth && self.admin_password_hash.is_some() {
            return invalid(
                "admin_ui.admin_no_auth",
                "choose a password hash or no login, not both".to_owned(),
            );
        }
        if let Some(hash) = &self.admin_password_hash
            && hash.parse::<bcrypt::HashParts>().is_err()
        {
            return invalid(
                "admin_ui.admin_password_hash",
                "is not a bcrypt hash ($2a$, $2b$ or $2y$, cost, 53 characters of salt and hash)"
                    .to_owned(),
            );
        }
        let ns = &self.admin_namespace;
        let valid_chars = ns
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'));
        if !ns.starts_with('/') || ns.len() < 2 || !valid_chars {
            return invalid(
                "admin_ui.admin_namespace",
                format!("{ns:?} is not a namespace like /admin"),
            );
        }
        if self.enabled() && taken.iter().any(|t| t == ns) {
            return invalid(
                "admin_ui.admin_namespace",
                format!("{ns} is already served by an app"),
            );
        }
        if let Some(dir) = &self.admin_ui_dir
            && !dir.join("index.html").is_file()
        {
            return invalid(
                "admin_ui.admin_ui_dir",
                format!(
                    "{} has no index.html (use ui/dist of @socket.io/admin-ui)",
                    dir.display()
                ),
            );
        }
        if self.admin_mirror_capacity == 0 {
            return invalid(
                "admin_ui.admin_mirror_capacity",
                "must be greater than 0".to_owned(),
            );
        }
        Ok(())
    }
}
