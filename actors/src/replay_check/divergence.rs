//! What `replay-check` reports when a re-executed transaction differs from
//! its log record: the differences, with rows, values and arguments decoded
//! to JSON through the module's schema, and the comparison that finds them.

use interstice_abi::{ModuleSchema, Type, Value};
use interstice_persist::Outcome;
use interstice_persist::{CommitRecord, ErrorKind, Mutation, MutationOp, Nondet, OutboundCall};
use serde_json::{json, Value as Json};

use crate::replay_check::OfflinePeers;
use crate::wasm::env::Peers;
use crate::wasm::host_state::UNRECORDED_READ;
use crate::wasm::schema::params_type;

/// Most differences of one kind (mutations, calls) listed per divergence.
const MAX_LISTED: usize = 10;

/// The first transaction whose re-execution did not match its log record.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// The transaction's timestamp.
    pub ts: u64,
    /// Its module.
    pub module: String,
    /// Its reducer.
    pub reducer: String,
    /// Everything that differs (never empty).
    pub differences: Vec<Difference>,
}

impl Divergence {
    /// The machine-readable form.
    pub fn to_json(&self) -> Json {
        json!({
            "ts": self.ts,
            "module": self.module,
            "reducer": self.reducer,
            "differences": self.differences.iter().map(Difference::to_json).collect::<Vec<_>>(),
        })
    }
}

impl std::fmt::Display for Divergence {
    /// `ts 7 t_nondet.tick: mutation 0 on table ticks: expected … got …; …`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ts {} {}.{}: ", self.ts, self.module, self.reducer)?;
        for (i, d) in self.differences.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// One thing that differs: what the log holds and what re-execution produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// What it is, e.g. `mutation 0 on table ticks`, `outcome`, `call 1`.
    pub what: String,
    /// From the log.
    pub expected: Observed,
    /// From re-execution.
    pub actual: Observed,
}

impl Difference {
    /// The machine-readable form.
    pub fn to_json(&self) -> Json {
        json!({
            "what": self.what,
            "expected": self.expected.to_json(),
            "actual": self.actual.to_json(),
        })
    }
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: expected {} got {}",
            self.what, self.expected, self.actual
        )
    }
}

/// One side of a [`Difference`], decoded for reading.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// Absent (e.g. a mutation only the other side has).
    Nothing,
    /// A row change: `insert`/`update` with the row, `delete` with the key.
    Mutation {
        /// `insert`, `update` or `delete`.
        op: &'static str,
        /// The row (or key) as JSON.
        value: Json,
    },
    /// A successful outcome with its value.
    Ok(Json),
    /// A failed outcome.
    Err {
        /// The error kind.
        kind: ErrorKind,
        /// Its message.
        message: String,
    },
    /// An outbound async call.
    Call {
        /// Target module.
        module: String,
        /// Target reducer.
        reducer: String,
        /// Arguments as JSON.
        args: Json,
    },
    /// Non-deterministic inputs, in order (`now`, `rng_seed`, `read m.r`).
    Inputs(Vec<String>),
    /// Anything else, as text.
    Text(String),
}

impl Observed {
    /// The machine-readable form.
    pub fn to_json(&self) -> Json {
        match self {
            Observed::Nothing => Json::Null,
            Observed::Mutation { op, value } => {
                let field = if *op == "delete" { "key" } else { "row" };
                json!({ "op": op, field: value })
            }
            Observed::Ok(v) => json!({ "ok": v }),
            Observed::Err { kind, message } => {
                json!({ "err": { "kind": format!("{kind:?}"), "message": message } })
            }
            Observed::Call {
                module,
                reducer,
                args,
            } => json!({ "module": module, "reducer": reducer, "args": args }),
            Observed::Inputs(v) => json!(v),
            Observed::Text(s) => json!(s),
        }
    }
}

impl std::fmt::Display for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Observed::Nothing => f.write_str("nothing"),
            Observed::Mutation { op, value } => write!(f, "{op} {value}"),
            Observed::Ok(v) => write!(f, "Ok {v}"),
            Observed::Err { kind, message } => write!(f, "Err {kind:?}: {message}"),
            Observed::Call {
                module,
                reducer,
                args,
            } => write!(f, "{module}.{reducer}{args}"),
            Observed::Inputs(v) => write!(f, "[{}]", v.join(", ")),
            Observed::Text(s) => f.write_str(s),
        }
    }
}

/// What re-executing a transaction produced, in the log's encoding.
pub(crate) struct Reexecuted {
    pub outcome: Outcome,
    pub mutations: Vec<Mutation>,
    pub calls: Vec<OutboundCall>,
    pub nondet: Vec<Nondet>,
}

/// Every difference between the logged commit and its re-execution (empty
/// when they match byte for byte).
pub(crate) fn compare(
    schema: &ModuleSchema,
    peers: &OfflinePeers,
    logged: &CommitRecord,
    actual: &Reexecuted,
) -> Vec<Difference> {
    let mut out = Vec::new();
    let mutation = |m: &Mutation| observe_mutation(schema, m);
    list_diff(
        &mut out,
        &logged.mutations,
        &actual.mutations,
        |i, m| {
            let table = schema
                .tables
                .get(m.table as usize)
                .map_or_else(|| format!("#{}", m.table), |t| t.name.clone());
            format!("mutation {i} on table {table}")
        },
        mutation,
        "mutation",
    );
    list_diff(
        &mut out,
        &logged.calls,
        &actual.calls,
        |i, _| format!("call {i}"),
        |c| observe_call(peers, c),
        "call",
    );
    if !same_outcome(&logged.outcome, &actual.outcome) {
        let returns = schema
            .reducer(&logged.reducer)
            .map(|(_, r)| r.returns.clone());
        let observe = |o: &Outcome| match o {
            Outcome::Ok(v) => Observed::Ok(match &returns {
                Some(ty) => decode(ty, v),
                None => hex(v),
            }),
            Outcome::Err { kind, message, .. } => Observed::Err {
                kind: *kind,
                message: message.clone(),
            },
        };
        out.push(Difference {
            what: "outcome".into(),
            expected: observe(&logged.outcome),
            actual: observe(&actual.outcome),
        });
    }
    if logged.nondet != actual.nondet {
        let inputs = |v: &[Nondet]| Observed::Inputs(v.iter().map(describe_input).collect());
        out.push(Difference {
            what: "non-deterministic inputs used".into(),
            expected: inputs(&logged.nondet),
            actual: inputs(&actual.nondet),
        });
    }
    out
}

/// Equal outcomes, byte for byte — except that a read call that failed
/// live has no recorded result, so its re-execution fails with
/// [`UNRECORDED_READ`] in place of the logged read-call error.
fn same_outcome(logged: &Outcome, actual: &Outcome) -> bool {
    if logged == actual {
        return true;
    }
    match (logged, actual) {
        (
            Outcome::Err {
                // A read call that failed by running out of fuel or time is
                // logged with that kind.
                kind: ErrorKind::Host | ErrorKind::Budget | ErrorKind::Timeout,
                message: want,
                ..
            },
            Outcome::Err {
                kind: ErrorKind::Host,
                message: got,
                ..
            },
        ) => got
            .strip_suffix(UNRECORDED_READ)
            .and_then(|head| head.strip_suffix(": "))
            .is_some_and(|call| call.starts_with("read call to ") && want.starts_with(call)),
        _ => false,
    }
}

/// Index-wise differences of two lists, at most [`MAX_LISTED`], plus the
/// counts when they differ in length.
fn list_diff<T: PartialEq>(
    out: &mut Vec<Difference>,
    logged: &[T],
    actual: &[T],
    what: impl Fn(usize, &T) -> String,
    observe: impl Fn(&T) -> Observed,
    noun: &str,
) {
    let mut listed = 0;
    for i in 0..logged.len().max(actual.len()) {
        let (l, a) = (logged.get(i), actual.get(i));
        if l == a {
            continue;
        }
        if listed == MAX_LISTED {
            break;
        }
        listed += 1;
        let side = |x: Option<&T>| x.map_or(Observed::Nothing, &observe);
        out.push(Difference {
            what: what(i, l.or(a).expect("one side exists")),
            expected: side(l),
            actual: side(a),
        });
    }
    if logged.len() != actual.len() {
        let count =
            |n: usize| Observed::Text(format!("{n} {noun}{}", if n == 1 { "" } else { "s" }));
        out.push(Difference {
            what: format!("{noun} count"),
            expected: count(logged.len()),
            actual: count(actual.len()),
        });
    }
}

fn observe_mutation(schema: &ModuleSchema, m: &Mutation) -> Observed {
    let table = schema.tables.get(m.table as usize);
    let (op, value) = match &m.op {
        MutationOp::Insert(row) => ("insert", row_json(table.map(|t| t.row_type()), row)),
        MutationOp::Update(row) => ("update", row_json(table.map(|t| t.row_type()), row)),
        MutationOp::Delete(key) => ("delete", row_json(table.map(|t| t.key_type().clone()), key)),
    };
    Observed::Mutation { op, value }
}

fn row_json(ty: Option<Type>, bytes: &[u8]) -> Json {
    match ty {
        Some(ty) => decode(&ty, bytes),
        None => hex(bytes),
    }
}

fn observe_call(peers: &OfflinePeers, c: &OutboundCall) -> Observed {
    let params = peers
        .schema(&c.module, None)
        .and_then(|s| s.reducer(&c.reducer).map(|(_, r)| params_type(r)));
    Observed::Call {
        module: c.module.clone(),
        reducer: c.reducer.clone(),
        args: row_json(params, &c.args),
    }
}

fn describe_input(n: &Nondet) -> String {
    match n {
        Nondet::Now(t) => format!("now {t}"),
        Nondet::RngSeed(s) => format!("rng seed {}…", hex_str(&s[..4])),
        Nondet::ReadCall {
            module, reducer, ..
        } => format!("read {module}.{reducer}"),
        Nondet::Timestamp(ts) => format!("timestamp {ts}"),
    }
}

/// CBOR decoded with its type, as JSON; hex if it does not decode.
fn decode(ty: &Type, bytes: &[u8]) -> Json {
    match Value::decode_exact(ty, bytes) {
        Ok(v) => v.to_json(ty),
        Err(_) => hex(bytes),
    }
}

fn hex(bytes: &[u8]) -> Json {
    Json::String(format!("0x{}", hex_str(bytes)))
}

fn hex_str(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
