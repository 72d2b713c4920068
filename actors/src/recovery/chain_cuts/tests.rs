//! Unit tests of `chain_cuts`: the cut it derives is where the router's
//! own `route` drops deliveries.

use super::*;
use crate::recovery::deliveries::{route, DeliveryLimits, FanOut, RoutedCommit};
use interstice_persist::Mutation;
use interstice_tables::Change;

/// `src` with table `a` and a trigger on its inserts.
fn looping() -> ModuleSchema {
    crate::recovery::deliveries::tests::schema("src", &["a"], &[("on_a", "a")])
}

fn commit(ts: u64, cause: Cause, inserts: usize) -> CommitRecord {
    CommitRecord {
        ts,
        module: "src".into(),
        schema_hash: [0; 32],
        reducer: "on_a".into(),
        args: vec![0x80],
        cause,
        nondet: vec![],
        outcome: Outcome::Ok(vec![0xf6]),
        mutations: (0..inserts)
            .map(|i| Mutation {
                table: 0,
                op: MutationOp::Insert(vec![0x81, i as u8]),
            })
            .collect(),
        calls: vec![],
        wall_micros: None,
    }
}

#[test]
fn the_cut_is_where_the_router_drops_a_chain() {
    let schema = looping();
    let limits = Limits::default().with_max_trigger_depth(3);
    let mut cuts = ChainCuts::new(&limits);
    cuts.install(&schema);
    let mut subs = Subscriptions::default();
    subs.add_module(&schema);
    let mut fanout = FanOut::default();
    // Each commit inserts two rows: two deliveries, of which the chain
    // follows the first (the second is consumed by a failed commit).
    let mut cause = Cause::External;
    let (mut depth, mut root) = (0, None);
    let mut ts = 1;
    let mut found = Vec::new();
    loop {
        let c = commit(ts, cause.clone(), 2);
        let changes: Vec<Change> = (0..2)
            .map(|i| Change {
                table: 0,
                event: RowEvent::Insert,
                key: Box::default(),
                old: None,
                new: Some(vec![0x81, i].into_boxed_slice()),
                key_value: Box::default(),
            })
            .collect();
        let (kept, dropped) = route(
            &subs,
            &mut fanout,
            DeliveryLimits::from(&limits),
            RoutedCommit {
                module: "src",
                schema: &schema,
                ts,
                depth,
                root,
                ok: true,
                calls: &[],
                changes: &changes,
                reply: None,
            },
        );
        let cut = cuts.commit(&c, &schema);
        found.push((ts, dropped, cut));
        if dropped > 0 {
            break;
        }
        assert_eq!(kept.len(), 2);
        // The second delivery fails: consumed, causes nothing.
        let mut failed = commit(ts + 1, kept[1].1.cause.clone(), 0);
        failed.outcome = Outcome::Err {
            kind: interstice_persist::ErrorKind::Trap,
            message: "x".into(),
            value: None,
        };
        assert_eq!(cuts.commit(&failed, &schema), None);
        cause = kept[0].1.cause.clone();
        depth = kept[0].1.depth;
        root = kept[0].1.root;
        ts += 2;
    }
    let (last_ts, dropped, cut) = *found.last().expect("a cut");
    assert_eq!(dropped, 2);
    assert_eq!(
        cut,
        Some(ChainCut {
            ts: last_ts,
            dropped: 2,
            depth: 4,
            max_depth: 3
        })
    );
    assert!(found[..found.len() - 1].iter().all(|(_, _, c)| c.is_none()));
    assert_eq!(found.len(), 4, "depths 0, 1, 2 route; depth 3 is cut");
    assert_eq!(cuts.in_flight(), 0, "every delivery was consumed");
}
