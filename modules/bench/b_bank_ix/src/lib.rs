//! `b_bank_ix`: `b_bank`'s accounts with two secondary indexes on the
//! balance (`bench_common::accounts!(indexed)`), so that every transfer
//! moves four index entries: the replay workload's indexed log.

use interstice_sdk::prelude::*;

bench_common::accounts!(indexed);

interstice_module! {
    name: "b_bank_ix",
    tables: [Account],
    reducers: [seed, transfer, balance, total],
}
