//! `t_columnar_cols`: module `t_columnar` with `items` stored by column
//! (`#[table(storage = "columnar")]`). `t_columnar_rows` is the same module
//! with `items` stored row by row; `tests/all/columnar.rs` runs the same
//! operations on both and compares every answer and the state hash.

include!("../../t_columnar_common.rs");

items_table!(storage = "columnar");
