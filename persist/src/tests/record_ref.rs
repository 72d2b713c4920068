//! Borrowed views of entries agree with the owned decoding
//! ([`crate::record_ref`]).

use crate::record::LogEntry;
use interstice_abi::cbor::{Reader, Writer};
use proptest::prelude::*;

use crate::record::{decode_entry, entry_to_vec, KIND_COMMIT};
use crate::record_ref::*;
use crate::tests::support::{arb_entry, sample_entry};

/// Decodes `bytes` both ways; both must agree on the entry (or the exact
/// error) and on where they stopped.
fn both_ways(bytes: &[u8]) -> std::result::Result<LogEntry, String> {
    let (mut ro, mut rr) = (Reader::new(bytes), Reader::new(bytes));
    let owned = decode_entry(&mut ro);
    let borrowed = decode_entry_ref(&mut rr);
    match (owned, borrowed) {
        (Ok(o), Ok(b)) => {
            assert_eq!(ro.position(), rr.position());
            assert_eq!(b.ts(), o.ts());
            assert_eq!(b.into_owned(), o);
            Ok(o)
        }
        (Err(eo), Err(eb)) => {
            assert_eq!(eo.to_string(), eb.to_string());
            Err(eo.to_string())
        }
        (o, b) => panic!("the decoders disagree: owned {o:?}, borrowed {b:?}"),
    }
}

#[test]
fn sample_entries_decode_the_same_both_ways() {
    for i in 0..50 {
        let e = sample_entry(i + 1, i as usize);
        assert_eq!(both_ways(&entry_to_vec(&e)), Ok(e));
    }
}

#[test]
fn a_commit_view_borrows_the_payload() {
    let e = sample_entry(5, 1);
    let LogEntry::Commit(c) = &e else {
        panic!("sample 1 is a commit")
    };
    let bytes = entry_to_vec(&e);
    let LogEntryRef::Commit(v) = decode_entry_ref(&mut Reader::new(&bytes)).unwrap() else {
        panic!("decoded an install")
    };
    assert_eq!((v.ts, v.module, v.reducer), (5, &*c.module, &*c.reducer));
    assert_eq!(v.args, &c.args[..]);
    assert_eq!(v.mutations.len(), c.mutations.len());
    for (m, o) in v.mutations.iter().zip(&c.mutations) {
        assert_eq!((m.table, m.op), (o.table, o.op.as_ref()));
    }
    let range = bytes.as_ptr_range();
    assert!(range.contains(&v.module.as_ptr()) || v.module.is_empty());
    assert!(range.contains(&v.args.as_ptr()) || v.args.is_empty());
}

#[test]
fn malformed_commits_give_the_same_specific_error_both_ways() {
    let commit_head = |w: &mut Writer| {
        w.array(11);
        w.u64(KIND_COMMIT);
        w.u64(3);
        w.str("m");
        w.bytes(&[0; 32]);
        w.str("r");
        w.bytes(&[0x80]);
        w.array(1);
        w.u64(0);
        w.array(0);
    };
    // Unknown mutation op tag.
    let mut w = Writer::new();
    commit_head(&mut w);
    w.array(2);
    w.u64(0);
    w.bytes(&[0xf6]);
    w.array(1);
    w.array(3);
    w.u64(0);
    w.u64(7);
    w.bytes(&[0x80]);
    w.array(0);
    let err = both_ways(w.as_slice()).unwrap_err();
    assert!(err.contains("unknown mutation op tag 7"), "{err}");
    // A table index past u32.
    let mut w = Writer::new();
    commit_head(&mut w);
    w.array(2);
    w.u64(0);
    w.bytes(&[0xf6]);
    w.array(1);
    w.array(3);
    w.u64(u64::from(u32::MAX) + 1);
    w.u64(1);
    w.bytes(&[0x80]);
    w.array(0);
    let err = both_ways(w.as_slice()).unwrap_err();
    assert!(err.contains("table index 4294967296 does not fit"), "{err}");
    // Unknown outcome tag, and an unknown error kind.
    for (tag, code, want) in [
        (5, 0, "unknown outcome tag 5"),
        (1, 9, "unknown error kind code 9"),
    ] {
        let mut w = Writer::new();
        commit_head(&mut w);
        w.array(3);
        w.u64(tag);
        w.u64(code);
        w.str("msg");
        w.array(0);
        w.array(0);
        let err = both_ways(w.as_slice()).unwrap_err();
        assert!(err.contains(want), "{err}");
    }
    // A module name that is not UTF-8.
    let mut w = Writer::new();
    w.array(11);
    w.u64(KIND_COMMIT);
    w.u64(3);
    let mut bytes = w.into_vec();
    bytes.extend_from_slice(&[0x61, 0xff]);
    assert!(both_ways(&bytes).is_err());
}

#[test]
fn every_truncation_fails_the_same_way_both_ways() {
    for i in 0..14 {
        let bytes = entry_to_vec(&sample_entry(9, i));
        for cut in 0..bytes.len() {
            assert!(both_ways(&bytes[..cut]).is_err());
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_entries_decode_the_same_both_ways(e in arb_entry()) {
        prop_assert_eq!(both_ways(&entry_to_vec(&e)), Ok(e));
    }

    #[test]
    fn arbitrary_bytes_decode_the_same_both_ways(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = both_ways(&bytes);
    }

    #[test]
    fn mutated_encodings_decode_the_same_both_ways(
        e in arb_entry(),
        idx in any::<usize>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = entry_to_vec(&e);
        if !bytes.is_empty() {
            let i = idx % bytes.len();
            bytes[i] = byte;
        }
        let _ = both_ways(&bytes);
    }
}
