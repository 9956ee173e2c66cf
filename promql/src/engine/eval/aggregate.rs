//! Aggregation operators.

use ember_exposition::{Labels, LabelsBuilder, METRIC_NAME_LABEL};
use hashbrown::HashMap;

use super::{Elem, Evaluator, KEY_GROUP, NO_KEY, Range, Result, Val, err};
use crate::engine::EngineErrorKind;
use crate::engine::annotations::AnnotationKind;
use crate::engine::functions::{KahanSum, Mean, Variance, quantile};
use crate::parser::{AggregateExpr, AggregateOp, Expr};

/// The running state of one group at one step.
#[derive(Default)]
struct State {
    /// Step at which the state was last reset (+1; 0 = never).
    step: usize,
    count: f64,
    sum: KahanSum,
    mean: Mean,
    var: Variance,
    value: f64,
    values: Vec<f64>,
    elems: Vec<Elem>,
    drop_name: bool,
}

struct Group {
    labels: Labels,
    state: State,
}

/// Maps input series to groups, caching by series index.
struct Grouper<'a> {
    a: &'a AggregateExpr,
    by_src: Vec<u32>,
    by_labels: HashMap<Labels, u32>,
    groups: Vec<Group>,
    /// Whether the group labels keep `__name__` (`by (__name__)`).
    keeps_name: bool,
}

impl<'a> Grouper<'a> {
    fn new(a: &'a AggregateExpr) -> Self {
        let keeps_name = !a.without && a.grouping.iter().any(|g| g == METRIC_NAME_LABEL);
        Grouper { a, by_src: Vec::new(), by_labels: HashMap::new(), groups: Vec::new(), keeps_name }
    }

    fn key(&self, l: &Labels) -> Labels {
        if self.a.without {
            l.filter(|lb| lb.name != METRIC_NAME_LABEL && !self.a.grouping.contains(&lb.name))
        } else {
            l.keep_names(&self.a.grouping)
        }
    }

    fn group_of_labels(&mut self, l: &Labels) -> usize {
        let key = self.key(l);
        if let Some(&g) = self.by_labels.get(&key) {
            return g as usize;
        }
        let g = self.groups.len();
        self.by_labels.insert(key.clone(), g as u32);
        self.groups.push(Group { labels: key, state: State::default() });
        g
    }

    fn group(&mut self, e: &Elem) -> usize {
        let i = e.src as usize;
        if i < self.by_src.len() && self.by_src[i] != u32::MAX {
            return self.by_src[i] as usize;
        }
        let g = self.group_of_labels(&e.labels);
        if i >= self.by_src.len() {
            self.by_src.resize(i + 1, u32::MAX);
        }
        self.by_src[i] = g as u32;
        g
    }
}

impl Evaluator<'_> {
    pub(crate) fn eval_aggregate(&mut self, a: &AggregateExpr, r: Range) -> Result<Val> {
        let param = match &a.param {
            Some(Expr::StringLiteral(_)) | None => None,
            Some(p) => Some(self.eval_scalar(p, r)?),
        };
        if a.op == AggregateOp::CountValues {
            let Some(Expr::StringLiteral(s)) = &a.param else {
                return Ok(Val::Vector(Vec::new()));
            };
            if let Some(raw) = &s.raw {
                return err(EngineErrorKind::InvalidLabelName(go_quote_bytes(raw)));
            }
            if s.value.is_empty() {
                return err(EngineErrorKind::InvalidLabelName("\"\"".into()));
            }
        }
        let v = self.eval(&a.expr, r)?;
        let param_pos = a.param.as_ref().map(|p| p.pos()).unwrap_or(a.pos);
        let mut grouper = Grouper::new(a);
        let mut touched: Vec<usize> = Vec::new();
        let out = self.step_loop(r, &[&v], |ev, k, args, out| {
            let input = args[0].vector();
            let p = param.as_ref().map_or(f64::NAN, |p| p[k]);
            match a.op {
                AggregateOp::CountValues => {
                    let Some(Expr::StringLiteral(s)) = &a.param else { return Ok(()) };
                    count_values(a, &s.value, input, out);
                    return Ok(());
                }
                AggregateOp::Quantile if !(0.0..=1.0).contains(&p) => {
                    ev.annotate(AnnotationKind::InvalidQuantile(p), param_pos);
                }
                AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk if p.is_nan() => {
                    return err(EngineErrorKind::ParameterNaN);
                }
                AggregateOp::LimitRatio if p.is_nan() => return err(EngineErrorKind::RatioNaN),
                AggregateOp::LimitRatio if !(-1.0..=1.0).contains(&p) => {
                    ev.annotate(AnnotationKind::InvalidRatio { given: p, capped: p.clamp(-1.0, 1.0) }, param_pos);
                }
                _ => {}
            }
            touched.clear();
            for e in input {
                let g = grouper.group(e);
                let st = &mut grouper.groups[g].state;
                if st.step != k + 1 {
                    *st = State {
                        step: k + 1,
                        values: std::mem::take(&mut st.values),
                        elems: std::mem::take(&mut st.elems),
                        ..State::default()
                    };
                    st.values.clear();
                    st.elems.clear();
                    touched.push(g);
                    first(a.op, st, e);
                } else {
                    accumulate(a.op, st, e);
                }
                st.drop_name |= e.drop_name;
            }
            for &g in &touched {
                let keeps_name = grouper.keeps_name;
                let grp = &mut grouper.groups[g];
                finish(a.op, p, g, &grp.labels, &mut grp.state, keeps_name, out);
            }
            Ok(())
        })?;
        self.free(&v);
        Ok(Val::Vector(out))
    }
}

fn first(op: AggregateOp, st: &mut State, e: &Elem) {
    st.count = 1.0;
    match op {
        AggregateOp::Sum => st.sum.add(e.f),
        AggregateOp::Avg => st.mean.add(e.f),
        AggregateOp::Min | AggregateOp::Max => st.value = e.f,
        AggregateOp::Stddev | AggregateOp::Stdvar => st.var.add(e.f),
        AggregateOp::Quantile => st.values.push(e.f),
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk | AggregateOp::LimitRatio => {
            st.elems.push(e.clone())
        }
        _ => {}
    }
}

fn accumulate(op: AggregateOp, st: &mut State, e: &Elem) {
    st.count += 1.0;
    let f = e.f;
    match op {
        AggregateOp::Sum => st.sum.add(f),
        AggregateOp::Avg => st.mean.add(f),
        AggregateOp::Min if (st.value > f || st.value.is_nan()) => {
            st.value = f;
        }
        AggregateOp::Max if (st.value < f || st.value.is_nan()) => {
            st.value = f;
        }
        AggregateOp::Stddev | AggregateOp::Stdvar => st.var.add(f),
        AggregateOp::Quantile => st.values.push(f),
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk | AggregateOp::LimitRatio => {
            st.elems.push(e.clone())
        }
        _ => {}
    }
}

fn finish(op: AggregateOp, p: f64, g: usize, labels: &Labels, st: &mut State, keeps_name: bool, out: &mut Vec<Elem>) {
    let key = KEY_GROUP | g as u64;
    let value = match op {
        AggregateOp::Sum => st.sum.value(),
        AggregateOp::Avg => st.mean.value(),
        AggregateOp::Count => st.count,
        AggregateOp::Group => 1.0,
        AggregateOp::Min | AggregateOp::Max => st.value,
        AggregateOp::Stdvar => st.var.variance(),
        AggregateOp::Stddev => st.var.stddev(),
        AggregateOp::Quantile => quantile(p, &mut st.values),
        AggregateOp::Topk | AggregateOp::Bottomk => {
            let k = clamp_k(p);
            if k == 0 {
                return;
            }
            let top = op == AggregateOp::Topk;
            // NaN is the least preferred value either way; ties keep input order (the
            // order of the operand's series). Select the k best, then sort only those.
            let better = |a: &Elem, b: &Elem| {
                let by_value = match (a.f.is_nan(), b.f.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if top => b.f.partial_cmp(&a.f).unwrap_or(std::cmp::Ordering::Equal),
                    _ => a.f.partial_cmp(&b.f).unwrap_or(std::cmp::Ordering::Equal),
                };
                by_value.then(a.src.cmp(&b.src))
            };
            if k < st.elems.len() {
                st.elems.select_nth_unstable_by(k - 1, better);
                st.elems.truncate(k);
            }
            st.elems.sort_by(better);
            out.append(&mut st.elems);
            return;
        }
        AggregateOp::Limitk => {
            let k = clamp_k(p);
            out.extend(st.elems.drain(..).take(k));
            return;
        }
        AggregateOp::LimitRatio => {
            let r = p.clamp(-1.0, 1.0);
            out.extend(st.elems.drain(..).filter(|e| ratio_selects(&e.labels, r)));
            return;
        }
        AggregateOp::CountValues => return,
    };
    out.push(Elem { labels: labels.clone(), f: value, drop_name: keeps_name && st.drop_name, src: 0, key });
}

fn clamp_k(p: f64) -> usize {
    if p < 1.0 {
        0
    } else if p >= usize::MAX as f64 {
        usize::MAX
    } else {
        p as usize
    }
}

/// `limit_ratio`'s deterministic choice: a series is in the sample when its label hash,
/// scaled to `[0, 1)`, is below `r` (or, for negative `r`, at or above `1 + r`), so
/// `limit_ratio(r, x)` and `limit_ratio(-(1 - r), x)` split `x` in two.
fn ratio_selects(l: &Labels, r: f64) -> bool {
    let offset = l.stable_hash() as f64 / u64::MAX as f64;
    if r >= 0.0 { offset < r } else { offset >= 1.0 + r }
}

fn count_values(a: &AggregateExpr, label: &str, input: &[Elem], out: &mut Vec<Elem>) {
    let mut counts: Vec<(Labels, f64)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for e in input {
        let mut lb = LabelsBuilder::from_labels(&e.labels);
        lb.set(label.to_owned(), format_value(e.f));
        let with = lb.build();
        let key = if a.without {
            with.filter(|l| l.name == label || (l.name != METRIC_NAME_LABEL && !a.grouping.contains(&l.name)))
        } else {
            with.filter(|l| l.name == label || a.grouping.contains(&l.name))
        };
        match index.get(&key) {
            Some(&i) => counts[i].1 += 1.0,
            None => {
                index.insert(key.clone(), counts.len());
                counts.push((key, 1.0));
            }
        }
    }
    out.extend(counts.into_iter().map(|(labels, f)| Elem { labels, f, drop_name: false, src: 0, key: NO_KEY }));
}

/// A float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` writes it.
pub(crate) fn format_value(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{f}")
    }
}

/// Go's `%q` of a byte string: printable UTF-8 kept, invalid bytes as `\xNN`.
pub(crate) fn go_quote_bytes(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                c if c.is_control() => s.push_str(&c.escape_default().to_string()),
                c => s.push(c),
            }
        }
        for byte in chunk.invalid() {
            s.push_str(&format!("\\x{byte:02x}"));
        }
    }
    s.push('"');
    s
}
