//! Function calls: dispatch to the kernels in [`crate::engine::functions`] and the
//! functions that need the evaluator (selectors, labels, ordering, time).

use ember_exposition::{Labels, METRIC_NAME_LABEL};
use hashbrown::HashMap;

use super::{Elem, Evaluator, KEY_GROUP, NO_KEY, Range, RangeData, Result, SeriesBuf, Val, err, info_reference};
use crate::engine::annotations::AnnotationKind;
use crate::engine::functions::labels::{
    LabelFnError, LabelFnErrorKind, LabelJoin, LabelReplace, absent_labels, natural_cmp,
};
use crate::engine::functions::{
    Bucket, ElementwiseFunction, FPoint, RangeFunction, RangeWindow, anchored_start, bucket_fraction, bucket_quantile,
    eval_elementwise, eval_range_at, extended_rate, sort_order, validate_smoothing_params,
};
use crate::engine::{EngineError, EngineErrorKind};
use crate::parser::{ANCHORED_FUNCTIONS, AtModifier, Call, DurationArg, Expr, SMOOTHED_FUNCTIONS, ValueType};

/// Per info series: its metric name, identifying label values and data labels.
type InfoMeta = (String, Vec<String>, Vec<(String, String)>);

/// A label rewrite applied to each series.
type LabelMap = Box<dyn Fn(&Labels) -> Labels>;

/// Strips parentheses.
fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        e => e,
    }
}

/// Rejects a range selector argument with the `anchored` or `smoothed` modifier when the
/// function does not take it. Prometheus checks this when it evaluates the call, so the query
/// parses and the error is an evaluation error without a position.
fn check_range_modifiers(c: &Call) -> Result<()> {
    let Some(Expr::MatrixSelector(m)) = c.args.iter().find(|a| a.value_type() == ValueType::Matrix) else {
        return Ok(());
    };
    let (modifier, allowed) = match (m.selector.anchored, m.selector.smoothed) {
        (true, _) => ("anchored", ANCHORED_FUNCTIONS),
        (_, true) => ("smoothed", SMOOTHED_FUNCTIONS),
        _ => return Ok(()),
    };
    if allowed.contains(&c.func.name) {
        return Ok(());
    }
    err(EngineErrorKind::ModifierNotAllowed { modifier, function: c.func.name })
}

impl Evaluator<'_> {
    pub(crate) fn eval_call(&mut self, c: &Call, r: Range) -> Result<Val> {
        let name = c.func.name;
        // Prometheus evaluates nothing over an empty range (a subquery with no step inside
        // its window), so it never gets to reject the modifier there.
        if r.end >= r.start {
            check_range_modifiers(c)?;
        }
        if let Some(f) = RangeFunction::from_name(name) {
            return self.eval_range_function(c, f, r);
        }
        if let Some(f) = ElementwiseFunction::from_name(name) {
            return self.eval_elementwise(c, f, r);
        }
        match name {
            "time" => Ok(Val::Scalar((0..r.steps()).map(|k| r.ts(k) as f64 / 1000.0).collect())),
            "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; r.steps()])),
            "start" => Ok(Val::Scalar(vec![self.query_start as f64 / 1000.0; r.steps()])),
            "end" => Ok(Val::Scalar(vec![self.query_end as f64 / 1000.0; r.steps()])),
            "range" => Ok(Val::Scalar(vec![(self.query_end - self.query_start) as f64 / 1000.0; r.steps()])),
            "step" => Ok(Val::Scalar(vec![self.query_step as f64 / 1000.0; r.steps()])),
            "min_of" | "max_of" => {
                let a = self.eval_scalar(&c.args[0], r)?;
                let b = self.eval_scalar(&c.args[1], r)?;
                let min = name == "min_of";
                // NaN wins, as with Go's math.Min/Max.
                let pick = |x: f64, y: f64| {
                    if x.is_nan() || y.is_nan() {
                        f64::NAN
                    } else if min {
                        x.min(y)
                    } else {
                        x.max(y)
                    }
                };
                Ok(Val::Scalar(a.iter().zip(&b).map(|(&x, &y)| pick(x, y)).collect()))
            }
            "vector" => {
                let v = self.eval_scalar(&c.args[0], r)?;
                let points: Vec<FPoint> = v.iter().enumerate().map(|(k, &f)| FPoint { t: r.ts(k), f }).collect();
                self.alloc(points.len())?;
                Ok(Val::Vector(vec![SeriesBuf { labels: Labels::empty(), points, drop_name: false }]))
            }
            "scalar" => {
                let v = self.eval(&c.args[0], r)?;
                let steps = r.steps();
                let mut out = vec![f64::NAN; steps];
                let mut counts = vec![0u32; steps];
                if let Val::Vector(series) = &v {
                    for s in series {
                        for p in &s.points {
                            let k = r.index(p.t);
                            counts[k] += 1;
                            out[k] = p.f;
                        }
                    }
                }
                for (o, n) in out.iter_mut().zip(&counts) {
                    if *n != 1 {
                        *o = f64::NAN;
                    }
                }
                self.free(&v);
                Ok(Val::Scalar(out))
            }
            "timestamp" => {
                let mut series = match unparen(&c.args[0]) {
                    Expr::VectorSelector(vs) => self.eval_vector_selector(vs, r, true)?,
                    e => match self.eval(e, r)? {
                        Val::Vector(mut s) => {
                            for s in &mut s {
                                s.points.iter_mut().for_each(|p| p.f = p.t as f64 / 1000.0);
                            }
                            s
                        }
                        _ => Vec::new(),
                    },
                };
                series.iter_mut().for_each(|s| s.drop_name = true);
                Ok(Val::Vector(series))
            }
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => self.eval_sort(c, r),
            "absent" => self.eval_absent(c, r),
            "absent_over_time" => self.eval_absent_over_time(c, r),
            "histogram_quantile" => self.eval_histogram_quantile(c, r, false),
            "histogram_quantiles" => self.eval_histogram_quantile(c, r, true),
            "histogram_fraction" => self.eval_histogram_quantile(c, r, false),
            "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => {
                // These read native histograms only; float samples are ignored.
                for a in &c.args {
                    let v = self.eval(a, r)?;
                    self.free(&v);
                }
                Ok(Val::Vector(Vec::new()))
            }
            "label_replace" | "label_join" => self.eval_label_fn(c, r),
            "info" => self.eval_info(c, r),
            "start_timestamp" => err(EngineErrorKind::Unsupported("start_timestamp()")),
            _ => err(EngineErrorKind::Unsupported("unknown function")),
        }
    }

    fn eval_range_function(&mut self, c: &Call, f: RangeFunction, r: Range) -> Result<Val> {
        let mut params: Vec<Vec<f64>> = Vec::new();
        let mut matrix_arg = None;
        for a in &c.args {
            if a.value_type() == ValueType::Matrix {
                matrix_arg = Some(a);
            } else {
                params.push(self.eval_scalar(a, r)?);
            }
        }
        let Some(marg) = matrix_arg else { return Ok(Val::Vector(Vec::new())) };
        if f == RangeFunction::QuantileOverTime {
            if let Some(q) = params.first() {
                for &q in q {
                    if !(0.0..=1.0).contains(&q) {
                        self.annotate(AnnotationKind::InvalidQuantile(q), c.args[0].pos());
                    }
                }
            }
        }
        let data = self.eval_range_arg(marg, r)?;
        let keeps_name = matches!(f, RangeFunction::LastOverTime | RangeFunction::FirstOverTime);
        let counter = f.is_counter_function();
        let mut issues = Vec::new();
        let mut step_params = vec![0.0; params.len()];
        let mut out = Vec::with_capacity(data.series.len());
        for s in &data.series {
            self.check()?;
            let pts = &s.points;
            let (mut lo, mut hi) = (0usize, 0usize);
            let mut res = Vec::new();
            for k in 0..r.steps() {
                let ts = r.ts(k);
                let end = data.window_end(ts);
                let start = end - data.range;
                if hi < lo {
                    hi = lo;
                }
                while hi < pts.len() && pts[hi].t <= end {
                    hi += 1;
                }
                while lo < hi && pts[lo].t <= start {
                    lo += 1;
                }
                let extended = data.anchored || data.smoothed;
                if lo == hi && !extended {
                    continue;
                }
                for (sp, p) in step_params.iter_mut().zip(&params) {
                    *sp = p[k];
                }
                if extended {
                    // The sample at or before the window start (within the lookback), and
                    // for `smoothed` the first one after its end.
                    let a = if lo > 0 && pts[lo - 1].t > start - self.lookback { lo - 1 } else { lo };
                    let b =
                        if data.smoothed && hi < pts.len() && pts[hi].t <= end + self.lookback { hi + 1 } else { hi };
                    let ext = &pts[a..b];
                    let v = match f {
                        RangeFunction::Rate | RangeFunction::Increase | RangeFunction::Delta => extended_rate(
                            ext,
                            start,
                            end,
                            f != RangeFunction::Delta,
                            f == RangeFunction::Rate,
                            data.smoothed,
                        ),
                        _ => anchored_start(ext, start).and_then(|i| {
                            let w = RangeWindow { points: &ext[i..], start, end };
                            eval_range_at(f, &w, ts, &step_params, &mut issues)
                        }),
                    };
                    if let Some(v) = v {
                        res.push(FPoint { t: ts, f: v });
                    }
                    continue;
                }
                if f == RangeFunction::DoubleExponentialSmoothing {
                    validate_smoothing_params(step_params[0], step_params[1])
                        .map_err(|e| EngineError::new(EngineErrorKind::Function(e)))?;
                }
                let w = RangeWindow { points: &pts[lo..hi], start, end };
                if let Some(v) = eval_range_at(f, &w, ts, &step_params, &mut issues) {
                    res.push(FPoint { t: ts, f: v });
                }
            }
            for kind in issues.drain(..) {
                let pos = match kind {
                    AnnotationKind::InvalidQuantile(_) => c.args[0].pos(),
                    _ => marg.pos(),
                };
                self.annotate(kind, pos);
            }
            if counter && !res.is_empty() {
                let name = s.labels.metric_name().unwrap_or("");
                if !["_total", "_sum", "_count", "_bucket"].iter().any(|suf| name.ends_with(suf)) {
                    self.annotate(AnnotationKind::PossibleNonCounter { metric_name: name.to_owned() }, marg.pos());
                }
            }
            if !res.is_empty() {
                self.alloc(res.len())?;
                out.push(SeriesBuf { labels: s.labels.clone(), points: res, drop_name: !keeps_name || s.drop_name });
            }
        }
        self.free_series(&data.series);
        Ok(Val::Vector(out))
    }

    fn eval_elementwise(&mut self, c: &Call, f: ElementwiseFunction, r: Range) -> Result<Val> {
        let mut params = Vec::new();
        for a in c.args.iter().skip(1) {
            params.push(self.eval_scalar(a, r)?);
        }
        let mut series = match c.args.first() {
            Some(a) => match self.eval(a, r)? {
                Val::Vector(s) => s,
                _ => Vec::new(),
            },
            None => {
                // `hour()` and friends default to `vector(time())`.
                let points: Vec<FPoint> =
                    (0..r.steps()).map(|k| FPoint { t: r.ts(k), f: r.ts(k) as f64 / 1000.0 }).collect();
                vec![SeriesBuf { labels: Labels::empty(), points, drop_name: false }]
            }
        };
        let mut sp = vec![0.0; params.len()];
        for s in &mut series {
            s.points.retain_mut(|p| {
                let k = r.index(p.t);
                for (x, pv) in sp.iter_mut().zip(&params) {
                    *x = pv[k];
                }
                match eval_elementwise(f, p.f, &sp) {
                    Some(v) => {
                        p.f = v;
                        true
                    }
                    None => false,
                }
            });
            s.drop_name = true;
        }
        series.retain(|s| !s.points.is_empty());
        Ok(Val::Vector(series))
    }

    fn eval_sort(&mut self, c: &Call, r: Range) -> Result<Val> {
        let v = self.eval(&c.args[0], r)?;
        let Val::Vector(mut series) = v else { return Ok(v) };
        let mut label_names = Vec::new();
        for a in c.args.iter().skip(1) {
            if let Expr::StringLiteral(s) = unparen(a) {
                label_names.push(s.value.clone());
            }
        }
        if self.is_range_query {
            self.annotate(AnnotationKind::SortInRangeQuery, c.pos);
            return Ok(Val::Vector(series));
        }
        let val = |s: &SeriesBuf| s.points.first().map_or(f64::NAN, |p| p.f);
        match c.func.name {
            "sort" | "sort_desc" => {
                let desc = c.func.name == "sort_desc";
                series.sort_by(|a, b| sort_order(val(a), val(b), desc));
            }
            _ => {
                let desc = c.func.name == "sort_by_label_desc";
                series.sort_by(|a, b| {
                    for n in &label_names {
                        let o = natural_cmp(a.labels.get_or_empty(n), b.labels.get_or_empty(n));
                        if o != std::cmp::Ordering::Equal {
                            return if desc { o.reverse() } else { o };
                        }
                    }
                    let o = a.labels.cmp(&b.labels);
                    if desc { o.reverse() } else { o }
                });
            }
        }
        Ok(Val::Vector(series))
    }

    fn eval_absent(&mut self, c: &Call, r: Range) -> Result<Val> {
        let v = self.eval(&c.args[0], r)?;
        let steps = r.steps();
        let mut present = vec![false; steps];
        if let Val::Vector(series) = &v {
            for s in series {
                for p in &s.points {
                    present[r.index(p.t)] = true;
                }
            }
        }
        self.free(&v);
        let labels = match unparen(&c.args[0]) {
            Expr::VectorSelector(vs) => absent_labels(&vs.matchers),
            _ => Labels::empty(),
        };
        Ok(Val::Vector(absent_series(labels, r, &present)))
    }

    fn eval_absent_over_time(&mut self, c: &Call, r: Range) -> Result<Val> {
        let data = self.eval_range_arg(&c.args[0], r)?;
        let present = self.presence(&data, r);
        self.free_series(&data.series);
        let labels = match unparen(&c.args[0]) {
            Expr::MatrixSelector(ms) => absent_labels(&ms.selector.matchers),
            _ => Labels::empty(),
        };
        Ok(Val::Vector(absent_series(labels, r, &present)))
    }

    /// For each step, whether any series has a sample in its window.
    fn presence(&self, data: &RangeData, r: Range) -> Vec<bool> {
        let mut present = vec![false; r.steps()];
        for s in &data.series {
            for (k, pr) in present.iter_mut().enumerate() {
                if *pr {
                    continue;
                }
                let end = data.window_end(r.ts(k));
                let start = end - data.range;
                let i = s.points.partition_point(|p| p.t <= start);
                if s.points.get(i).is_some_and(|p| p.t <= end) {
                    *pr = true;
                }
            }
        }
        present
    }

    /// `histogram_quantile(q, buckets)`, and with `multi` the experimental
    /// `histogram_quantiles(buckets, "label", q1, q2, …)`, on classic buckets grouped by their
    /// labels without `le`.
    fn eval_histogram_quantile(&mut self, c: &Call, r: Range, multi: bool) -> Result<Val> {
        let fraction = c.func.name == "histogram_fraction";
        let (vec_arg, q_args, label): (&Expr, &[Expr], Option<String>) = if fraction {
            (&c.args[2], &c.args[..2], None)
        } else if multi {
            let label = match unparen(&c.args[1]) {
                Expr::StringLiteral(s) => s.value.clone(),
                _ => String::new(),
            };
            (&c.args[0], &c.args[2..], Some(label))
        } else {
            (&c.args[1], &c.args[..1], None)
        };
        let mut qs = Vec::with_capacity(q_args.len());
        for a in q_args {
            qs.push((self.eval_scalar(a, r)?, a.pos()));
        }
        let v = self.eval(vec_arg, r)?;
        let vpos = vec_arg.pos();
        // Per input series: its group (labels without `le`) and bucket bound, cached.
        let mut by_src: Vec<Option<(usize, f64)>> = Vec::new();
        let mut seen: Vec<bool> = Vec::new();
        let mut groups: Vec<(Labels, String)> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut buckets: Vec<Vec<Bucket>> = Vec::new();
        let mut touched: Vec<usize> = Vec::new();
        // Output labels per group and quantile, when a label names the quantile.
        let mut out_labels: HashMap<(usize, u64), Labels> = HashMap::new();
        let out = self.step_loop(r, &[&v], |ev, k, args, out| {
            for (q, pos) in &qs {
                if !fraction && !(0.0..=1.0).contains(&q[k]) {
                    ev.annotate(AnnotationKind::InvalidQuantile(q[k]), *pos);
                }
            }
            touched.clear();
            for e in args[0].vector() {
                let i = e.src as usize;
                if i >= seen.len() {
                    seen.resize(i + 1, false);
                    by_src.resize(i + 1, None);
                }
                if !seen[i] {
                    seen[i] = true;
                    by_src[i] = bucket_of(e, &mut groups, &mut index, &mut buckets);
                }
                let Some((g, le)) = by_src[i] else {
                    let le = e.labels.get_or_empty("le").to_owned();
                    let metric_name = e.labels.metric_name().unwrap_or("").to_owned();
                    ev.annotate(AnnotationKind::BadBucketLabel { le, metric_name }, vpos);
                    continue;
                };
                if buckets[g].is_empty() {
                    touched.push(g);
                }
                buckets[g].push(Bucket { upper_bound: le, count: e.f });
            }
            for &g in &touched {
                let mut forced = false;
                if fraction {
                    let f = bucket_fraction(qs[0].0[k], qs[1].0[k], &mut buckets[g]);
                    buckets[g].clear();
                    out.push(Elem {
                        labels: groups[g].0.clone(),
                        f,
                        drop_name: true,
                        src: 0,
                        key: KEY_GROUP | g as u64,
                    });
                    continue;
                }
                for (qi, (q, _)) in qs.iter().enumerate() {
                    let q = q[k];
                    let res = bucket_quantile(q, &mut buckets[g]);
                    forced |= res.forced_monotonicity;
                    let labels = match &label {
                        None => groups[g].0.clone(),
                        Some(name) => out_labels
                            .entry((g, q.to_bits()))
                            .or_insert_with(|| {
                                let mut b = groups[g].0.builder();
                                b.set(name.clone(), quantile_label(q));
                                b.build()
                            })
                            .clone(),
                    };
                    let key = if qi < 255 { KEY_GROUP | ((g as u64) << 8) | qi as u64 } else { NO_KEY };
                    out.push(Elem { labels, f: res.value, drop_name: true, src: 0, key });
                }
                buckets[g].clear();
                if forced {
                    ev.annotate(
                        AnnotationKind::HistogramQuantileForcedMonotonicity { metric_name: groups[g].1.clone() },
                        vpos,
                    );
                }
            }
            Ok(())
        })?;
        self.free(&v);
        Ok(Val::Vector(out))
    }

    /// The experimental `info(v, {selector})`: adds the data labels of info series (by
    /// default `target_info`) that share `instance` and `job` with each sample. The info
    /// series are read at the times the samples of `v` come from (see [`info_reference`]);
    /// when several series of one info metric match, the one with the latest sample wins.
    fn eval_info(&mut self, c: &Call, r: Range) -> Result<Val> {
        const IDENTIFYING: [&str; 2] = ["instance", "job"];
        let mut sel = match c.args.get(1).map(unparen) {
            Some(Expr::VectorSelector(vs)) => (**vs).clone(),
            _ => crate::parser::VectorSelector {
                name: None,
                matchers: Vec::new(),
                offset: None,
                at: None,
                anchored: false,
                smoothed: false,
                pos: c.pos,
            },
        };
        let name_matchers: Vec<ember_exposition::Matcher> =
            sel.matchers.iter().filter(|m| m.name() == METRIC_NAME_LABEL).cloned().collect();
        let data_matchers: Vec<ember_exposition::Matcher> =
            sel.matchers.iter().filter(|m| m.name() != METRIC_NAME_LABEL).cloned().collect();
        // No name matcher: `target_info`; only negative ones: any `*_info` they allow.
        let mut name_matchers = name_matchers;
        if name_matchers.iter().all(|m| m.kind().is_negative()) {
            let m = if name_matchers.is_empty() {
                ember_exposition::Matcher::equal(METRIC_NAME_LABEL, "target_info")
            } else {
                ember_exposition::Matcher::regex(METRIC_NAME_LABEL, ".+_info")
                    .map_err(|_| EngineError::new(EngineErrorKind::Unsupported("info() name matcher")))?
            };
            sel.matchers.push(m.clone());
            name_matchers.push(m);
        }
        // Read the info series at the times the samples of the first argument come from.
        let (at, offset) = info_reference(self, &c.args[0])?;
        sel.at = at.map(AtModifier::Timestamp);
        sel.offset = Some(DurationArg::Fixed(offset));
        let base = self.eval(&c.args[0], r)?;
        // Sample times (seconds) of the info series, by step.
        let info = self.eval_vector_selector(&sel, r, true)?;
        let drop_unmatched = data_matchers.iter().any(|m| !m.matches(""));
        // Per info series: its metric name, identifying values and data labels.
        let info_meta: Vec<InfoMeta> = info
            .iter()
            .map(|s| {
                let ids = IDENTIFYING.iter().map(|n| s.labels.get_or_empty(n).to_owned()).collect();
                let data = s
                    .labels
                    .iter()
                    .filter(|l| l.name != METRIC_NAME_LABEL && !IDENTIFYING.contains(&l.name.as_str()))
                    .filter(|l| data_matchers.is_empty() || data_matchers.iter().any(|m| m.name() == l.name))
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect();
                (s.labels.metric_name().unwrap_or("").to_owned(), ids, data)
            })
            .collect();
        let info_val = Val::Vector(info);
        let out = self.step_loop(r, &[&base, &info_val], |_, _, args, out| {
            let infos = args[1].vector();
            for e in args[0].vector() {
                // Info series themselves (matching the positive name matchers, and the
                // negative ones) pass through.
                let name = e.labels.metric_name().unwrap_or("");
                if name_matchers.iter().any(|m| !m.kind().is_negative())
                    && name_matchers.iter().all(|m| m.matches(name))
                {
                    out.push(Elem { key: super::NO_KEY, ..e.clone() });
                    continue;
                }
                // The latest matching series of each info metric.
                let mut best: Vec<(&str, f64, usize)> = Vec::new();
                for ie in infos {
                    let (name, ids, _) = &info_meta[ie.src as usize];
                    if !IDENTIFYING.iter().zip(ids).all(|(n, v)| e.labels.get_or_empty(n) == v) {
                        continue;
                    }
                    match best.iter_mut().find(|b| b.0 == name) {
                        Some(b) if b.1 < ie.f => *b = (name, ie.f, ie.src as usize),
                        Some(_) => {}
                        None => best.push((name, ie.f, ie.src as usize)),
                    }
                }
                if best.is_empty() {
                    if !drop_unmatched {
                        out.push(Elem { key: super::NO_KEY, ..e.clone() });
                    }
                    continue;
                }
                let mut lb = e.labels.builder();
                for (_, _, i) in &best {
                    for (n, v) in &info_meta[*i].2 {
                        if e.labels.contains(n) {
                            continue;
                        }
                        match lb.get(n) {
                            Some(prev) if prev != v => {
                                return err(EngineErrorKind::ConflictingInfoLabel(n.clone()));
                            }
                            _ => {
                                lb.set(n.clone(), v.clone());
                            }
                        }
                    }
                }
                out.push(Elem { labels: lb.build(), f: e.f, drop_name: e.drop_name, src: 0, key: super::NO_KEY });
            }
            Ok(())
        })?;
        self.free(&base);
        self.free(&info_val);
        Ok(Val::Vector(out))
    }

    /// `label_replace` and `label_join`: the arguments are checked before anything is
    /// selected, the labels rewritten once per series (not per step).
    fn eval_label_fn(&mut self, c: &Call, r: Range) -> Result<Val> {
        let strs: Vec<&str> = c.args[1..]
            .iter()
            .map(|a| match unparen(a) {
                Expr::StringLiteral(s) => s.value.as_str(),
                _ => "",
            })
            .collect();
        let label_err = |e| EngineError::new(EngineErrorKind::LabelFunction(e));
        // A name whose escapes made invalid UTF-8 (`"\xff"`) is never a valid label name.
        for (i, a) in c.args.iter().enumerate().skip(1) {
            if let Expr::StringLiteral(sl) = unparen(a) {
                if let Some(raw) = &sl.raw {
                    if i == 1 || (c.func.name == "label_join" && i >= 3) {
                        let name = super::aggregate::go_quote_bytes(raw);
                        let kind = if i == 1 {
                            LabelFnErrorKind::InvalidDestinationLabel(name)
                        } else {
                            LabelFnErrorKind::InvalidSourceLabel(name)
                        };
                        return Err(label_err(LabelFnError {
                            function: if c.func.name == "label_replace" { "label_replace" } else { "label_join" },
                            kind,
                        }));
                    }
                }
            }
        }
        let (apply, dst): (LabelMap, String) = if c.func.name == "label_replace" {
            let op = LabelReplace::new(strs[0], strs[1], strs[2], strs[3]).map_err(label_err)?;
            let dst = op.dst().to_owned();
            (Box::new(move |l| op.apply(l)), dst)
        } else {
            let op = LabelJoin::new(strs[0], strs[1], &strs[2..]).map_err(label_err)?;
            let dst = op.dst().to_owned();
            (Box::new(move |l| op.apply(l)), dst)
        };
        let Val::Vector(mut series) = self.eval(&c.args[0], r)? else { return Ok(Val::Vector(Vec::new())) };
        for s in &mut series {
            s.labels = apply(&s.labels);
            if dst == METRIC_NAME_LABEL {
                s.drop_name = false;
            }
        }
        Ok(Val::Vector(super::merge_same_labels(series)?))
    }
}

/// The group and bound of a bucket series, or `None` when its `le` is missing or bad.
fn bucket_of(
    e: &Elem,
    groups: &mut Vec<(Labels, String)>,
    index: &mut HashMap<Labels, usize>,
    buckets: &mut Vec<Vec<Bucket>>,
) -> Option<(usize, f64)> {
    let le = e.labels.get("le")?;
    let bound = parse_go_float(le)?;
    let key = e.labels.filter(|l| l.name != "le");
    let g = match index.get(&key) {
        Some(&g) => g,
        None => {
            let g = groups.len();
            index.insert(key.clone(), g);
            let name = e.labels.metric_name().unwrap_or("").to_owned();
            groups.push((key, name));
            buckets.push(Vec::new());
            g
        }
    };
    Some((g, bound))
}

/// The label value naming a quantile: `0.25`, and `1.0` rather than `1`.
fn quantile_label(q: f64) -> String {
    let s = super::aggregate::format_value(q);
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'-') { format!("{s}.0") } else { s }
}

/// Parses a float as Go's `strconv.ParseFloat` accepts it (`+Inf`, `NaN`, `1e3`, …).
fn parse_go_float(s: &str) -> Option<f64> {
    crate::series::parse_float(s).or_else(|| s.parse().ok())
}

fn absent_series(labels: Labels, r: Range, present: &[bool]) -> Vec<SeriesBuf> {
    let points: Vec<FPoint> =
        present.iter().enumerate().filter(|(_, p)| !**p).map(|(k, _)| FPoint { t: r.ts(k), f: 1.0 }).collect();
    if points.is_empty() {
        return Vec::new();
    }
    vec![SeriesBuf { labels, points, drop_name: false }]
}
