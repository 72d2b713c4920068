//! Unit tests of the tables, one module per topic.

mod indexes;
mod overlay;
mod tables;
