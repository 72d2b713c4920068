//! `t_columnar_rows`: module `t_columnar` with `items` stored row by row
//! (the default). `t_columnar_cols` is the same module with `items` stored
//! by column; `tests/all/columnar.rs` runs the same operations on both and
//! compares every answer and the state hash.

include!("../../t_columnar_common.rs");

items_table!(storage = "rows");
