//! The columnar store against the row store: the same random writes,
//! rollbacks, logged mutations, queries, filters and aggregates on a table
//! of each kind give the same answers, the same exported rows and the same
//! state hash; and converting between them keeps every row.

use interstice_abi::cbor::Writer;
use interstice_abi::codec::field;
use interstice_abi::query as q;
use interstice_abi::{IndexKind, IndexSchema, Persistence, Storage, TableSchema, Type};
use interstice_persist::MutationOpRef;

use crate::tests::Rng;
use crate::*;

/// `items (id u64, owner String, n i32, sku u64, price i64, w f64,
/// d Option<u32>, f f32, big i128, flag bool)` with every index kind.
fn schema(storage: Storage) -> Vec<TableSchema> {
    let ix = |name: &str, columns: Vec<u32>, kind| IndexSchema {
        name: name.into(),
        columns,
        kind,
    };
    vec![TableSchema {
        name: "items".into(),
        version: 1,
        columns: vec![
            field("id", Type::U64),
            field("owner", Type::String),
            field("n", Type::I32),
            field("sku", Type::U64),
            field("price", Type::I64),
            field("w", Type::F64),
            field("d", Type::Option(Box::new(Type::U32))),
            field("f", Type::F32),
            field("big", Type::I128),
            field("flag", Type::Bool),
        ],
        primary_key: 0,
        auto_inc: true,
        persistence: Persistence::Logged,
        indexes: vec![
            ix("by_owner", vec![1], IndexKind::BTree),
            ix("by_n", vec![2], IndexKind::Hash),
            ix("by_sku", vec![3], IndexKind::Unique),
            ix("by_owner_n", vec![1, 2], IndexKind::BTree),
        ],
        defaults: vec![],
        storage,
    }]
}

const OWNERS: [&str; 4] = ["", "a", "ab", "b"];
const FLOATS: [f64; 6] = [0.0, -0.0, 1.5, -2.25, f64::INFINITY, f64::NAN];

fn row(rng: &mut Rng) -> Vec<u8> {
    let mut w = Writer::new();
    w.array(10);
    // Key 0 is auto-assigned.
    w.u64(rng.below(40));
    w.str(OWNERS[rng.below(4) as usize]);
    w.i64(rng.below(7) as i64 - 3);
    w.u64(rng.below(60));
    w.i64((rng.below(2001) as i64 - 1000) * 1_000_000_007);
    w.f64(FLOATS[rng.below(6) as usize]);
    match rng.below(3) {
        0 => w.null(),
        _ => w.u64(rng.below(u64::from(u32::MAX))),
    }
    w.f32(FLOATS[rng.below(6) as usize] as f32);
    w.i128(match rng.below(3) {
        0 => i128::MAX / 2,
        1 => i128::MIN / 2,
        _ => rng.below(100) as i128 - 50,
    });
    w.bool(rng.below(2) == 0);
    w.into_vec()
}

fn key(id: u64) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(id);
    w.into_vec()
}

/// A random comparison or `is_none` on a column, or a combination.
fn filter(rng: &mut Rng, w: &mut Writer, depth: u32) {
    let kind = if depth > 1 {
        rng.below(2)
    } else {
        rng.below(5)
    };
    match kind {
        0 | 1 => {
            let col = rng.below(10);
            w.array(3);
            w.u64(rng.below(6)); // eq … ge
            w.u64(col);
            match col {
                0 | 3 => w.u64(rng.below(60)),
                1 => w.str(OWNERS[rng.below(4) as usize]),
                2 => w.i64(rng.below(7) as i64 - 3),
                4 => w.i64((rng.below(2001) as i64 - 1000) * 1_000_000_007),
                5 => w.f64(FLOATS[rng.below(6) as usize]),
                6 => w.u64(rng.below(u64::from(u32::MAX))),
                7 => w.f32(FLOATS[rng.below(6) as usize] as f32),
                8 => w.i128(rng.below(100) as i128 - 50),
                _ => w.bool(rng.below(2) == 0),
            }
        }
        2 => {
            w.array(2);
            w.u64(q::OP_IS_NONE);
            w.u64(6);
        }
        3 => {
            w.array(2);
            w.u64(if rng.below(2) == 0 {
                q::OP_AND
            } else {
                q::OP_OR
            });
            let n = rng.below(3) as usize;
            w.array(n);
            for _ in 0..n {
                filter(rng, w, depth + 1);
            }
        }
        _ => {
            w.array(2);
            w.u64(q::OP_NOT);
            filter(rng, w, depth + 1);
        }
    }
}

/// A random query: the primary key or an index, random bounds, maybe a
/// filter.
fn query(rng: &mut Rng, w: &mut Writer) {
    w.array(4);
    let bound = |rng: &mut Rng, w: &mut Writer, value: &dyn Fn(&mut Rng, &mut Writer)| {
        if rng.below(3) == 0 {
            w.null();
        } else {
            w.array(2);
            w.u64(rng.below(2));
            w.array(1);
            value(rng, w);
        }
    };
    match rng.below(4) {
        0 | 1 => {
            w.null();
            let v = |rng: &mut Rng, w: &mut Writer| w.u64(rng.below(45));
            bound(rng, w, &v);
            bound(rng, w, &v);
        }
        2 => {
            w.u64(0); // by_owner
            let v = |rng: &mut Rng, w: &mut Writer| w.str(OWNERS[rng.below(4) as usize]);
            bound(rng, w, &v);
            bound(rng, w, &v);
        }
        _ => {
            w.u64(1); // by_n (hash): equality only
            let n = rng.below(7) as i64 - 3;
            for _ in 0..2 {
                w.array(2);
                w.u64(q::BOUND_INCLUDED);
                w.array(1);
                w.i64(n);
            }
        }
    }
    if rng.below(2) == 0 {
        w.null();
    } else {
        filter(rng, w, 0);
    }
}

/// Every page of a query, or its error.
fn pages(t: &Tables, bytes: &[u8]) -> Result<Vec<(Vec<u8>, u64)>, String> {
    let mut cursor = Cursor::open(t, 0, bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    loop {
        let page = t
            .query_page(&mut cursor, 3, &mut buf)
            .map_err(|e| e.to_string())?;
        if !page.filled {
            out.push((Vec::new(), page.examined));
            return Ok(out);
        }
        out.push((buf.clone(), page.examined));
    }
}

fn hash(t: &Tables) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    t.state_hash(&mut h);
    *h.finalize().as_bytes()
}

/// Asserts the two tables answer everything alike.
fn same(rows: &Tables, cols: &Tables, rng: &mut Rng, what: &str) {
    assert_eq!(hash(rows), hash(cols), "{what}: state hash");
    assert_eq!(
        rows.export_logged()[0].rows,
        cols.export_logged()[0].rows,
        "{what}: exported rows"
    );
    assert_eq!(rows.table(0).unwrap().len(), cols.table(0).unwrap().len());
    for id in 0..45 {
        assert_eq!(
            rows.get(0, &key(id)).unwrap(),
            cols.get(0, &key(id)).unwrap(),
            "{what}: get {id}"
        );
    }
    let mut after: Option<Vec<u8>> = None;
    loop {
        let a = rows.table(0).unwrap().next_after(after.as_deref());
        let b = cols.table(0).unwrap().next_after(after.as_deref());
        assert_eq!(a, b, "{what}: scan");
        let Some((k, _)) = a else { break };
        after = Some(k.to_vec());
    }
    for _ in 0..12 {
        let mut w = Writer::new();
        query(rng, &mut w);
        let qb = w.into_vec();
        assert_eq!(
            pages(rows, &qb),
            pages(cols, &qb),
            "{what}: query {qb:02x?}"
        );
        for op in [q::AGG_COUNT, q::AGG_SUM, q::AGG_MIN, q::AGG_MAX] {
            for column in [2, 4, 5, 6, 7, 8, 3, 1, 9] {
                let mut w = Writer::new();
                w.array(3);
                w.raw(&qb);
                w.u64(op);
                w.u64(column);
                let ab = w.into_vec();
                let (a, b) = (rows.aggregate(0, &ab), cols.aggregate(0, &ab));
                assert_eq!(
                    format!("{a:?}"),
                    format!("{b:?}"),
                    "{what}: aggregate {op} of column {column} over {qb:02x?}"
                );
            }
        }
    }
}

#[test]
fn a_columnar_table_answers_as_a_row_table() {
    let mut rows = Tables::new(&schema(Storage::Rows));
    let mut cols = Tables::new(&schema(Storage::Columnar));
    assert_eq!(rows.table(0).unwrap().storage(), Storage::Rows);
    assert_eq!(cols.table(0).unwrap().storage(), Storage::Columnar);
    let mut rng = Rng(11);
    let mut logged: Vec<(bool, Vec<u8>)> = Vec::new();
    for round in 0..150 {
        rows.begin();
        cols.begin();
        for _ in 0..rng.below(8) {
            let r = row(&mut rng);
            let id = rng.below(40);
            let (a, b) = match rng.below(4) {
                0 | 1 => (
                    rows.insert(0, &r)
                        .map(|r| r.to_vec())
                        .map_err(|e| e.to_string()),
                    cols.insert(0, &r)
                        .map(|r| r.to_vec())
                        .map_err(|e| e.to_string()),
                ),
                2 => (
                    rows.update(0, &r)
                        .map(|b| vec![b as u8])
                        .map_err(|e| e.to_string()),
                    cols.update(0, &r)
                        .map(|b| vec![b as u8])
                        .map_err(|e| e.to_string()),
                ),
                _ => (
                    rows.delete(0, &key(id))
                        .map(|b| vec![b as u8])
                        .map_err(|e| e.to_string()),
                    cols.delete(0, &key(id))
                        .map(|b| vec![b as u8])
                        .map_err(|e| e.to_string()),
                ),
            };
            assert_eq!(a, b, "round {round}: a write");
        }
        // Reads inside the transaction see its writes alike.
        same(&rows, &cols, &mut rng, &format!("round {round}, open"));
        if round % 4 == 0 {
            rows.rollback();
            cols.rollback();
        } else {
            let (a, b) = (rows.commit(), cols.commit());
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                assert_eq!((&x.key, &x.old, &x.new), (&y.key, &y.old, &y.new));
                match &x.new {
                    Some(r) => logged.push((false, r.to_vec())),
                    None => logged.push((true, x.key_value.to_vec())),
                }
            }
        }
        same(&rows, &cols, &mut rng, &format!("round {round}"));
    }
    assert!(rows.table(0).unwrap().len() > 10, "the workload keeps rows");

    // Replay: one mutation at a time, and through the overlay.
    let mut direct = Tables::new(&schema(Storage::Columnar));
    let mut overlay = ReplayTables::new(Tables::new(&schema(Storage::Columnar)));
    for (delete, bytes) in &logged {
        let op = if *delete {
            MutationOpRef::Delete(bytes)
        } else {
            MutationOpRef::Update(bytes)
        };
        direct.apply_logged_quiet(0, op).unwrap();
        overlay.apply_quiet(0, op).unwrap();
    }
    same(&rows, &direct, &mut rng, "replayed one by one");
    same(
        &rows,
        &overlay.into_tables(),
        &mut rng,
        "replayed through the overlay",
    );

    // A snapshot of either restores as either.
    for (from, to) in [(&rows, Storage::Columnar), (&cols, Storage::Rows)] {
        let back = Tables::restore(&schema(to), &from.export_logged()).unwrap();
        assert_eq!(back.table(0).unwrap().storage(), to);
        same(&rows, &back, &mut rng, "restored");
        same(&back, &cols, &mut rng, "restored");
    }

    // An upgrade that changes the storage converts the rows, both ways.
    let mut up = rows.clone();
    up.remap(&schema(Storage::Columnar));
    assert_eq!(up.table(0).unwrap().storage(), Storage::Columnar);
    same(&up, &cols, &mut rng, "converted to columnar");
    up.remap(&schema(Storage::Rows));
    assert_eq!(up.table(0).unwrap().storage(), Storage::Rows);
    same(&rows, &up, &mut rng, "converted back");
}

/// A whole-table sum over a columnar table reads the column vector; with
/// deletes in the middle (slots moved) it still counts every row once.
#[test]
fn columnar_sums_follow_deletes() {
    let mut t = Tables::new(&schema(Storage::Columnar));
    let mut rng = Rng(3);
    t.begin();
    let mut expected: std::collections::BTreeMap<u64, i64> = Default::default();
    for sku in 0..50u64 {
        let mut r = row(&mut rng);
        // A fresh sku each (unique index), the key auto-assigned.
        let mut w = Writer::new();
        w.array(10);
        w.u64(0);
        w.str("a");
        w.i64(0);
        w.u64(sku);
        w.i64(sku as i64 * 3 - 20);
        r.drain(..1);
        let stored = t.insert(
            0,
            &w.into_vec().into_iter().chain(tail(&r)).collect::<Vec<_>>(),
        );
        let id = interstice_abi::cbor::Reader::new(&stored.unwrap()[1..])
            .u64()
            .unwrap();
        expected.insert(id, sku as i64 * 3 - 20);
    }
    for id in [1u64, 17, 50, 25] {
        assert!(t.delete(0, &key(id)).unwrap());
        expected.remove(&id);
    }
    t.commit();
    let mut w = Writer::new();
    w.array(3);
    w.array(4);
    for _ in 0..4 {
        w.null();
    }
    w.u64(q::AGG_SUM);
    w.u64(4);
    let sum = t.aggregate(0, &w.into_vec()).unwrap();
    let mut want = Writer::new();
    want.i128(expected.values().map(|v| i128::from(*v)).sum());
    assert_eq!(sum.value, want.into_vec());
    assert_eq!(sum.examined, 46);
}

/// The columns after `price` (5 of them) of a row made by [`row`], whose
/// array head was removed.
fn tail(r: &[u8]) -> Vec<u8> {
    let mut rd = interstice_abi::cbor::Reader::new(r);
    for _ in 0..5 {
        rd.skip().unwrap();
    }
    r[rd.position()..].to_vec()
}
