//! `b_shard_4`: a transfer shard for the scale benchmark (`bench_common::shard!`).

bench_common::shard!("b_shard_4");
