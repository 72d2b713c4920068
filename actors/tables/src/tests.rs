//! Unit tests of the tables, one module per topic.

mod overlay;
mod tables;
