//! The fault-injecting, crashable in-memory storage (`FaultyStorage`).

use crate::storage::*;
use std::io;

fn write_synced_then_unsynced(s: &FaultyStorage) {
    let mut f = s.create("a").unwrap();
    f.append(b"0123").unwrap();
    f.sync().unwrap();
    f.append(b"456789").unwrap();
}

#[test]
fn crash_drops_unsynced_bytes_and_stales_handles() {
    let s = FaultyStorage::new();
    let mut f = s.create("a").unwrap();
    f.append(b"0123").unwrap();
    f.sync().unwrap();
    f.append(b"456789").unwrap();
    assert_eq!(s.file("a").unwrap(), b"0123456789");
    assert_eq!(s.synced_len("a"), Some(4));

    s.crash(CrashMode::DropUnsynced);
    assert_eq!(s.file("a").unwrap(), b"0123");
    let err = f.append(b"x").unwrap_err();
    assert!(err.to_string().contains("stale"), "{err}");
    assert!(f.sync().is_err());
    // A fresh handle works.
    let mut g = s.open_append("a").unwrap();
    assert_eq!(g.len(), 4);
    g.append(b"4").unwrap();
    assert_eq!(s.file("a").unwrap(), b"01234");
}

#[test]
fn torn_crash_keeps_a_prefix_of_the_unsynced_bytes() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let s = FaultyStorage::with_plan(FaultPlan::seeded(seed));
        write_synced_then_unsynced(&s);
        s.crash(CrashMode::TornUnsynced);
        let data = s.file("a").unwrap();
        assert!(b"0123456789".starts_with(&data), "seed {seed}: {data:?}");
        assert!(data.len() >= 4);
        seen.insert(data.len());
    }
    assert!(seen.len() > 3, "torn lengths should vary: {seen:?}");
}

#[test]
fn zero_fill_crash_keeps_synced_bytes_and_zeroes_a_suffix() {
    let mut saw_zero = false;
    for seed in 0..64 {
        let s = FaultyStorage::with_plan(FaultPlan::seeded(seed));
        write_synced_then_unsynced(&s);
        s.crash(CrashMode::TornZeroFill);
        let data = s.file("a").unwrap();
        assert_eq!(&data[..4], b"0123");
        let tail = &data[4..];
        let nz = tail.iter().position(|b| *b == 0).unwrap_or(tail.len());
        assert!(b"456789".starts_with(&tail[..nz]));
        assert!(tail[nz..].iter().all(|b| *b == 0));
        saw_zero |= nz < tail.len();
    }
    assert!(saw_zero);
}

#[test]
fn zero_fill_starts_at_the_synced_end_or_a_sector_boundary() {
    let mut starts = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let s = FaultyStorage::with_plan(FaultPlan::seeded(seed));
        let mut f = s.create("a").unwrap();
        f.append(&[0xff; 100]).unwrap();
        f.sync().unwrap();
        f.append(&[0xff; 2000]).unwrap();
        s.crash(CrashMode::TornZeroFill);
        let data = s.file("a").unwrap();
        let Some(z) = data.iter().position(|b| *b == 0) else {
            continue;
        };
        assert!(data[z..].iter().all(|b| *b == 0), "seed {seed}");
        assert!(z == 100 || z % 512 == 0, "seed {seed}: zeros from {z}");
        starts.insert(z);
    }
    assert!(starts.len() > 2, "{starts:?}");
}

#[test]
fn process_crash_keeps_everything() {
    let s = FaultyStorage::new();
    write_synced_then_unsynced(&s);
    s.crash(CrashMode::KeepAll);
    assert_eq!(s.file("a").unwrap(), b"0123456789");
    assert_eq!(s.synced_len("a"), Some(4));
}

#[test]
fn directory_changes_need_sync_dir() {
    let s = FaultyStorage::new();
    let mut f = s.create("a").unwrap();
    f.append(b"x").unwrap();
    f.sync().unwrap();
    s.rename("a", "b").unwrap();
    s.crash(CrashMode::DropUnsynced);
    assert_eq!(s.names(), vec!["a".to_string()]);

    s.rename("a", "b").unwrap();
    s.sync_dir().unwrap();
    s.remove("b").unwrap();
    s.crash(CrashMode::DropUnsynced);
    assert_eq!(s.names(), vec!["b".to_string()]);
    assert_eq!(s.file("b").unwrap(), b"x");
}

#[test]
fn failed_create_leaves_a_non_durable_file() {
    let s = FaultyStorage::with_plan(FaultPlan::none().fail_nth(Op::Create, 1, Fault::Error));
    assert!(s.create("a").is_err());
    assert_eq!(s.names(), vec!["a".to_string()]);
    s.crash(CrashMode::DropUnsynced);
    assert!(s.names().is_empty());
}

#[test]
fn nth_sync_fails_and_keeps_data_unsynced() {
    let s = FaultyStorage::with_plan(FaultPlan::none().fail_nth(Op::Sync, 2, Fault::Error));
    let mut f = s.create("a").unwrap();
    f.append(b"ab").unwrap();
    f.sync().unwrap();
    f.append(b"cd").unwrap();
    assert!(f.sync().is_err());
    assert_eq!(s.synced_len("a"), Some(2));
    // Only the 2nd call fails.
    f.sync().unwrap();
    assert_eq!(s.synced_len("a"), Some(4));
    assert_eq!(
        s.injected(),
        vec![InjectedFault {
            op: Op::Sync,
            nth: 2,
            name: "a".into(),
            fault: Fault::Error
        }]
    );
    assert_eq!(s.count(Op::Sync), 3);
}

#[test]
fn short_write_writes_a_strict_prefix() {
    for seed in 0..32 {
        let plan = FaultPlan::seeded(seed).fail_nth(Op::Write, 1, Fault::ShortWrite);
        let s = FaultyStorage::with_plan(plan);
        let mut f = s.create("a").unwrap();
        assert!(f.append(b"abcdefgh").is_err());
        let data = s.file("a").unwrap();
        assert!(data.len() < 8 && b"abcdefgh".starts_with(&data));
        assert_eq!(f.len(), data.len() as u64);
    }
}

#[test]
fn no_space_fault_and_capacity_limit() {
    let s = FaultyStorage::with_plan(FaultPlan::none().fail_from(Op::Write, 2, Fault::NoSpace));
    let mut f = s.create("a").unwrap();
    f.append(b"ok").unwrap();
    let err = f.append(b"more").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    assert!(f.append(b"again").is_err());

    let s = FaultyStorage::new();
    s.set_capacity(Some(5));
    let mut f = s.create("a").unwrap();
    f.append(b"abc").unwrap();
    let err = f.append(b"defg").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    assert_eq!(s.file("a").unwrap(), b"abcde");
}

#[test]
fn random_faults_are_deterministic_per_seed() {
    let run = |seed| {
        let plan = FaultPlan::seeded(seed).fail_randomly(Op::Write, 0.3, Fault::ShortWrite);
        let s = FaultyStorage::with_plan(plan);
        let mut f = s.create("a").unwrap();
        let results: Vec<bool> = (0..40).map(|_| f.append(b"0123456789").is_ok()).collect();
        (results, s.file("a").unwrap())
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
    let (results, _) = run(11);
    let failures = results.iter().filter(|ok| !**ok).count();
    assert!((3..=25).contains(&failures), "{failures} failures of 40");
}

#[test]
fn truncate_is_durable_and_put_modify_stage_files() {
    let s = FaultyStorage::new();
    s.put("a", b"hello world".to_vec());
    s.truncate("a", 5).unwrap();
    s.crash(CrashMode::DropUnsynced);
    assert_eq!(s.file("a").unwrap(), b"hello");
    assert!(s.modify("a", |d| d[0] = b'j'));
    assert_eq!(s.read("a").unwrap(), b"jello");
    assert!(!s.modify("missing", |_| {}));
    assert_eq!(
        s.read("missing").unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}
