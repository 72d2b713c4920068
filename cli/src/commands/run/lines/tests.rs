//! Unit tests of `lines`.

use super::*;

/// Every line of `input`, read through a buffer of `cap` bytes.
async fn lines(input: &[u8], max: usize, cap: usize) -> Vec<Line> {
    let mut r = LineReader::new(tokio::io::BufReader::with_capacity(cap, input), max);
    let mut v = Vec::new();
    while let Some(l) = r.next_line().await.expect("reading from memory") {
        v.push(l);
    }
    v
}

fn complete(number: u64, s: &[u8]) -> Line {
    Line::Complete {
        number,
        bytes: s.to_vec(),
    }
}

#[tokio::test]
async fn splits_at_newlines_across_any_buffer_size() {
    let input = b"{\"a\":1}\n\nxyz\r\nlast";
    for cap in [1, 2, 3, 7, 64] {
        assert_eq!(
            lines(input, 100, cap).await,
            vec![
                complete(1, b"{\"a\":1}"),
                complete(2, b""),
                complete(3, b"xyz\r"),
                complete(4, b"last"),
            ],
            "buffer of {cap}"
        );
    }
    assert_eq!(lines(b"", 100, 8).await, vec![]);
    assert_eq!(lines(b"a\n", 100, 8).await, vec![complete(1, b"a")]);
}

#[tokio::test]
async fn non_utf8_bytes_are_just_bytes() {
    let input = b"ok\n\xff\xfe\nok\n";
    assert_eq!(
        lines(input, 100, 2).await,
        vec![
            complete(1, b"ok"),
            complete(2, b"\xff\xfe"),
            complete(3, b"ok")
        ]
    );
}

#[tokio::test]
async fn a_too_long_line_is_reported_once_and_skipped() {
    // Limit 4: "12345" is too long, "1234" is not.
    for cap in [1, 3, 64] {
        assert_eq!(
            lines(b"12345678\n1234\n12345\nab", 4, cap).await,
            vec![
                Line::TooLong { number: 1 },
                complete(2, b"1234"),
                Line::TooLong { number: 3 },
                complete(4, b"ab"),
            ],
            "buffer of {cap}"
        );
        // Too long and never ended.
        assert_eq!(
            lines(b"ab\n123456789", 4, cap).await,
            vec![complete(1, b"ab"), Line::TooLong { number: 2 }],
            "buffer of {cap}"
        );
    }
}

#[test]
fn decode_names_the_offset_of_the_bad_byte() {
    assert_eq!(decode(1, b"{}".to_vec()).as_deref(), Ok("{}"));
    let e = decode(3, b"{\"x\":\"\xff\"}".to_vec()).unwrap_err();
    assert!(e.contains("line 3"), "{e}");
    assert!(e.contains("0xff at byte offset 6"), "{e}");
    let e = decode(1, b"ab\xe2\x82".to_vec()).unwrap_err();
    assert!(
        e.contains("multi-byte sequence starting at byte offset 2"),
        "{e}"
    );
}
