//! `iorelay-bench`: load tool for iorelay and other Socket.IO servers.
//!
//! Every scenario drives loopback servers only (127.0.0.0/8), is bounded in
//! clients and time, prints one result line and writes a JSON file.

use iorelay_bench::{delivery, report, scenario, worker};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Load tool and benchmarks for iorelay and its peers (loopback only).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// N idle connections held for a while: server RSS per connection, connect rate, failures.
    Idle(scenario::IdleArgs),
    /// N clients in one room, one publisher at a fixed rate: deliveries/s, latency, loss.
    /// With several --url it is the cluster scenario.
    Fanout(scenario::FanoutArgs),
    /// Many rooms on /chat; every client sends at a rate and awaits acks: acks/s, latency.
    Chat(scenario::ChatArgs),
    /// N members join one /chat room at once, one publishes at a fixed rate: loss per member,
    /// latency, presence bytes, server RSS over time (issue #12).
    JoinStorm(delivery::JoinStormArgs),
    /// The join storm's room with one member that stops reading: bystanders' latency and loss,
    /// the slow member's fate and catch-up, server RSS over time (issue #12).
    SlowConsumer(delivery::SlowConsumerArgs),
    /// One topic's notifications to N subscribers over Socket.IO or Server-Sent Events (issue #15).
    NotifyFanout(iorelay_bench::notify::NotifyArgs),
    /// Result table (Markdown) and chart (SVG) from the JSON files of a results folder.
    Report {
        /// Results folder.
        #[arg(long, default_value = "bench/results")]
        dir: PathBuf,
    },
    /// Writes the machine description (CPU, cores, memory, kernel) as JSON.
    Machine {
        /// Output file.
        #[arg(long, default_value = "bench/results/machine.json")]
        out: PathBuf,
        /// Software versions to record, as name=version (repeatable).
        #[arg(long = "software")]
        software: Vec<String>,
    },
    /// Internal: a worker process started by a scenario.
    #[command(hide = true)]
    Worker {
        /// The worker's configuration (JSON).
        #[arg(long)]
        config: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Worker { config } => worker::run(&config),
        Cmd::Report { dir } => report::run(&dir),
        Cmd::Machine { out, software } => {
            let pairs: Vec<(String, String)> = software
                .iter()
                .map(|s| match s.split_once('=') {
                    Some((k, v)) => (k.trim().to_owned(), v.trim().to_owned()),
                    None => (s.clone(), String::new()),
                })
                .collect();
            report::write_machine(&out, &pairs)
        }
        cmd => run_async(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iorelay-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_async(cmd: Cmd) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async move {
        match cmd {
            Cmd::Idle(args) => scenario::idle(args).await,
            Cmd::Fanout(args) => scenario::fanout(args).await,
            Cmd::Chat(args) => scenario::chat(args).await,
            Cmd::JoinStorm(args) => delivery::join_storm(args).await,
            Cmd::SlowConsumer(args) => delivery::slow_consumer(args).await,
            Cmd::NotifyFanout(args) => iorelay_bench::notify::notify_fanout(args).await,
            _ => Ok(()),
        }
    });
    runtime.shutdown_background();
    result
}
