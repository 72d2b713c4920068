//! Segment and batch headers, file names and the hash chain
//! ([`crate::segment`]).

use crate::segment::*;

#[test]
fn names_are_zero_padded_and_parse_back() {
    assert_eq!(segment_name(1), "00000000000000000001.log");
    assert_eq!(segment_name(u64::MAX), "18446744073709551615.log");
    assert_eq!(parse_segment_name("00000000000000000042.log"), Some(42));
    assert_eq!(parse_segment_name("42.log"), None);
    assert_eq!(parse_segment_name("0000000000000000004x.log"), None);
    assert_eq!(parse_segment_name("00000000000000000042.tmp"), None);
    // 20 digits that overflow u64.
    assert_eq!(parse_segment_name("99999999999999999999.log"), None);
}

#[test]
fn segment_header_layout_and_roundtrip() {
    let h = SegmentHeader::new(0x0102_0304_0506_0708, [0xee; 32]);
    let b = h.encode();
    assert_eq!(&b[0..8], b"INTRSTCE");
    assert_eq!(&b[8..12], &[1, 0, 0, 0]);
    assert_eq!(&b[12..16], &[0, 0, 0, 0]);
    assert_eq!(&b[16..24], &[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(&b[24..56], &[0xee; 32]);
    assert_eq!(&b[56..64], &blake3::hash(&b[..56]).as_bytes()[..8]);
    assert_eq!(SegmentHeader::decode(&b), Ok(h));
}

#[test]
fn segment_header_damage_is_detected() {
    let b = SegmentHeader::new(5, [1; 32]).encode();
    assert_eq!(SegmentHeader::decode(&b[..63]), Err(HeaderError::Short(63)));
    for i in 0..SEGMENT_HEADER_LEN {
        let mut d = b;
        d[i] ^= 0x10;
        assert!(SegmentHeader::decode(&d).is_err(), "flip at byte {i}");
    }
    // A well-formed header of version 2 is "unsupported", not "corrupt".
    let mut v2 = b;
    v2[8] = 2;
    let c = header_checksum(&v2[..56]);
    v2[56..64].copy_from_slice(&c);
    assert_eq!(
        SegmentHeader::decode(&v2),
        Err(HeaderError::UnsupportedVersion(2))
    );
}

#[test]
fn batch_header_layout_and_roundtrip() {
    let h = BatchHeader {
        payload_len: 0x0a0b,
        first_ts: 9,
        count: 3,
        hash: [4; 32],
    };
    let b = h.encode();
    assert_eq!(&b[0..4], b"CTAB");
    assert_eq!(&b[4..8], &[0x0b, 0x0a, 0, 0]);
    assert_eq!(&b[8..16], &[9, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&b[16..20], &[3, 0, 0, 0]);
    assert_eq!(BatchHeader::decode(&b), Some(Ok(h)));
    assert_eq!(BatchHeader::decode(&b[..51]), None);
    assert_eq!(h.record_len(), 52 + 0x0a0b);
}

#[test]
fn batch_hash_follows_the_documented_formula() {
    let prev = [7u8; 32];
    let payload = [1u8, 2, 3];
    let mut input = prev.to_vec();
    input.extend_from_slice(&10u64.to_le_bytes());
    input.extend_from_slice(&2u32.to_le_bytes());
    input.extend_from_slice(&3u32.to_le_bytes());
    input.extend_from_slice(&payload);
    assert_eq!(
        batch_hash(&prev, 10, 2, &payload),
        *blake3::hash(&input).as_bytes()
    );
    assert_ne!(
        batch_hash(&prev, 10, 2, &payload),
        batch_hash(&[0; 32], 10, 2, &payload)
    );
}
