//! `ember`: a Prometheus-compatible server composed from the Ember crates, and the
//! promtool/amtool-like tools beside it.

use clap::{Args, Parser, Subcommand};
use ember_server::cli;

/// The command line.
#[derive(Parser, Debug)]
#[command(name = "ember", version, about = "A Prometheus-compatible server built from the Ember crates")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check configuration and rule files (like `promtool check`).
    #[command(subcommand)]
    Check(CheckCommand),
    /// Alertmanager configuration tools (like `amtool config`).
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand, Debug)]
enum CheckCommand {
    /// Check server configuration files and the rule files they name.
    Config {
        /// The files.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Check rule files.
    Rules {
        /// The files.
        #[arg(required = true)]
        files: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Routing tree tools.
    #[command(subcommand)]
    Routes(RoutesCommand),
}

#[derive(Subcommand, Debug)]
enum RoutesCommand {
    /// Print the receivers a label set is routed to.
    Test(RoutesTest),
}

#[derive(Args, Debug)]
struct RoutesTest {
    /// The Alertmanager configuration file.
    #[arg(long = "config.file", default_value = "alertmanager.yml")]
    config_file: String,
    /// Expected receivers, comma-separated; a mismatch exits 1.
    #[arg(long = "verify.receivers")]
    verify_receivers: Option<String>,
    /// `label=value` pairs.
    labels: Vec<String>,
}

fn main() {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let code = match cli.command {
        Command::Check(CheckCommand::Config { files }) => cli::check::config(&files, &mut out),
        Command::Check(CheckCommand::Rules { files }) => cli::check::rules(&files, &mut out),
        Command::Config(ConfigCommand::Routes(RoutesCommand::Test(t))) => {
            cli::routes::test(&t.config_file, t.verify_receivers.as_deref(), &t.labels, &mut out)
        }
    };
    drop(out);
    std::process::exit(code);
}
