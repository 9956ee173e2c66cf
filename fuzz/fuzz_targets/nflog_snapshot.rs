//! Notification-log snapshots: decoding arbitrary bytes never panics and either fails with
//! an offset inside the input or yields a log that re-encodes to a snapshot decoding to the
//! same log. Bit 0 of the first byte reseals the rest with a valid checksum (and magic and
//! version), so the fuzzer reaches the entry decoder instead of stopping at the CRC.
#![no_main]

use ember_alerting::dispatch::{NFLOG_FORMAT_VERSION, NFLOG_MAGIC, NotificationLog};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_700_000_000_000;

fn entries(log: &NotificationLog) -> Vec<(u64, String, String)> {
    let mut v: Vec<_> = log.iter().map(|(g, n, e)| (g, n.to_owned(), format!("{e:?}"))).collect();
    v.sort();
    v
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let bytes = if sel & 1 == 1 {
        let mut b = [&NFLOG_MAGIC[..], &[NFLOG_FORMAT_VERSION]].concat();
        b.extend_from_slice(rest);
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    } else {
        rest.to_vec()
    };
    match NotificationLog::decode(&bytes, 3_600_000, NOW) {
        Err(e) => {
            assert!(e.is_corrupt(), "{e}");
            let offset = e.offset.expect("decode errors carry an offset");
            assert!(offset <= bytes.len(), "{e} beyond {} bytes", bytes.len());
            assert!(e.field.is_some(), "{e}");
            let _ = e.to_string();
        }
        Ok((log, _expired)) => {
            let again = log.encode(NOW);
            let (back, expired) = NotificationLog::decode(&again, 3_600_000, NOW).expect("re-encoded snapshot decodes");
            assert_eq!(expired, 0);
            assert_eq!(entries(&log), entries(&back));
            assert_eq!(back.encode(NOW), again, "encoding is deterministic");
        }
    }
});
