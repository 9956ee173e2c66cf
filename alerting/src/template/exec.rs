//! Execution of a parsed template against data.

use super::funcs;
use super::parse::{Command, Node, Operand, Pipeline, Pos, Tree};
use super::value::Value;
use super::{Context, TemplateError, TemplateErrorKind};

/// Nested `template` calls deeper than this fail instead of overflowing the stack.
const MAX_TEMPLATE_DEPTH: usize = 100;
/// Executing more nodes than this fails: a template always ends, even `{{range 1e18}}`.
const MAX_STEPS: u64 = 10_000_000;
/// Producing more output than this fails.
const MAX_OUTPUT: usize = 16 << 20;

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct Exec<'a> {
    pub name: &'a str,
    pub tree: &'a Tree,
    pub ctx: &'a Context,
    pub out: String,
    vars: Vec<(String, Value)>,
    depth: usize,
    steps: u64,
}

type R<T> = Result<T, TemplateError>;

impl<'a> Exec<'a> {
    pub fn new(name: &'a str, tree: &'a Tree, ctx: &'a Context) -> Self {
        Exec { name, tree, ctx, out: String::new(), vars: Vec::new(), depth: 0, steps: 0 }
    }

    fn err(&self, pos: Pos, msg: impl Into<String>) -> TemplateError {
        TemplateError { template: self.name.to_string(), pos, kind: TemplateErrorKind::Exec(msg.into()) }
    }

    pub fn run(&mut self, nodes: &'a [Node], dot: &Value) -> R<()> {
        self.vars.push((String::new(), dot.clone()));
        self.list(nodes, dot).map(|_| ())
    }

    fn list(&mut self, nodes: &'a [Node], dot: &Value) -> R<Flow> {
        for n in nodes {
            match self.node(n, dot)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn scoped(&mut self, nodes: &'a [Node], dot: &Value) -> R<Flow> {
        let mark = self.vars.len();
        let r = self.list(nodes, dot);
        self.vars.truncate(mark);
        r
    }

    fn node(&mut self, n: &'a Node, dot: &Value) -> R<Flow> {
        self.steps += 1;
        if self.steps > MAX_STEPS || self.out.len() > MAX_OUTPUT {
            let pos = match n {
                Node::Action(p) | Node::If(p, ..) | Node::Range(p, ..) | Node::With(p, ..) => p.pos,
                Node::Template(_, _, pos) | Node::Break(pos) | Node::Continue(pos) => *pos,
                Node::Text(_) => Pos::default(),
            };
            return Err(self.err(pos, "template execution exceeded its step or output budget"));
        }
        match n {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(p) => {
                let v = self.pipeline(p, dot)?;
                if p.vars.is_empty() {
                    v.write_go(&mut self.out);
                }
            }
            Node::If(p, body, els) | Node::With(p, body, els) => {
                let mark = self.vars.len();
                let v = self.pipeline(p, dot)?;
                let is_with = matches!(n, Node::With(..));
                let r = if v.truthy() {
                    let d = if is_with { v } else { dot.clone() };
                    self.scoped(body, &d)
                } else {
                    self.scoped(els, dot)
                };
                self.vars.truncate(mark);
                return r;
            }
            Node::Range(p, body, els) => {
                let mark = self.vars.len();
                // Range declares its variables per element, not from the pipeline result.
                let vars = &p.vars;
                let v = self.pipeline_value(p, dot)?;
                // Lists and maps are iterated in place; `range N` counts without building a list.
                let len = match &v {
                    Value::List(l) => l.len(),
                    Value::Map(m) => m.len(),
                    Value::StrMap(m) => m.len(),
                    Value::Int(n) if *n > MAX_STEPS as i64 => {
                        return Err(self.err(p.pos, format!("range over {n} exceeds the step budget")));
                    }
                    Value::Int(n) => usize::try_from(*n).unwrap_or(0),
                    Value::Nil => 0,
                    other => return Err(self.err(p.pos, format!("range can't iterate over {}", other.to_go_string()))),
                };
                if len == 0 {
                    let r = self.scoped(els, dot);
                    self.vars.truncate(mark);
                    return r;
                }
                let mut map_iter = match &v {
                    Value::Map(m) => Some(m.iter()),
                    _ => None,
                };
                let mut str_map_iter = match &v {
                    Value::StrMap(m) => Some(m.iter()),
                    _ => None,
                };
                for i in 0..len {
                    // Every iteration counts against the budget, even with an empty body.
                    self.steps += 1;
                    if self.steps > MAX_STEPS {
                        return Err(self.err(p.pos, "template execution exceeded its step or output budget"));
                    }
                    let (k, x) = match &v {
                        Value::List(l) => (Value::Int(i as i64), l[i].clone()),
                        Value::Map(_) => match map_iter.as_mut().and_then(Iterator::next) {
                            Some((k, x)) => (Value::str(k), x.clone()),
                            None => break,
                        },
                        Value::StrMap(_) => match str_map_iter.as_mut().and_then(Iterator::next) {
                            Some((k, x)) => (Value::str(k), Value::str(x)),
                            None => break,
                        },
                        _ => (Value::Int(i as i64), Value::Int(i as i64)),
                    };
                    let inner = self.vars.len();
                    match vars.as_slice() {
                        [] => {}
                        [a] => self.vars.push((a.clone(), x.clone())),
                        [a, b, ..] => {
                            self.vars.push((a.clone(), k));
                            self.vars.push((b.clone(), x.clone()));
                        }
                    }
                    let f = self.list(body, &x);
                    self.vars.truncate(inner);
                    match f? {
                        Flow::Break => break,
                        Flow::Continue | Flow::Normal => {}
                    }
                }
                self.vars.truncate(mark);
            }
            Node::Template(name, p, pos) => {
                let Some(body) = self.tree.defines.get(name) else {
                    return Err(self.err(*pos, format!("no such template {name:?}")));
                };
                let d = match p {
                    Some(p) => self.pipeline(p, dot)?,
                    None => Value::Nil,
                };
                if self.depth >= MAX_TEMPLATE_DEPTH {
                    return Err(self.err(*pos, format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")));
                }
                self.depth += 1;
                let saved = std::mem::replace(&mut self.vars, vec![(String::new(), d.clone())]);
                let r = self.list(body, &d);
                self.vars = saved;
                self.depth -= 1;
                r?;
            }
            Node::Break(_) => return Ok(Flow::Break),
            Node::Continue(_) => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn lookup_var(&self, name: &str, pos: Pos) -> R<Value> {
        if name.is_empty() {
            return Ok(self.vars.first().map(|v| v.1.clone()).unwrap_or(Value::Nil));
        }
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.err(pos, format!("undefined variable: ${name}")))
    }

    fn pipeline_value(&mut self, p: &'a Pipeline, dot: &Value) -> R<Value> {
        let mut val: Option<Value> = None;
        for cmd in &p.cmds {
            val = Some(self.command(cmd, dot, val)?);
        }
        Ok(val.unwrap_or(Value::Nil))
    }

    fn pipeline(&mut self, p: &'a Pipeline, dot: &Value) -> R<Value> {
        let v = self.pipeline_value(p, dot)?;
        for name in &p.vars {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return Err(self.err(p.pos, format!("undefined variable: ${name}"))),
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn fields(&self, mut v: Value, chain: &[String], pos: Pos) -> R<Value> {
        for f in chain {
            v = v.field(f).map_err(|m| self.err(pos, m))?;
        }
        Ok(v)
    }

    fn operand(&mut self, op: &'a Operand, dot: &Value, pos: Pos) -> R<Value> {
        match op {
            Operand::Dot => Ok(dot.clone()),
            Operand::Nil => Ok(Value::Nil),
            Operand::Const(v) => Ok(v.clone()),
            Operand::Field(chain) => self.fields(dot.clone(), chain, pos),
            Operand::Var(name, chain) => {
                let v = self.lookup_var(name, pos)?;
                self.fields(v, chain, pos)
            }
            Operand::Sub(p, chain) => {
                let v = self.pipeline(p, dot)?;
                self.fields(v, chain, pos)
            }
            Operand::Func(name) => self.call(name, &[], dot, None, pos),
        }
    }

    fn command(&mut self, cmd: &'a Command, dot: &Value, piped: Option<Value>) -> R<Value> {
        let pos = cmd.pos;
        match &cmd.args[0] {
            Operand::Func(name) => self.call(name, &cmd.args[1..], dot, piped, pos),
            first => {
                if cmd.args.len() > 1 || piped.is_some() {
                    let what = match first {
                        Operand::Field(c) => format!(".{}", c.join(".")),
                        Operand::Var(n, _) => format!("${n}"),
                        _ => "operand".to_string(),
                    };
                    return Err(self.err(pos, format!("can't give argument to non-function {what}")));
                }
                self.operand(first, dot, pos)
            }
        }
    }

    fn call(&mut self, name: &str, args: &'a [Operand], dot: &Value, piped: Option<Value>, pos: Pos) -> R<Value> {
        // `and` and `or` evaluate their arguments lazily and return the deciding one.
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(piped.is_some());
            if total == 0 {
                return Err(self.err(pos, format!("wrong number of args for {name}: want at least 1 got 0")));
            }
            let mut last = Value::Nil;
            for a in args {
                last = self.operand(a, dot, pos)?;
                if (name == "and") != last.truthy() {
                    return Ok(last);
                }
            }
            if let Some(p) = piped {
                last = p;
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.operand(a, dot, pos)?);
        }
        if let Some(p) = piped {
            vals.push(p);
        }
        funcs::call(name, &vals, self.ctx).map_err(|m| self.err(pos, format!("error calling {name}: {m}")))
    }
}

/// Defined templates by name, for lookups from the outside.
pub(crate) fn defined_names(tree: &Tree) -> Vec<String> {
    let mut v: Vec<String> = tree.defines.keys().cloned().collect();
    v.sort();
    v
}
