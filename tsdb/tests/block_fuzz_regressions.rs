//! Regressions found by the `tsdb_block` fuzz target: a block whose files are damaged (with
//! their checksums made to match) opens with an error or reads with one, never panics.

use std::path::Path;

use ember_exposition::{Matcher, labels};
use ember_tsdb::block::Block;
use ember_tsdb::db::Db;
use ember_tsdb::storage::{AppendOptions, Querier, Value};
use ember_tsdb::wal::SyncPolicy;

const HOUR: i64 = 3600 * 1000;

/// A block of the one series `{__name__="up", job="a"}`: symbols `__name__`, `a`, `job`,
/// `up`, so its index entry's labels are the symbol references `0 3 2 1`.
fn one_series_block(dir: &Path) -> Block {
    let db = Db::builder(dir).sync(SyncPolicy::Never).open().unwrap();
    let l = labels! {"__name__" => "up", "job" => "a"};
    let mut app = db.appender();
    let mut r = None;
    for t in (0..5 * HOUR).step_by(600_000) {
        r = Some(app.append(r, &l, t, Value::Float(1.0), AppendOptions::NONE).unwrap());
    }
    app.commit().unwrap();
    db.compact().unwrap();
    db.blocks()[0].clone()
}

/// Rewrites the CRC-32C of the section at `off` and of the table of contents.
fn fix_index_checksums(b: &mut [u8]) {
    let toc = b.len() - 44;
    for k in 0..5 {
        let off = u64::from_le_bytes(b[toc + 8 * k..toc + 8 * k + 8].try_into().unwrap()) as usize;
        let len = u64::from_le_bytes(b[off..off + 8].try_into().unwrap()) as usize;
        let crc = crc32c::crc32c(&b[off + 8..off + 8 + len]);
        b[off + 8 + len..off + 12 + len].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32c::crc32c(&b[toc..toc + 40]);
    b[toc + 40..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn series_with_unsorted_labels_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let block = one_series_block(dir.path());
    let index = block.dir().join("index");
    let mut b = std::fs::read(&index).unwrap();
    let at = b.windows(5).position(|w| w == [2, 0, 3, 2, 1]).expect("the series entry");
    // job="a" before __name__="up": labels out of order.
    b[at..at + 5].copy_from_slice(&[2, 2, 1, 0, 3]);
    fix_index_checksums(&mut b);
    std::fs::write(&index, &b).unwrap();

    let block = Block::open(block.dir()).unwrap();
    assert!(block.verify().is_err(), "verify reports the bad series");
    let q = block.querier(i64::MIN, i64::MAX);
    let mut errors = 0;
    for s in q.select(true, None, &[Matcher::equal("job", "a")]) {
        errors += usize::from(s.is_err());
    }
    assert_eq!(errors, 1, "the series read is an error");
}
