//! Where a setting came from (a flag, an `IORELAY_*` variable, a line of the
//! `--config` file), so that an error names what the operator has to fix.
//!
//! clap reports a bad `IORELAY_PING_INTERVAL_MS` as if it were the flag, and
//! serde reports a bad file value without its key or line: both are turned
//! here into one line that leads with the source, e.g.
//! `IORELAY_PING_INTERVAL_MS=abc: invalid value for engine.ping_interval_ms: …`
//! or `iorelay.toml:3: engine.ping_interval_ms: invalid type: …`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::Path;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args};

use super::{Config, ConfigError, redact_url_password};

/// Settings whose values are never shown in errors.
const SECRETS: [&str; 5] = [
    "admin_password_hash",
    "api_keys",
    "jwt_secret",
    "django_encryption_keys",
    "forward_secret",
];
/// Settings holding URLs whose passwords are masked in errors.
const URLS: [&str; 3] = ["redis_url", "flask_queue", "django_layer"];

/// Where one value of a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// `--flag VALUE` on the command line.
    Flag { long: String, value: String },
    /// `IORELAY_*=VALUE` in the environment.
    Env { var: String, value: String },
    /// A key of the `--config` file, at this 1-based line.
    File { path: String, line: usize },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag { long, value } => write!(f, "--{long} {value}"),
            Origin::Env { var, value } => write!(f, "{var}={value}"),
            Origin::File { path, line } => write!(f, "{path}:{line}"),
        }
    }
}

/// The 1-based line of each `section.key` set in the `--config` file.
#[derive(Debug, Clone, Default)]
pub(super) struct FileLines {
    /// The file, as the operator named it.
    pub path: String,
    /// `section.key` → line.
    pub lines: HashMap<String, usize>,
}

impl FileLines {
    /// Where `section.key` is set in the file, if it is.
    pub fn origin(&self, key: &str) -> Option<Origin> {
        self.lines.get(key).map(|&line| Origin::File {
            path: self.path.clone(),
            line,
        })
    }
}

/// The 1-based line and column of byte `offset` of `text`.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |last| last.chars().count() + 1);
    (line, column)
}

/// `path:line:column` of byte `offset` of the file `text`.
pub(super) fn file_position(path: &Path, text: &str, offset: usize) -> String {
    let (line, column) = line_column(text, offset);
    format!("{}:{line}:{column}", path.display())
}

/// The clap argument of setting `id` (`ping_interval_ms`).
fn argument(id: &str) -> Option<clap::Arg> {
    Config::augment_args(clap::Command::new("iorelay"))
        .get_arguments()
        .find(|arg| arg.get_id() == id)
        .cloned()
}

/// The sections of [`Config`], by their TOML names, with their settings' arguments.
fn sections() -> [(&'static str, clap::Command); 15] {
    use super::sections::*;
    let args = |augment: fn(clap::Command) -> clap::Command| augment(clap::Command::new("iorelay"));
    [
        ("server", args(ServerConfig::augment_args)),
        ("engine", args(EngineConfig::augment_args)),
        ("namespaces", args(NamespacesConfig::augment_args)),
        ("chat", args(ChatConfig::augment_args)),
        ("notifications", args(NotificationsConfig::augment_args)),
        ("api", args(ApiConfig::augment_args)),
        ("cluster", args(ClusterConfig::augment_args)),
        ("auth", args(AuthConfig::augment_args)),
        ("limits", args(LimitsConfig::augment_args)),
        ("tls", args(TlsConfig::augment_args)),
        ("metrics", args(MetricsConfig::augment_args)),
        ("flask", args(FlaskConfig::augment_args)),
        ("forwarding", args(ForwardingConfig::augment_args)),
        ("django", args(DjangoConfig::augment_args)),
        (
            "admin_ui",
            args(super::admin_ui::AdminUiConfig::augment_args),
        ),
    ]
}

/// `section.key` of setting `id`, as the file and `check-config` name it.
pub(super) fn setting_key(id: &str) -> Option<String> {
    sections()
        .into_iter()
        .find(|(_, command)| command.get_arguments().any(|arg| arg.get_id() == id))
        .map(|(section, _)| format!("{section}.{id}"))
}

/// `value` of setting `id` as an error may show it (secrets and passwords masked).
fn shown_value(id: &str, value: &str) -> String {
    if SECRETS.contains(&id) {
        "<redacted>".to_owned()
    } else if URLS.contains(&id) {
        value
            .split(',')
            .map(redact_url_password)
            .collect::<Vec<_>>()
            .join(",")
    } else {
        value.to_owned()
    }
}

/// Where the value of setting `id` came from, by `matches` (flag, environment)
/// or the file; `None` for a built-in default.
pub(super) fn of_setting(id: &str, matches: &ArgMatches, file: &FileLines) -> Option<Origin> {
    let arg = argument(id)?;
    let raw = || {
        matches
            .get_raw(id)
            .map(|values| {
                values
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    };
    match matches.value_source(id) {
        Some(ValueSource::CommandLine) => Some(Origin::Flag {
            long: arg.get_long()?.to_owned(),
            value: shown_value(id, &raw()),
        }),
        Some(ValueSource::EnvVariable) => Some(Origin::Env {
            var: arg.get_env()?.to_string_lossy().into_owned(),
            value: shown_value(id, &raw()),
        }),
        _ => file.origin(&setting_key(id)?),
    }
}

/// A validation error named with where its setting came from; unchanged when
/// the setting has its default.
pub(super) fn locate(error: ConfigError, matches: &ArgMatches, file: &FileLines) -> ConfigError {
    let ConfigError::Invalid { key, message } = error else {
        return error;
    };
    let id = key.rsplit('.').next().unwrap_or(key);
    match of_setting(id, matches, file) {
        Some(origin) => ConfigError::Setting {
            origin: origin.to_string(),
            message: format!("{key}: {message}"),
        },
        None => ConfigError::Invalid { key, message },
    }
}

/// A clap error about one value (`--ping-interval-ms abc`, `IORELAY_PARSER=xml`)
/// as a [`ConfigError::Setting`] naming the flag or the variable that gave it;
/// other errors (`--help`, unknown flags) stay clap's.
pub(super) fn from_clap(error: clap::Error, args: &[OsString]) -> ConfigError {
    if !matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return ConfigError::Cli(error);
    }
    let Some(ContextValue::String(invalid_arg)) = error.get(ContextKind::InvalidArg) else {
        return ConfigError::Cli(error);
    };
    let Some(long) = invalid_arg
        .split_whitespace()
        .next()
        .and_then(|flag| flag.strip_prefix("--"))
    else {
        return ConfigError::Cli(error);
    };
    let Some(arg) = Config::augment_args(clap::Command::new("iorelay"))
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .cloned()
    else {
        return ConfigError::Cli(error);
    };
    let id = arg.get_id().to_string();
    let value = match error.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => shown_value(&id, value),
        _ => String::new(),
    };
    let on_command_line = args.iter().any(|a| {
        let a = a.to_string_lossy();
        a == format!("--{long}") || a.starts_with(&format!("--{long}="))
    });
    let origin = match arg.get_env() {
        Some(var) if !on_command_line => Origin::Env {
            // The whole variable: clap names only the list item that failed.
            value: std::env::var_os(var).map_or(value, |v| shown_value(&id, &v.to_string_lossy())),
            var: var.to_string_lossy().into_owned(),
        },
        _ => Origin::Flag {
            long: long.to_owned(),
            value,
        },
    };
    let cause = match (
        error.get(ContextKind::ValidValue),
        std::error::Error::source(&error),
    ) {
        (Some(ContextValue::Strings(valid)), _) => format!("expected one of {}", valid.join(", ")),
        (_, Some(source)) => source.to_string(),
        _ => "cannot be parsed".to_owned(),
    };
    let key = setting_key(&id).unwrap_or(id);
    ConfigError::Setting {
        origin: origin.to_string(),
        message: format!("invalid value for {key}: {cause}"),
    }
}
