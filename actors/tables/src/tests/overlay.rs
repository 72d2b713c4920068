use crate::*;
use interstice_abi::codec::field;
use interstice_abi::{IntersticeType, Persistence, TableSchema, Type};
use interstice_persist::{MutationOp, MutationOpRef};

/// splitmix64: a deterministic sequence for the tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn schemas() -> Vec<TableSchema> {
    let table = |name: &str, key: Type, auto_inc, persistence| TableSchema {
        name: name.into(),
        version: 1,
        columns: vec![field("id", key), field("n", Type::U64)],
        primary_key: 0,
        auto_inc,
        persistence,
        indexes: vec![],
        defaults: vec![],
        storage: Default::default(),
    };
    vec![
        table("accounts", Type::U64, true, Persistence::Logged),
        table("names", Type::String, false, Persistence::Logged),
        table("scratch", Type::U64, false, Persistence::Ephemeral),
    ]
}

/// A key of table `t`: small u64s, or strings of 0 to 20 bytes (around
/// the 8-byte inline head), many sharing a prefix.
fn key_value(rng: &mut Rng, t: u32) -> Vec<u8> {
    let k = rng.below(300);
    if t == 1 {
        let s = match k % 4 {
            0 => String::new(),
            1 => format!("{k}"),
            2 => format!("account-{k}"),
            _ => format!("account-{k:0>12}"),
        };
        s.to_bytes()
    } else {
        k.to_bytes()
    }
}

fn random_op(rng: &mut Rng) -> (u32, MutationOp) {
    // Table 3 does not exist.
    let t = [0, 0, 1, 1, 2, 3][rng.below(6) as usize];
    let n = match rng.below(3) {
        0 => rng.below(20),
        1 => rng.below(1 << 20),
        _ => rng.next(),
    };
    let row = |rng: &mut Rng| {
        let mut kv = key_value(rng, t);
        // `[key, n]`: 0x82, the key, then n.
        let mut row = vec![0x82];
        row.append(&mut kv);
        row.extend_from_slice(&n.to_bytes());
        row
    };
    let op = match rng.below(20) {
        0..=6 => MutationOp::Insert(row(rng)),
        7..=13 => MutationOp::Update(row(rng)),
        14..=16 => MutationOp::Delete(key_value(rng, t)),
        // Bad rows and keys: wrong arity, wrong key type, trailing
        // bytes after a key value.
        17 => MutationOp::Insert(vec![0x80]),
        18 => MutationOp::Update(("x".to_string(), 1u64).to_bytes()),
        _ => {
            let mut kv = key_value(rng, t);
            kv.push(0);
            MutationOp::Delete(kv)
        }
    };
    (t, op)
}

fn hash(t: &Tables) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    t.state_hash(&mut h);
    h.finalize()
}

/// Quiet mutations through the overlay, observed ones (`apply_logged`)
/// and reads interleaved at random: every result and every state equal
/// those of applying each mutation to the tables directly.
#[test]
fn overlay_matches_direct_application() {
    let s = schemas();
    for seed in 0..4u64 {
        let mut rng = Rng(seed);
        let mut direct = Tables::new(&s);
        let mut over = ReplayTables::new(Tables::new(&s));
        // Phases with frequent and rare reads, so flushes are both
        // small against the tables (write by write) and large (merge).
        for step in 0..30_000 {
            let read_every = [3, 40, 400, 4000][(step / 7_500) as usize];
            if rng.below(read_every) == 0 {
                let flushed = over.tables();
                assert_eq!(hash(flushed), hash(&direct), "seed {seed} step {step}");
                assert_eq!(flushed.export_logged(), direct.export_logged());
                assert_eq!(flushed.row_counts(), direct.row_counts());
                assert_eq!(over.pending(), 0);
            }
            let (t, op) = random_op(&mut rng);
            if rng.below(50) == 0 {
                // An observed commit's mutation.
                let a = direct.apply_logged(t, &op);
                let b = over.tables_mut().apply_logged(t, &op);
                assert_eq!(
                    format!("{a:?}"),
                    format!("{b:?}"),
                    "seed {seed} step {step}"
                );
            } else {
                let a = direct.apply_logged_quiet(t, op.as_ref());
                let b = over.apply_quiet(t, op.as_ref());
                assert_eq!(
                    format!("{a:?}"),
                    format!("{b:?}"),
                    "seed {seed} step {step}"
                );
            }
        }
        let last = over.into_tables();
        assert_eq!(hash(&last), hash(&direct));
        assert_eq!(last.export_logged(), direct.export_logged());
        assert_eq!(last.row_counts(), direct.row_counts());
    }
}

#[test]
fn delete_then_insert_and_errors_through_the_overlay() {
    let s = schemas();
    let mut over = ReplayTables::new(Tables::new(&s));
    let row = |k: u64, n: u64| (k, n).to_bytes();
    over.apply_quiet(0, MutationOpRef::Insert(&row(7, 1)))
        .unwrap();
    over.apply_quiet(0, MutationOpRef::Delete(&7u64.to_bytes()))
        .unwrap();
    over.apply_quiet(0, MutationOpRef::Insert(&row(7, 2)))
        .unwrap();
    // Updated again (a longer row): the last write of a key wins.
    over.apply_quiet(0, MutationOpRef::Update(&row(7, 1 << 40)))
        .unwrap();
    // A delete of a key that was never there does nothing.
    over.apply_quiet(0, MutationOpRef::Delete(&8u64.to_bytes()))
        .unwrap();
    assert!(over.pending() > 0);
    let e = over
        .apply_quiet(5, MutationOpRef::Insert(&row(1, 1)))
        .unwrap_err();
    assert!(
        format!("{e:?}").contains("table id 5 out of range"),
        "{e:?}"
    );
    assert!(over.apply_quiet(0, MutationOpRef::Insert(&[0x80])).is_err());
    let tables = over.into_tables();
    assert_eq!(tables.row_counts()[0], ("accounts".into(), 1));
    let got = tables.get(0, &7u64.to_bytes()).unwrap().unwrap();
    assert_eq!(<(u64, u64)>::from_bytes(&got).unwrap(), (7, 1 << 40));
    // The counter saw every logged key, including the deleted 7 and
    // the update.
    assert_eq!(tables.table(0).unwrap().next_auto_inc(), 8);
}
