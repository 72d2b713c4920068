//! Unit tests of `types`.

use super::*;
use crate::cbor::Writer;

#[test]
fn validate_struct() {
    let ty = Type::Struct(StructType {
        name: "Account".into(),
        fields: vec![
            Field {
                name: "id".into(),
                ty: Type::U64,
            },
            Field {
                name: "owner".into(),
                ty: Type::String,
            },
            Field {
                name: "note".into(),
                ty: Type::Option(Box::new(Type::String)),
            },
        ],
    });
    let mut w = Writer::new();
    w.array(3);
    w.u64(1);
    w.str("alice");
    w.null();
    ty.validate_exact(w.as_slice()).unwrap();

    let mut w = Writer::new();
    w.array(3);
    w.str("1");
    w.str("alice");
    w.null();
    assert!(ty.validate_exact(w.as_slice()).is_err());
}

#[test]
fn ambiguous_option_is_refused() {
    let t = Type::Option(Box::new(Type::Option(Box::new(Type::U8))));
    assert!(t.check_well_formed().is_err());
}

#[test]
fn keys_sort_like_values() {
    let enc = |ty: &Type, v: i128| {
        let mut w = Writer::new();
        w.i128(v);
        let b = w.into_vec();
        let mut out = Vec::new();
        ty.encode_key(&mut Reader::new(&b), &mut out).unwrap();
        out
    };
    let vals = [-300i128, -1, 0, 1, 255, 256, 70000];
    for pair in vals.windows(2) {
        assert!(enc(&Type::I64, pair[0]) < enc(&Type::I64, pair[1]));
        assert!(enc(&Type::I32, pair[0]) < enc(&Type::I32, pair[1]));
    }
    assert!(enc(&Type::U64, 255) < enc(&Type::U64, 256));
}
