//! `b_shard_2`: a transfer shard for the scale benchmark (`bench_common::shard!`).

bench_common::shard!("b_shard_2");
