//! The one typed configuration of iorelay.
//!
//! Every setting is declared once, in a section of [`Config`]: as a
//! command-line flag, an `IORELAY_*` environment variable and a key of the
//! optional TOML file (`--config`), with one doc comment that `--help` and
//! `check-config` show. Precedence is flag > environment > file > built-in
//! default, so a file can hold the defaults of a deployment and the
//! environment can still override them. Each value is parsed once, into its
//! type, where clap or the file reads it.
//!
//! # Layout
//! - this file: the command line, [`Config`], [`parse`], [`ConfigError`], `check-config`'s TOML.
//! - `sections`: the sections and their settings, each documented where it is declared.
//! - `admin_ui`: the Admin UI namespace (off unless a login or no-login is configured).
//! - `addresses`: typed network values ([`TrustedProxy`], [`NamespaceUrl`]).
//! - `file`: the `--config` file under the flags and the environment.
//! - `origin`: where a setting came from (flag, variable, file line), for errors.
//! - `validate`: ranges and combinations the types do not rule out.

mod addresses;
mod admin_ui;
mod file;
mod origin;
mod sections;
#[cfg(test)]
mod tests;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};
use serde::{Deserialize, Serialize};
use url::{Position, Url};

pub use addresses::{NamespaceUrl, TrustedProxy};
pub use admin_ui::{AdminMode, AdminUiConfig};
pub use sections::{
    AdapterKind, ApiConfig, AuthConfig, BUILTIN_NAMESPACES, ChatConfig, ClusterConfig,
    DjangoConfig, DjangoLayerKind, EngineConfig, FLASK_MAX_MESSAGE_BYTES, FlaskConfig,
    ForwardingConfig, LimitsConfig, LogFormat, MetricsConfig, NamespacesConfig,
    NotificationsConfig, ParserKind, ServerConfig, TlsConfig, Transport,
};

/// Command line of the `iorelay` binary.
#[derive(Debug, Parser)]
#[command(
    name = "iorelay",
    version,
    about = "A production Socket.IO server (Socket.IO v5 / Engine.IO v4, polling and WebSocket).",
    long_about = "A production Socket.IO server (Socket.IO v5 / Engine.IO v4, polling and WebSocket).\n\n\
        Every flag also reads an IORELAY_* environment variable and a key of the TOML file given \
        with --config (section and key as in `iorelay check-config`). Precedence: flag > \
        environment > file > default.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to run; without a subcommand the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Settings of the server (used when no subcommand is given).
    #[command(flatten)]
    pub serve: Config,
}

/// Subcommands of the binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a configuration (flags, environment, file) and print the effective settings as TOML.
    CheckConfig(Box<Config>),
    /// Serve the reference behaviour the official Socket.IO protocol test suite expects.
    Conformance(ConformanceArgs),
}

/// Flags of `iorelay conformance`.
#[derive(Debug, Clone, Args)]
pub struct ConformanceArgs {
    /// Address to listen on.
    #[arg(long, env = "IORELAY_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Log output format.
    #[arg(long, env = "IORELAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The whole effective configuration, made of sections.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// TOML file with settings; flags and environment variables override it.
    #[arg(long, env = "IORELAY_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub server: ServerConfig,

    #[command(flatten)]
    pub engine: EngineConfig,

    #[command(flatten)]
    pub namespaces: NamespacesConfig,

    #[command(flatten)]
    pub chat: ChatConfig,

    #[command(flatten)]
    pub notifications: NotificationsConfig,

    #[command(flatten)]
    pub api: ApiConfig,

    #[command(flatten)]
    pub cluster: ClusterConfig,

    #[command(flatten)]
    pub auth: AuthConfig,

    #[command(flatten)]
    pub limits: LimitsConfig,

    #[command(flatten)]
    pub tls: TlsConfig,

    #[command(flatten)]
    pub metrics: MetricsConfig,

    #[command(flatten)]
    pub flask: FlaskConfig,

    #[command(flatten)]
    pub forwarding: ForwardingConfig,

    #[command(flatten)]
    pub django: DjangoConfig,

    #[command(flatten)]
    pub admin_ui: AdminUiConfig,
}

/// A configuration that cannot be used; shown to the operator as one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag or `IORELAY_*` value that does not parse, or `--help` / `--version`:
    /// clap prints it and exits with its code ([`clap::Error::exit`]).
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// The `--config` file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML or has a bad value.
    #[error("invalid config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, from the TOML parser.
        message: String,
    },
    /// A value that does not parse or check, led by where it came from:
    /// `--flag VALUE`, `IORELAY_VAR=VALUE`, or `file:line` (`file:line:column`
    /// for TOML syntax).
    #[error("{origin}: {message}")]
    Setting {
        /// Where the value came from.
        origin: String,
        /// What is wrong, naming the setting as `section.key`.
        message: String,
    },
    /// A value is out of range or inconsistent with another (a default, or
    /// before [`Config::resolve`] names its source).
    #[error("invalid setting {key}: {message}")]
    Invalid {
        /// The setting, as `section.key`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Applies the `--config` file (if any) under the flags and environment, then validates.
    ///
    /// `matches` are the matches this config was parsed from: they tell which values
    /// came from a flag or the environment, and so win over the file.
    pub fn resolve(self, matches: &ArgMatches) -> Result<Config, ConfigError> {
        let (config, lines) = match self.config.clone() {
            Some(path) => self.overlay_file(&path, matches)?,
            None => (self, origin::FileLines::default()),
        };
        config
            .validate()
            .map_err(|e| origin::locate(e, matches, &lines))?;
        Ok(config)
    }

    /// The built-in defaults: no flag, no file, and the environment ignored.
    pub fn defaults() -> Config {
        let command =
            Config::augment_args(clap::Command::new("iorelay")).mut_args(|arg| arg.env(None));
        let matches = command.try_get_matches_from(["iorelay"]);
        // Only the literals of `sections` are parsed (`defaults_are_valid` runs this), so
        // a failure is a bug in them, not an input to report.
        matches
            .and_then(|m| Config::from_arg_matches(&m))
            .expect("the built-in defaults parse")
    }

    /// The Redis URL with its password masked, for messages.
    pub fn to_redacted_redis_url(&self) -> String {
        self.cluster
            .redis_url
            .as_deref()
            .map(redact_url_password)
            .unwrap_or_default()
    }

    /// The effective settings as TOML, as `check-config` prints them (secrets masked).
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        for key in &mut shown.api.api_keys {
            *key = "<redacted>".to_owned();
        }
        if let Some(secret) = &mut shown.auth.jwt_secret {
            *secret = "<redacted>".to_owned();
        }
        if let Some(secret) = &mut shown.forwarding.forward_secret {
            *secret = "<redacted>".to_owned();
        }
        if let Some(url) = &mut shown.cluster.redis_url {
            *url = redact_url_password(url);
        }
        if let Some(url) = &mut shown.flask.flask_queue {
            *url = redact_url_password(url);
        }
        for url in &mut shown.django.django_layer {
            *url = redact_url_password(url);
        }
        for key in &mut shown.django.django_encryption_keys {
            *key = "<redacted>".to_owned();
        }
        if let Some(hash) = &mut shown.admin_ui.admin_password_hash {
            *hash = "<redacted>".to_owned();
        }
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }
}

/// `redis://user:secret@host` → `redis://user:<redacted>@host`; a URL
/// without a password, or text that is no URL, is returned as it is.
pub fn redact_url_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(parsed) if parsed.password().is_some() => format!(
            "{}<redacted>{}",
            &parsed[..Position::BeforePassword],
            &parsed[Position::AfterPassword..]
        ),
        _ => url.to_owned(),
    }
}

/// Parses the process arguments into the command to run and its resolved config.
pub fn parse() -> Result<(Option<Command>, Config), ConfigError> {
    parse_from(std::env::args_os())
}

/// Parses `args` (the binary's name first) into the command to run and its resolved config.
///
/// For `conformance` the config is the flags' defaults and the environment,
/// unvalidated: that command sets what it needs over it.
pub fn parse_from<I, T>(args: I) -> Result<(Option<Command>, Config), ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::CommandFactory;
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let matches = Cli::command()
        .try_get_matches_from(&args)
        .map_err(|e| origin::from_clap(e, &args))?;
    let cli = Cli::from_arg_matches(&matches)?;
    match cli.command {
        Some(Command::CheckConfig(config)) => {
            let sub = matches
                .subcommand_matches("check-config")
                .unwrap_or(&matches);
            let config = config.resolve(sub)?;
            Ok((Some(Command::CheckConfig(Box::new(config.clone()))), config))
        }
        Some(command @ Command::Conformance(_)) => Ok((Some(command), cli.serve)),
        None => Ok((None, cli.serve.resolve(&matches)?)),
    }
}
