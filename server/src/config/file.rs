//! The `--config` TOML file, laid under the flags and the environment: a key
//! of the file counts only where no flag or `IORELAY_*` variable gave one.

use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args};

use super::{Config, ConfigError};

impl Config {
    /// This config with the file at `path` under it; `matches` tell which values
    /// came from a flag or the environment. Unknown sections and keys are errors.
    pub(super) fn overlay_file(
        self,
        path: &Path,
        matches: &ArgMatches,
    ) -> Result<Config, ConfigError> {
        let file_error = |message: String| ConfigError::File {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| file_error(e.message().to_owned()))?;
        let known: Vec<String> = Config::augment_args(clap::Command::new("iorelay"))
            .get_arguments()
            .map(|arg| arg.get_id().to_string())
            .collect();
        let mut merged = toml::Table::try_from(&self).map_err(|e| file_error(e.to_string()))?;
        for (section, values) in file {
            let Some(toml::Value::Table(target)) = merged.get_mut(&section) else {
                return Err(file_error(format!("unknown section [{section}]")));
            };
            let toml::Value::Table(values) = values else {
                return Err(file_error(format!("[{section}] must be a table")));
            };
            for (key, value) in values {
                if !known.contains(&key) || key == "config" {
                    return Err(file_error(format!("unknown key {section}.{key}")));
                }
                let from_user = matches!(
                    matches.value_source(&key),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                );
                if !from_user {
                    target.insert(key, value);
                }
            }
        }
        let mut config: Config = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| file_error(e.message().to_owned()))?;
        config.config = Some(path.to_owned());
        Ok(config)
    }
}
