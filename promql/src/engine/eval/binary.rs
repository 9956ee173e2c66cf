//! Binary operators: scalar/scalar, vector/scalar, vector/vector with matching, set operators.

use std::hash::{BuildHasher, Hash, Hasher};

use ember_exposition::{Labels, LabelsBuilder, METRIC_NAME_LABEL};
use hashbrown::{DefaultHashBuilder, HashMap, HashSet};

use super::{Elem, Evaluator, KEY_PAIR, NO_KEY, Range, Result, Val, err, go_labels, op_drops_name};
use crate::engine::EngineErrorKind;
use crate::parser::{BinaryExpr, BinaryOp, GroupSide, VectorMatching};

/// `l op r` for arithmetic operators; `None` for comparisons and set operators.
pub(crate) fn scalar_arith(op: BinaryOp, l: f64, r: f64) -> Option<f64> {
    Some(match op {
        BinaryOp::Add => l + r,
        BinaryOp::Sub => l - r,
        BinaryOp::Mul => l * r,
        BinaryOp::Div => l / r,
        BinaryOp::Mod => go_mod(l, r),
        BinaryOp::Pow => l.powf(r),
        BinaryOp::Atan2 => l.atan2(r),
        _ => return None,
    })
}

/// Go's `math.Mod`: the sign follows the dividend (Rust's `%` on floats does the same).
fn go_mod(l: f64, r: f64) -> f64 {
    l % r
}

fn compare(op: BinaryOp, l: f64, r: f64) -> bool {
    match op {
        BinaryOp::Eql => l == r,
        BinaryOp::Neq => l != r,
        BinaryOp::Lss => l < r,
        BinaryOp::Lte => l <= r,
        BinaryOp::Gtr => l > r,
        BinaryOp::Gte => l >= r,
        _ => false,
    }
}

/// The value of `l op r` and whether to keep it (comparisons filter).
fn elem_op(op: BinaryOp, l: f64, r: f64) -> (f64, bool) {
    if op.is_comparison() { (l, compare(op, l, r)) } else { (scalar_arith(op, l, r).unwrap_or(f64::NAN), true) }
}

/// Hash of the labels a match looks at.
struct Signer {
    on: bool,
    names: Vec<String>,
    hasher: DefaultHashBuilder,
}

impl Signer {
    fn new(m: Option<&VectorMatching>) -> Self {
        let (on, names) = match m {
            Some(m) => (m.on, m.labels.clone()),
            None => (false, Vec::new()),
        };
        Signer { on, names, hasher: DefaultHashBuilder::default() }
    }

    fn sign(&self, l: &Labels) -> u64 {
        let mut h = self.hasher.build_hasher();
        for lb in l.iter() {
            let include = if self.on {
                self.names.contains(&lb.name)
            } else {
                lb.name != METRIC_NAME_LABEL && !self.names.contains(&lb.name)
            };
            if include {
                lb.name.hash(&mut h);
                lb.value.hash(&mut h);
            }
        }
        h.finish()
    }

    /// The labels a match looks at, for error messages.
    fn match_labels(&self, l: &Labels) -> Labels {
        if self.on {
            l.keep_names(&self.names)
        } else {
            l.filter(|lb| lb.name != METRIC_NAME_LABEL && !self.names.contains(&lb.name))
        }
    }
}

/// Per-series signature cache of one operand.
struct SigCache(Vec<u64>);

impl SigCache {
    fn get(&mut self, signer: &Signer, e: &Elem) -> u64 {
        let i = e.src as usize;
        if i >= self.0.len() {
            self.0.resize(i + 1, u64::MAX);
        }
        if self.0[i] == u64::MAX {
            self.0[i] = signer.sign(&e.labels);
        }
        self.0[i]
    }
}

impl Evaluator<'_> {
    pub(crate) fn eval_binary(&mut self, b: &BinaryExpr, r: Range) -> Result<Val> {
        let lhs = self.eval(&b.lhs, r)?;
        let rhs = self.eval(&b.rhs, r)?;
        let out = match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(rv)) => {
                let v = l
                    .iter()
                    .zip(&rv)
                    .map(|(&a, &c)| {
                        if b.op.is_comparison() {
                            if compare(b.op, a, c) { 1.0 } else { 0.0 }
                        } else {
                            scalar_arith(b.op, a, c).unwrap_or(f64::NAN)
                        }
                    })
                    .collect();
                Val::Scalar(v)
            }
            (Val::Vector(series), Val::Scalar(s)) => Val::Vector(self.vector_scalar(b, r, series, &s, false)?),
            (Val::Scalar(s), Val::Vector(series)) => Val::Vector(self.vector_scalar(b, r, series, &s, true)?),
            (lhs @ Val::Vector(_), rhs @ Val::Vector(_)) => {
                let out = if b.op.is_set() {
                    self.step_loop(r, &[&lhs, &rhs], |_, _, a, out| {
                        set_op(b, a[0].vector(), a[1].vector(), out);
                        Ok(())
                    })?
                } else {
                    let signer = Signer::new(b.matching.as_ref());
                    let (mut lc, mut rc) = (SigCache(Vec::new()), SigCache(Vec::new()));
                    let mut scratch = Scratch::default();
                    self.step_loop(r, &[&lhs, &rhs], |_, _, a, out| {
                        vector_vector(b, &signer, a[0].vector(), a[1].vector(), &mut lc, &mut rc, &mut scratch, out)
                    })?
                };
                self.free(&lhs);
                self.free(&rhs);
                Val::Vector(out)
            }
            _ => Val::Vector(Vec::new()),
        };
        Ok(out)
    }

    /// Vector-scalar operations keep each series' labels, so they map series by series.
    fn vector_scalar(
        &mut self,
        b: &BinaryExpr,
        r: Range,
        mut series: Vec<super::SeriesBuf>,
        scalar: &[f64],
        scalar_left: bool,
    ) -> Result<Vec<super::SeriesBuf>> {
        let drop = op_drops_name(b.op) || b.return_bool;
        for s in &mut series {
            s.points.retain_mut(|p| {
                let sv = scalar[r.index(p.t)];
                let (l, rv) = if scalar_left { (sv, p.f) } else { (p.f, sv) };
                let (mut v, mut keep) = elem_op(b.op, l, rv);
                if b.op.is_comparison() && scalar_left {
                    v = p.f;
                }
                if b.return_bool {
                    v = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                p.f = v;
                keep
            });
            if drop {
                s.drop_name = true;
            }
        }
        series.retain(|s| !s.points.is_empty());
        Ok(series)
    }
}

fn set_op(b: &BinaryExpr, lhs: &[Elem], rhs: &[Elem], out: &mut Vec<Elem>) {
    let signer = Signer::new(b.matching.as_ref());
    match b.op {
        BinaryOp::And => {
            let sigs: HashSet<u64> = rhs.iter().map(|e| signer.sign(&e.labels)).collect();
            out.extend(lhs.iter().filter(|e| sigs.contains(&signer.sign(&e.labels))).cloned());
        }
        BinaryOp::Or => {
            let sigs: HashSet<u64> = lhs.iter().map(|e| signer.sign(&e.labels)).collect();
            out.extend(lhs.iter().cloned());
            out.extend(rhs.iter().filter(|e| !sigs.contains(&signer.sign(&e.labels))).cloned());
        }
        BinaryOp::Unless => {
            let sigs: HashSet<u64> = rhs.iter().map(|e| signer.sign(&e.labels)).collect();
            out.extend(lhs.iter().filter(|e| !sigs.contains(&signer.sign(&e.labels))).cloned());
        }
        _ => {}
    }
}

/// Buffers reused across steps.
#[derive(Default)]
struct Scratch {
    right: HashMap<u64, usize>,
    /// Signatures of the "one" side that found a partner this step.
    matched: HashSet<u64>,
    /// (signature, output labels hash) pairs produced this step, for group modifiers.
    produced: HashSet<(u64, u64)>,
    /// Output labels (and their hash) per (many series, one series) pair: the same pairs
    /// meet at every step.
    result: HashMap<(u32, u32), (Labels, u64)>,
}

#[allow(clippy::too_many_arguments)]
fn vector_vector(
    b: &BinaryExpr,
    signer: &Signer,
    lhs: &[Elem],
    rhs: &[Elem],
    lc: &mut SigCache,
    rc: &mut SigCache,
    scratch: &mut Scratch,
    out: &mut Vec<Elem>,
) -> Result<()> {
    let group = b.matching.as_ref().and_then(|m| m.group.as_ref());
    let one_to_many = group.is_some_and(|g| g.side == GroupSide::Right);
    let (many, one, mc, oc) = if one_to_many { (rhs, lhs, rc, lc) } else { (lhs, rhs, lc, rc) };
    scratch.right.clear();
    scratch.matched.clear();
    scratch.produced.clear();
    for (i, e) in one.iter().enumerate() {
        let sig = oc.get(signer, e);
        if let Some(&prev) = scratch.right.get(&sig) {
            let side = if one_to_many { "left" } else { "right" };
            return err(EngineErrorKind::DuplicateMatchSeries {
                group: go_labels(&signer.match_labels(&e.labels)),
                side,
                series: [go_labels(&one[prev].labels), go_labels(&e.labels)],
            });
        }
        scratch.right.insert(sig, i);
    }
    let drop = op_drops_name(b.op) || b.return_bool;
    // Experimental fill modifiers: the value used for a missing "one" / "many" partner.
    // (Prometheus applies them after swapping the sides of a `group_right`, so `fill_right`
    // always fills the "one" side.)
    let (fill_one, fill_many) = (b.fill.right, b.fill.left);
    for e in many {
        let sig = mc.get(signer, e);
        let Some(&ri) = scratch.right.get(&sig) else {
            if let Some(fv) = fill_one {
                let (l, r) = if one_to_many { (fv, e.f) } else { (e.f, fv) };
                let (mut v, mut keep) = elem_op(b.op, l, r);
                if b.return_bool {
                    v = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                if keep && !(one_to_many && b.op.is_comparison() && !b.return_bool) {
                    let absent = Elem { labels: Labels::empty(), f: fv, drop_name: false, src: 0, key: NO_KEY };
                    let labels = result_labels(b, e, &absent);
                    out.push(Elem { labels, f: v, drop_name: drop || e.drop_name, src: 0, key: NO_KEY });
                }
            }
            continue;
        };
        let o = &one[ri];
        let (l, r) = if one_to_many { (o.f, e.f) } else { (e.f, o.f) };
        let (mut v, mut keep) = elem_op(b.op, l, r);
        if b.return_bool {
            v = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        let (labels, h) = scratch
            .result
            .entry((e.src, o.src))
            .or_insert_with(|| {
                let l = result_labels(b, e, o);
                let h = signer.hasher.hash_one(&l);
                (l, h)
            })
            .clone();
        match group {
            None => {
                if !scratch.matched.insert(sig) {
                    return err(EngineErrorKind::ManyToOneNotExplicit);
                }
            }
            Some(_) => {
                scratch.matched.insert(sig);
                if !scratch.produced.insert((sig, h)) {
                    return err(EngineErrorKind::GroupingNotUnique);
                }
            }
        }
        if keep {
            let key = if e.src < 1 << 24 && o.src < 1 << 24 {
                KEY_PAIR | (u64::from(e.src) << 24) | u64::from(o.src)
            } else {
                NO_KEY
            };
            out.push(Elem { labels, f: v, drop_name: drop || e.drop_name, src: 0, key });
        }
    }
    if let Some(fv) = fill_many {
        for o in one {
            let sig = oc.get(signer, o);
            if scratch.matched.contains(&sig) {
                continue;
            }
            let (l, r) = if one_to_many { (o.f, fv) } else { (fv, o.f) };
            let (mut v, mut keep) = elem_op(b.op, l, r);
            if b.return_bool {
                v = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            if keep {
                out.push(Elem { labels: signer.match_labels(&o.labels), f: v, drop_name: false, src: 0, key: NO_KEY });
            }
        }
    }
    Ok(())
}

/// The labels of a vector-vector result: the "many" side's, reduced to the `on` labels for
/// one-to-one matches, plus the `group_x` labels from the "one" side.
fn result_labels(b: &BinaryExpr, many: &Elem, one: &Elem) -> Labels {
    let Some(m) = b.matching.as_ref() else {
        return many.labels.clone();
    };
    if m.group.is_none() && !m.on && m.labels.is_empty() {
        return many.labels.clone();
    }
    let mut lb = LabelsBuilder::from_labels(&many.labels);
    match &m.group {
        None => {
            if m.on {
                lb.retain(|l| m.labels.contains(&l.name));
            } else {
                for n in &m.labels {
                    lb.del(n);
                }
            }
        }
        Some(g) => {
            for n in &g.include {
                match one.labels.get(n) {
                    Some(v) if !v.is_empty() => {
                        lb.set(n.clone(), v.to_owned());
                    }
                    _ => {
                        lb.del(n);
                    }
                }
            }
        }
    }
    lb.build()
}
