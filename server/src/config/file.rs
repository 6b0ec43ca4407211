//! The `--config` TOML file, laid under the flags and the environment: a key
//! of the file counts only where no flag or `IORELAY_*` variable gave one.
//! Its errors carry the file's line (and column, for syntax errors).

use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use toml::de::{DeTable, DeValue};

use super::origin::{FileLines, file_position, line_column};
use super::{Config, ConfigError};

impl Config {
    /// This config with the file at `path` under it, and where the file sets
    /// each key; `matches` tell which values came from a flag or the
    /// environment. Unknown sections and keys are errors.
    pub(super) fn overlay_file(
        self,
        path: &Path,
        matches: &ArgMatches,
    ) -> Result<(Config, FileLines), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let syntax_error = |e: toml::de::Error| ConfigError::Setting {
            origin: file_position(path, &text, e.span().map_or(0, |span| span.start)),
            message: e.message().trim_end().to_owned(),
        };
        let file: toml::Table = text.parse().map_err(syntax_error)?;
        let lines = key_lines(path, &text).map_err(syntax_error)?;
        let at = |key: &str, message: String| ConfigError::Setting {
            origin: lines
                .origin(key)
                .map_or_else(|| path.display().to_string(), |origin| origin.to_string()),
            message,
        };
        let known: Vec<String> = Config::augment_args(clap::Command::new("iorelay"))
            .get_arguments()
            .map(|arg| arg.get_id().to_string())
            .collect();
        let base = toml::Table::try_from(&self).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let mut merged = base.clone();
        for (section, values) in file {
            let Some(toml::Value::Table(target)) = merged.get_mut(&section) else {
                return Err(at(&section, format!("unknown section [{section}]")));
            };
            let toml::Value::Table(values) = values else {
                return Err(at(&section, format!("[{section}] must be a table")));
            };
            for (key, value) in values {
                let setting = format!("{section}.{key}");
                if !known.contains(&key) || key == "config" {
                    return Err(at(&setting, format!("unknown key {setting}")));
                }
                let from_user = matches!(
                    matches.value_source(&key),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                );
                if from_user {
                    continue;
                }
                // Each value is tried alone so that its error names its key and line.
                let mut alone = base.clone();
                if let Some(toml::Value::Table(target)) = alone.get_mut(&section) {
                    target.insert(key.clone(), value.clone());
                }
                if let Err(e) = toml::Value::Table(alone).try_into::<Config>() {
                    return Err(at(
                        &setting,
                        format!("{setting}: {}", e.message().trim_end()),
                    ));
                }
                target.insert(key, value);
            }
        }
        let mut config: Config =
            toml::Value::Table(merged)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::File {
                    path: path.to_owned(),
                    message: e.message().to_owned(),
                })?;
        config.config = Some(path.to_owned());
        Ok((config, lines))
    }
}

/// The line of every `section.key` (and `section`) the file sets.
fn key_lines(path: &Path, text: &str) -> Result<FileLines, toml::de::Error> {
    let table = DeTable::parse(text)?;
    let mut lines = FileLines {
        path: path.display().to_string(),
        ..FileLines::default()
    };
    let line_of = |span: std::ops::Range<usize>| line_column(text, span.start).0;
    for (section, values) in table.get_ref() {
        let name = section.get_ref().to_string();
        lines.lines.insert(name.clone(), line_of(section.span()));
        if let DeValue::Table(values) = values.get_ref() {
            for (key, _) in values {
                lines
                    .lines
                    .insert(format!("{name}.{}", key.get_ref()), line_of(key.span()));
            }
        }
    }
    Ok(lines)
}
