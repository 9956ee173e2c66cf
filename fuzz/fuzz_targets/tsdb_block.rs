//! Block reading: a small valid block is written once; each input damages one of its files
//! (byte 0 picks the file and whether the rest replaces it or patches it), then the block is
//! opened, verified and queried in full. Malformed files must be errors, never panics or
//! out-of-bounds reads.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ember_exposition::{Matcher, labels};
use ember_tsdb::block::Block;
use ember_tsdb::db::Db;
use ember_tsdb::storage::{AppendOptions, Querier, Value};
use ember_tsdb::wal::SyncPolicy;
use libfuzzer_sys::fuzz_target;

const FILES: [&str; 4] = ["index", "chunks/000001", "tombstones", "meta.json"];

struct Fixture {
    _tmp: tempfile::TempDir,
    files: Vec<(PathBuf, Vec<u8>)>,
    work: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let db_dir = tmp.path().join("db");
        let db = Db::builder(&db_dir).sync(SyncPolicy::Never).open().unwrap();
        const HOUR: i64 = 3_600_000;
        for i in 0..6i64 {
            let l = labels! {"__name__" => if i % 2 == 0 { "up" } else { "req" }, "job" => ["a", "b", "c"][i as usize % 3], "i" => i.to_string().as_str()};
            let mut app = db.appender();
            let mut r = None;
            let mut t = i * 1000;
            while t < 5 * HOUR {
                r = Some(app.append(r, &l, t, Value::Float((t / 60_000 + i) as f64), AppendOptions::NONE).unwrap());
                t += 300_000;
            }
            app.commit().unwrap();
        }
        db.compact().unwrap();
        let block = db.blocks().first().cloned().expect("compaction wrote a block");
        block.add_tombstones(&[Matcher::equal("job", "b")], HOUR, 2 * HOUR).unwrap();
        let src = block.dir().to_path_buf();
        drop(db);
        let files = FILES.iter().map(|f| (PathBuf::from(f), std::fs::read(src.join(f)).unwrap())).collect();
        let work = tmp.path().join("work");
        Fixture { _tmp: tmp, files, work }
    })
}

fn query_all(block: &Block) {
    let _ = block.verify();
    let q = block.querier(i64::MIN, i64::MAX);
    let _ = q.label_names(&[]);
    let _ = q.label_values("job", &[]);
    for m in
        [Matcher::regex("__name__", ".+").unwrap(), Matcher::equal("job", "a"), Matcher::regex("i", "1|3|x").unwrap()]
    {
        for s in q.select(true, None, std::slice::from_ref(&m)) {
            let Ok(s) = s else { continue };
            let mut it = s.iter();
            while it.next().is_some() {}
            let _ = it.error();
            let mut it = s.iter();
            let _ = it.seek(3_600_000);
            while it.next().is_some() {}
        }
    }
}

fn write_block(dir: &Path, f: &Fixture, which: usize, bytes: &[u8]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("chunks")).unwrap();
    for (i, (name, orig)) in f.files.iter().enumerate() {
        std::fs::write(dir.join(name), if i == which { bytes } else { orig }).unwrap();
    }
}

fn fix_section(b: &mut [u8], off: usize) {
    let Some(len) = off.checked_add(8).and_then(|e| b.get(off..e)).map(|l| u64::from_le_bytes(l.try_into().unwrap()))
    else {
        return;
    };
    let Some(end) = usize::try_from(len).ok().and_then(|l| (off + 8).checked_add(l)) else { return };
    if end.checked_add(4).is_some_and(|e| e <= b.len()) {
        let crc = crc32c::crc32c(&b[off + 8..end]);
        b[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate().take(10) {
        v |= u64::from(x & 0x7f) << (7 * i);
        if x & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn fix_checksums(which: usize, b: &mut [u8]) {
    match which {
        0 if b.len() >= 52 => {
            let toc = b.len() - 44;
            for k in 0..5 {
                let off = u64::from_le_bytes(b[toc + 8 * k..toc + 8 * k + 8].try_into().unwrap());
                if let Ok(off) = usize::try_from(off) {
                    fix_section(b, off);
                }
            }
            let crc = crc32c::crc32c(&b[toc..toc + 40]);
            b[toc + 40..].copy_from_slice(&crc.to_le_bytes());
        }
        1 => {
            let mut pos = 8;
            while let Some((len, n)) = b.get(pos..).and_then(uvarint) {
                let Some(end) =
                    usize::try_from(len).ok().and_then(|l| l.checked_add(1).and_then(|l| (pos + n).checked_add(l)))
                else {
                    return;
                };
                if end.checked_add(4).is_none_or(|e| e > b.len()) {
                    return;
                }
                let crc = crc32c::crc32c(&b[pos + n..end]);
                b[end..end + 4].copy_from_slice(&crc.to_le_bytes());
                pos = end + 4;
            }
        }
        2 => fix_section(b, 8),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let f = fixture();
    let which = usize::from(sel & 3);
    let bytes = if sel & 4 == 0 {
        rest.to_vec()
    } else {
        // Patches: (u16 offset, byte) triples over the original; bit 3 also truncates at the last offset.
        let mut b = f.files[which].1.clone();
        let mut last = b.len();
        for p in rest.chunks_exact(3) {
            let off = usize::from(u16::from_le_bytes([p[0], p[1]]));
            if !b.is_empty() {
                let off = off % b.len();
                b[off] = p[2];
                last = off;
            }
        }
        if sel & 8 != 0 {
            b.truncate(last);
        }
        b
    };
    // Bit 4: recompute the checksums the damage broke, so the decoders behind them are reached.
    let mut bytes = bytes;
    if sel & 16 != 0 {
        fix_checksums(which, &mut bytes);
    }
    write_block(&f.work, f, which, &bytes);
    if let Ok(block) = Block::open(&f.work) {
        query_all(&block);
    }
});
