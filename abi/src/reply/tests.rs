//! The reply encoding written by the host (`reply_args`) is the one the
//! SDK's `Result<T, CallError<E>>` decodes, and fits `reply_type`.

use super::*;

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn host_encoding_is_the_typed_encoding() {
    type R = Result<u64, CallError<String>>;
    let cases: Vec<(ReplyOutcome<'_>, R)> = vec![
        (ReplyOutcome::Ok(&[0x07]), Ok(7)),
        (
            ReplyOutcome::Returned(&[0x62, b'n', b'o']),
            Err(CallError::Returned("no".into())),
        ),
        (
            ReplyOutcome::Failed {
                kind: "Trap",
                message: "x",
            },
            Err(CallError::Failed {
                kind: "Trap".into(),
                message: "x".into(),
            }),
        ),
    ];
    let ty = Type::Tuple(vec![reply_type(&Type::U64, Some(&Type::String))]);
    assert_eq!(ty, Type::Tuple(vec![R::ty()]));
    for (outcome, typed) in cases {
        let args = reply_args(outcome);
        let mut w = Writer::new();
        w.array(1);
        typed.encode(&mut w);
        assert_eq!(hex(&args), hex(&w.into_vec()));
        crate::Value::decode_exact(&ty, &args).expect("fits the reply type");
        let mut r = Reader::new(&args);
        r.array_of(1).unwrap();
        assert_eq!(R::decode(&mut r).unwrap(), typed);
    }
}

/// `docs/ABI.md` §4.2, worked example: the three replies of a reducer
/// returning `Result<u64, String>`.
#[test]
fn abi_md_reply_example() {
    assert_eq!(hex(&reply_args(ReplyOutcome::Ok(&[0x07]))), "81 82 00 07");
    assert_eq!(
        hex(&reply_args(ReplyOutcome::Returned(&[0x62, b'n', b'o']))),
        "81 82 01 82 00 62 6e 6f"
    );
    assert_eq!(
        hex(&reply_args(ReplyOutcome::Failed {
            kind: "Trap",
            message: "x"
        })),
        "81 82 01 83 01 64 54 72 61 70 61 78"
    );
}

#[test]
fn hostile_results_are_refused() {
    for bytes in [&[0x82, 0x02, 0x00][..], &[0x83, 0x00, 0x00, 0x00], &[0x80]] {
        assert!(<Result<u64, ()>>::from_bytes(bytes).is_err(), "{bytes:?}");
    }
    // A `Failed` with only a kind.
    assert!(<CallError<()>>::from_bytes(&[0x82, 0x01, 0x60]).is_err());
}
