//! `ember`: a Prometheus-compatible server composed from the Ember crates, and the
//! promtool/amtool-like tools beside it.

use clap::{Args, Parser, Subcommand};
use ember_server::cli;

/// The command line.
#[derive(Parser, Debug)]
#[command(name = "ember", version, about = "A Prometheus-compatible server built from the Ember crates")]
struct Cli {
    #[command(flatten)]
    server: ServerFlags,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The server's flags (Prometheus's names).
#[derive(Args, Debug)]
struct ServerFlags {
    /// Configuration file; without it the server scrapes itself on embedded defaults.
    /// Ember extension: `alerting.alertmanager_config_file: alertmanager.yml` (relative to
    /// this file) turns on the embedded Alertmanager-like dispatcher and serves the
    /// Alertmanager API v2 under /api/v2/; silences persist in <storage.tsdb.path>/alertmanager/.
    #[arg(long = "config.file")]
    config_file: Option<String>,
    /// Where the TSDB keeps its data.
    #[arg(long = "storage.tsdb.path", default_value = "data/")]
    tsdb_path: String,
    /// How long to keep samples (e.g. 15d).
    #[arg(long = "storage.tsdb.retention.time")]
    retention_time: Option<String>,
    /// The most bytes of blocks to keep (e.g. 512MB).
    #[arg(long = "storage.tsdb.retention.size")]
    retention_size: Option<String>,
    /// Address for the UI, API and telemetry.
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9090")]
    listen_address: String,
    /// Enable shutdown and reload over HTTP.
    #[arg(long = "web.enable-lifecycle")]
    enable_lifecycle: bool,
    /// Enable the admin API endpoints.
    #[arg(long = "web.enable-admin-api")]
    enable_admin_api: bool,
    /// How far back a selector looks for the latest sample.
    #[arg(long = "query.lookback-delta", default_value = "5m")]
    lookback_delta: String,
    /// The longest a query may run.
    #[arg(long = "query.timeout", default_value = "2m")]
    query_timeout: String,
    /// The most samples a query may hold in memory.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    max_samples: usize,
    /// The most queries evaluated at once.
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    max_concurrency: usize,
    /// The least time between two sends of a firing alert to Alertmanager.
    #[arg(long = "rules.alert.resend-delay", default_value = "1m")]
    alert_resend_delay: String,
    /// How long an outage may last for alerts' `for` state to be restored after it.
    #[arg(long = "rules.alert.for-outage-tolerance", default_value = "1h")]
    alert_for_outage_tolerance: String,
    /// The least `for` time left to an alert restored after a restart.
    #[arg(long = "rules.alert.for-grace-period", default_value = "10m")]
    alert_for_grace_period: String,
    /// Comma-separated feature names to enable (repeatable); known: exemplar-storage,
    /// promql-experimental-functions, promql-extended-range-selectors,
    /// promql-binop-fill-modifiers. Unknown names are warned about and ignored. The PromQL
    /// ones also apply to `check rules|config` and `test rules`.
    #[arg(long = "enable-feature", value_delimiter = ',', global = true)]
    enable_feature: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check configuration and rule files (like `promtool check`).
    #[command(subcommand)]
    Check(CheckCommand),
    /// Unit tests (like `promtool test`).
    #[command(subcommand)]
    Test(TestCommand),
    /// Query a Prometheus-compatible server (like `promtool query`).
    #[command(subcommand)]
    Query(QueryCommand),
    /// Alertmanager configuration tools (like `amtool config`).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// TSDB tools (like `promtool tsdb`).
    #[command(subcommand)]
    Tsdb(TsdbCommand),
}

#[derive(Subcommand, Debug)]
enum TsdbCommand {
    /// Import samples from input and produce TSDB blocks.
    #[command(name = "create-blocks-from", subcommand)]
    CreateBlocksFrom(CreateBlocksFrom),
    /// Analyze churn, label pair cardinality of a block.
    Analyze {
        /// Database path.
        #[arg(default_value = "data/")]
        dir: String,
        /// Block to analyze (default: the newest).
        block_id: Option<String>,
        /// How many items to show in each list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Write a deterministic OpenMetrics data set (node_exporter/kube-state-metrics-like) to stdout.
    #[command(name = "generate-openmetrics")]
    GenerateOpenmetrics {
        /// Number of series.
        #[arg(long, default_value_t = 1000)]
        series: usize,
        /// Time span.
        #[arg(long, default_value = "6h")]
        duration: String,
        /// Scrape interval.
        #[arg(long, default_value = "15s")]
        interval: String,
        /// Start time in Unix seconds.
        #[arg(long, default_value_t = 1_700_000_000)]
        start: i64,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand, Debug)]
enum CreateBlocksFrom {
    /// Import samples from an OpenMetrics file (timestamps required, `# EOF` at the end).
    Openmetrics {
        /// OpenMetrics file to read samples from.
        input: String,
        /// Output directory for generated blocks.
        #[arg(default_value = "data/")]
        output: String,
        /// Maximum duration of a block (2h × 3ⁿ, at least 2h).
        #[arg(long = "max-block-duration", default_value = "2h")]
        max_block_duration: String,
        /// Do not print created blocks.
        #[arg(short, long)]
        quiet: bool,
        /// Print human readable values.
        #[arg(short = 'r', long = "human-readable")]
        human_readable: bool,
        /// Parsing threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
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
enum TestCommand {
    /// Run rule unit-test files.
    Rules {
        /// The test files.
        #[arg(required = true)]
        files: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum QueryCommand {
    /// Run an instant query.
    Instant {
        /// The server's URL, e.g. http://127.0.0.1:9090.
        server: String,
        /// The PromQL expression.
        expr: String,
        /// Evaluation time (RFC 3339 or Unix seconds); now by default.
        #[arg(long)]
        time: Option<String>,
    },
    /// Run a range query.
    Range {
        /// The server's URL.
        server: String,
        /// The PromQL expression.
        expr: String,
        /// Start time (RFC 3339 or Unix seconds).
        #[arg(long)]
        start: String,
        /// End time.
        #[arg(long)]
        end: String,
        /// Resolution step (e.g. 15s or 15).
        #[arg(long, default_value = "60")]
        step: String,
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
    let features = ember_server::features::Features::parse(&cli.server.enable_feature);
    if cli.command.is_some() {
        // The server warns when it starts; the tools warn here.
        features.warn_unknown();
    }
    let promql = features.promql;
    let mut out = std::io::stdout().lock();
    let code = match cli.command {
        None => match run_server(cli.server) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("ember: {e}");
                1
            }
        },
        Some(Command::Check(CheckCommand::Config { files })) => cli::check::config(&files, promql, &mut out),
        Some(Command::Check(CheckCommand::Rules { files })) => cli::check::rules(&files, promql, &mut out),
        Some(Command::Test(TestCommand::Rules { files })) => cli::check::test_rules(&files, promql, &mut out),
        Some(Command::Query(QueryCommand::Instant { server, expr, time })) => {
            cli::query::run(&server, &expr, &cli::query::QueryKind::Instant { time }, &mut out)
        }
        Some(Command::Query(QueryCommand::Range { server, expr, start, end, step })) => {
            cli::query::run(&server, &expr, &cli::query::QueryKind::Range { start, end, step }, &mut out)
        }
        Some(Command::Config(ConfigCommand::Routes(RoutesCommand::Test(t)))) => {
            cli::routes::test(&t.config_file, t.verify_receivers.as_deref(), &t.labels, &mut out)
        }
        Some(Command::Tsdb(t)) => run_tsdb(t, &mut out),
    };
    drop(out);
    std::process::exit(code);
}

fn run_tsdb(t: TsdbCommand, out: &mut dyn std::io::Write) -> i32 {
    use cli::tsdb;
    let mut err = std::io::stderr();
    let dur = |name: &str, s: &str| {
        tsdb::parse_duration(s).ok_or_else(|| eprintln!("ember: invalid duration {s:?} for --{name}"))
    };
    match t {
        TsdbCommand::CreateBlocksFrom(CreateBlocksFrom::Openmetrics {
            input,
            output,
            max_block_duration,
            quiet,
            human_readable,
            threads,
        }) => {
            let Ok(max) = dur("max-block-duration", &max_block_duration) else { return 1 };
            let opts = tsdb::backfill::BackfillOptions { max_block_duration_ms: max, threads, progress: true };
            let (input, output) = (std::path::Path::new(&input), std::path::Path::new(&output));
            tsdb::create_blocks_from_openmetrics(input, output, &opts, quiet, human_readable, out, &mut err)
        }
        TsdbCommand::Analyze { dir, block_id, limit } => {
            tsdb::analyze::run(std::path::Path::new(&dir), block_id.as_deref(), limit, out, &mut err)
        }
        TsdbCommand::GenerateOpenmetrics { series, duration, interval, start, seed } => {
            let (Ok(duration_ms), Ok(interval_ms)) = (dur("duration", &duration), dur("interval", &interval)) else {
                return 1;
            };
            let opts =
                tsdb::generate::GenerateOptions { series, duration_ms, interval_ms, start_ms: start * 1000, seed };
            match tsdb::generate::generate(&opts, out) {
                Ok(_) => 0,
                Err(e) => {
                    eprintln!("ember: {e}");
                    1
                }
            }
        }
    }
}

fn duration_flag(name: &str, s: &str) -> Result<std::time::Duration, String> {
    ember_promql::series::parse_duration_ms(s)
        .filter(|ms| *ms >= 0)
        .map(|ms| std::time::Duration::from_millis(ms as u64))
        .ok_or_else(|| format!("invalid duration {s:?} for --{name}"))
}

fn run_server(f: ServerFlags) -> Result<(), String> {
    let opts = ember_server::server::ServerOptions {
        lookback_delta: duration_flag("query.lookback-delta", &f.lookback_delta)?,
        query_timeout: duration_flag("query.timeout", &f.query_timeout)?,
        alert_resend_delay: duration_flag("rules.alert.resend-delay", &f.alert_resend_delay)?,
        alert_for_outage_tolerance: duration_flag("rules.alert.for-outage-tolerance", &f.alert_for_outage_tolerance)?,
        alert_for_grace_period: duration_flag("rules.alert.for-grace-period", &f.alert_for_grace_period)?,
        config_file: f.config_file,
        tsdb_path: f.tsdb_path,
        retention_time: f.retention_time,
        retention_size: f.retention_size,
        listen_address: f.listen_address,
        enable_lifecycle: f.enable_lifecycle,
        enable_admin_api: f.enable_admin_api,
        max_samples: f.max_samples,
        max_concurrency: f.max_concurrency,
        enable_features: f.enable_feature,
    };
    ember_server::server::run(opts)
}
