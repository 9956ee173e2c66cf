//! `ember tsdb …`: promtool's TSDB tools — backfill from OpenMetrics
//! ([`backfill`]), block analysis ([`analyze`]), and a data-set generator for both
//! ([`generate`]).

pub mod analyze;
pub mod backfill;
pub mod generate;

use std::io::Write;
use std::path::Path;

use ember_tsdb::block::BlockMeta;

/// Parses a duration flag such as `2h`, `90m` or `15s` into milliseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    ember_promql::series::parse_duration_ms(s).filter(|ms| *ms > 0)
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut v, mut u) = (n as f64, 0);
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n}B") } else { format!("{v:.1}{}", UNITS[u]) }
}

/// Prints the blocks written, one row each, like promtool's table.
pub fn print_blocks(dir: &Path, metas: &[BlockMeta], human: bool, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<28}{:<15}{:<15}{:<13}{:<13}{:<12}{:<12}SIZE",
        "BLOCK ULID", "MIN TIME", "MAX TIME", "DURATION", "NUM SAMPLES", "NUM CHUNKS", "NUM SERIES"
    )?;
    for m in metas {
        let size = ember_tsdb::block::Block::open(&dir.join(&m.ulid)).map_or(0, |b| b.size());
        let (min, max, size) = if human {
            let t = |ms: i64| jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string());
            (t(m.min_time), t(m.max_time), human_bytes(size))
        } else {
            (m.min_time.to_string(), m.max_time.to_string(), size.to_string())
        };
        writeln!(
            out,
            "{:<28}{:<15}{:<15}{:<13}{:<13}{:<12}{:<12}{}",
            m.ulid,
            min,
            max,
            analyze::go_duration(m.max_time - m.min_time),
            m.stats.num_samples,
            m.stats.num_chunks,
            m.stats.num_series,
            size
        )?;
    }
    Ok(())
}

/// `ember tsdb create-blocks-from openmetrics FILE DIR`; returns the exit code.
pub fn create_blocks_from_openmetrics(
    input: &Path,
    dir: &Path,
    opts: &backfill::BackfillOptions,
    quiet: bool,
    human: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    match backfill::create_blocks_from_openmetrics(input, dir, opts) {
        Ok(metas) => {
            if !quiet {
                let _ = print_blocks(dir, &metas, human, out);
            }
            0
        }
        Err(e) => {
            let _ = writeln!(err, "ember: {e}");
            1
        }
    }
}
