//! The symbol table: every label name and value string stored once, named by a `u32`.

use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::RwLock;

const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;

#[derive(Default)]
struct Shard {
    ids: HashMap<Arc<str>, u32>,
    strings: Vec<Arc<str>>,
}

/// Interned strings, sharded so concurrent series creation rarely contends.
///
/// A symbol id is `index << 4 | shard`. Symbols live as long as the head: a string whose
/// last series was collected stays until the table is rebuilt (at compaction, later).
pub(crate) struct SymbolTable {
    shards: Box<[RwLock<Shard>]>,
}

impl SymbolTable {
    pub(crate) fn new() -> Self {
        SymbolTable { shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect() }
    }

    #[inline]
    fn shard_of(s: &str) -> usize {
        // Cheap and stable: the shard only spreads contention.
        let b = s.as_bytes();
        let x = b.len() ^ b.first().map_or(0, |&c| c as usize) ^ b.last().map_or(0, |&c| (c as usize) << 2);
        x & (SHARDS - 1)
    }

    /// The id of `s`, if interned.
    #[cfg(test)]
    pub(crate) fn lookup(&self, s: &str) -> Option<u32> {
        let shard = Self::shard_of(s);
        self.shards[shard].read().ids.get(s).copied()
    }

    /// Interns `s`, returning its id and the shared string.
    pub(crate) fn intern(&self, s: &str) -> (u32, Arc<str>) {
        let shard = Self::shard_of(s);
        {
            let g = self.shards[shard].read();
            if let Some((k, &id)) = g.ids.get_key_value(s) {
                return (id, Arc::clone(k));
            }
        }
        let mut g = self.shards[shard].write();
        if let Some((k, &id)) = g.ids.get_key_value(s) {
            return (id, Arc::clone(k));
        }
        let arc: Arc<str> = Arc::from(s);
        let id = ((g.strings.len() as u32) << SHARD_BITS) | shard as u32;
        g.strings.push(Arc::clone(&arc));
        g.ids.insert(Arc::clone(&arc), id);
        (id, arc)
    }

    /// The string of `id`, which must come from this table.
    pub(crate) fn resolve(&self, id: u32) -> Arc<str> {
        let shard = (id as usize) & (SHARDS - 1);
        let g = self.shards[shard].read();
        g.strings.get((id >> SHARD_BITS) as usize).cloned().unwrap_or_else(|| Arc::from(""))
    }

    /// Runs `f` on the string of `id` without cloning it.
    pub(crate) fn with<R>(&self, id: u32, f: impl FnOnce(&str) -> R) -> R {
        let shard = (id as usize) & (SHARDS - 1);
        let g = self.shards[shard].read();
        f(g.strings.get((id >> SHARD_BITS) as usize).map_or("", |s| s))
    }

    /// Number of symbols and their total byte length.
    pub(crate) fn size(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(n, b), s| {
            let g = s.read();
            (n + g.strings.len(), b + g.strings.iter().map(|s| s.len()).sum::<usize>())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once() {
        let t = SymbolTable::new();
        let (a, sa) = t.intern("job");
        let (b, sb) = t.intern("job");
        assert_eq!(a, b);
        assert!(Arc::ptr_eq(&sa, &sb));
        let (c, _) = t.intern("instance");
        assert_ne!(a, c);
        assert_eq!(&*t.resolve(c), "instance");
        assert_eq!(t.lookup("job"), Some(a));
        assert_eq!(t.lookup("nope"), None);
        assert_eq!(t.with(a, |s| s.len()), 3);
        assert_eq!(t.size(), (2, 11));
    }
}
