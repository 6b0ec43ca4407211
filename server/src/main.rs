//! The `iorelay` binary: parse the configuration, start logging, run.

use std::process::ExitCode;

use iorelay::apps::conformance;
use iorelay::config::{self, Command, ConfigError};
use iorelay::node::{self, Apps, shutdown};
use iorelay::ops::telemetry;

fn main() -> ExitCode {
    let (command, config) = match config::parse() {
        Ok(parsed) => parsed,
        Err(ConfigError::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("iorelay: {e}");
            return ExitCode::from(2);
        }
    };
    let (config, apps) = match command {
        Some(Command::CheckConfig(config)) => {
            print!("{}", config.to_toml());
            return ExitCode::SUCCESS;
        }
        Some(Command::Conformance(args)) => (conformance::config(config, &args), Apps::Conformance),
        None => (config, Apps::Production),
    };
    telemetry::init(
        config.server.log_format,
        config.server.log_repeat_interval(),
    );
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = config.server.worker_threads {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("iorelay: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        // Handlers first: a signal right after "listening" must stop the server gracefully.
        let stop = shutdown::signal();
        let listener = node::bind(&config).await?;
        node::run(config, listener, apps, stop).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "iorelay stopped");
            eprintln!("iorelay: {e}");
            ExitCode::FAILURE
        }
    }
}
