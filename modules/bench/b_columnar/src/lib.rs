//! `b_columnar`: the columnar workload of `interstice bench`
//! (`cli/src/commands/bench/columnar.rs`): the same rows, `(id, amount,
//! bucket, price, weight)`, in `by_row` (row storage) and `by_column`
//! (`storage = "columnar"`); inserts into each, and host-side sums of one
//! numeric column over the whole table, plain and with a pushed-down
//! filter.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "b_columnar",
    tables: [ByRow, ByColumn],
    reducers: [fill_rows, fill_columns, sum_rows, sum_columns, bucket_sum_rows, bucket_sum_columns],
}

/// The workload's rows, one table per storage.
macro_rules! tables {
    ($($ty:ident, $name:literal, $accessor:ident, [$($storage:tt)*], $fill:ident, $sum:ident, $bucket:ident;)*) => {$(
        #[doc = concat!("A row of `", $name, "`.")]
        #[table(name = $name, $($storage)*)]
        #[derive(Clone, Debug)]
        pub struct $ty {
            #[primary_key]
            pub id: u64,
            pub amount: u64,
            /// `id % 100`.
            pub bucket: u32,
            pub price: i64,
            pub weight: f64,
        }

        #[doc = concat!("Inserts rows `first .. first + count` into `", $name, "`; returns its row count.")]
        #[reducer]
        fn $fill(ctx: &mut WriteContext, first: u64, count: u32) -> u64 {
            let t = ctx.tables.$accessor();
            for id in first..first + u64::from(count) {
                t.insert($ty {
                    id,
                    amount: amount_of(id),
                    bucket: (id % 100) as u32,
                    price: (id % 1000) as i64 - 500,
                    weight: (id % 7) as f64 / 4.0,
                });
            }
            t.count()
        }

        #[doc = concat!("The sum of `amount` over `", $name, "`, by the host.")]
        #[reducer(mode = "read")]
        fn $sum(ctx: &ReadContext) -> u128 {
            ctx.tables.$accessor().query().sum(|c| c.amount)
        }

        #[doc = concat!("The sum of `amount` over the rows of `", $name, "` with `bucket == 0` (1%), filtered by the host.")]
        #[reducer(mode = "read")]
        fn $bucket(ctx: &ReadContext) -> u128 {
            ctx.tables.$accessor().matching(|c| c.bucket.eq(0)).sum(|c| c.amount)
        }
    )*};
}

tables! {
    ByRow, "by_row", by_row, [storage = "rows"], fill_rows, sum_rows, bucket_sum_rows;
    ByColumn, "by_column", by_column, [storage = "columnar"], fill_columns, sum_columns, bucket_sum_columns;
}

/// The `amount` of row `id`: a scramble, so sums are not a closed form of
/// the ids alone.
pub fn amount_of(id: u64) -> u64 {
    id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40
}
