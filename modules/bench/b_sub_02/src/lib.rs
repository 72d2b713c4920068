//! `b_sub_02`: a subscriber of `b_source.events` for the fanout benchmark
//! (`bench_common::subscriber!`).

bench_common::subscriber!("b_sub_02");
