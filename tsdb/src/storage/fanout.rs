//! [`Fanout`]: write to a primary storage and secondaries, read from all of them.

use std::sync::Arc;

use hashbrown::HashMap;

use ember_exposition::{Labels, Timestamp};

use super::{
    AppendError, AppendOptions, Appendable, Appender, MergeQuerier, Querier, Queryable, SeriesRef, Storage,
    StorageError, Value,
};

/// One primary storage plus secondaries (remote write, a shadow copy, …).
///
/// Appends go to every storage; the primary's answer (its reference or its error) is what
/// the caller sees, and a secondary's rejection does not fail the append. Reads merge all
/// storages through a [`MergeQuerier`]; a secondary's failure becomes a warning.
#[derive(Clone)]
pub struct Fanout {
    primary: Arc<dyn Storage>,
    secondaries: Vec<Arc<dyn Storage>>,
}

impl Fanout {
    /// A fanout over `primary` and `secondaries`.
    pub fn new(primary: Arc<dyn Storage>, secondaries: Vec<Arc<dyn Storage>>) -> Self {
        Fanout { primary, secondaries }
    }
}

impl Queryable for Fanout {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        let primary = self.primary.querier(mint, maxt)?;
        let mut secondaries = Vec::with_capacity(self.secondaries.len());
        for s in &self.secondaries {
            // A secondary that cannot even open is left out; its absence is not an error.
            if let Ok(q) = s.querier(mint, maxt) {
                secondaries.push(q);
            }
        }
        if secondaries.is_empty() {
            return Ok(primary);
        }
        Ok(Box::new(MergeQuerier::new(vec![primary], secondaries)))
    }
}

impl Appendable for Fanout {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(FanoutAppender {
            primary: self.primary.appender(),
            secondaries: self.secondaries.iter().map(|s| (s.appender(), HashMap::new())).collect(),
        })
    }
}

struct FanoutAppender {
    primary: Box<dyn Appender>,
    /// Each secondary with the reference it returned for the primary's references.
    secondaries: Vec<(Box<dyn Appender>, HashMap<SeriesRef, SeriesRef>)>,
}

impl Appender for FanoutAppender {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: Value,
        opts: &AppendOptions,
    ) -> Result<SeriesRef, AppendError> {
        let r = self.primary.append(series, labels, t, v, opts)?;
        for (app, refs) in &mut self.secondaries {
            // References are per storage: remember the secondary's own one per batch.
            let cached = refs.get(&r).copied();
            if let Ok(sr) = app.append(cached, labels, t, v, opts) {
                refs.insert(r, sr);
            }
        }
        Ok(r)
    }

    fn append_ref(
        &mut self,
        series: SeriesRef,
        t: Timestamp,
        v: Value,
        opts: &AppendOptions,
    ) -> Result<Option<SeriesRef>, AppendError> {
        // Secondaries need the labels (their references are per batch).
        if !self.secondaries.is_empty() {
            return Ok(None);
        }
        self.primary.append_ref(series, t, v, opts)
    }

    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        let res = self.primary.commit();
        for (app, _) in self.secondaries {
            let _ = app.commit();
        }
        res
    }

    fn rollback(self: Box<Self>) -> Result<(), AppendError> {
        let res = self.primary.rollback();
        for (app, _) in self.secondaries {
            let _ = app.rollback();
        }
        res
    }
}
