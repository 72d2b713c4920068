//! The crate's error type.

use interstice_abi::AbiError;

/// What a table operation, a logged mutation or a snapshot restore refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// Bad row or key bytes, or a table index out of range.
    #[error("{0}")]
    Abi(#[from] AbiError),
    /// A uniqueness violation.
    #[error("{0}")]
    Constraint(String),
    /// A malformed query or filter from a guest (`docs/ABI.md` §4.1), or
    /// one that does not fit the table: names what is wrong.
    #[error("{0}")]
    Query(String),
    /// A snapshot's table does not fit the schema it is restored under.
    #[error("snapshot table #{table}: {problem}")]
    Snapshot {
        /// The table's index in the module schema.
        table: u32,
        /// What is wrong with it.
        problem: SnapshotProblem,
    },
}

/// Why a snapshot's table was refused ([`TableError::Snapshot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotProblem {
    /// The schema has no table with that index.
    #[error("it is not in the schema")]
    NotInSchema,
    /// The schema's table of that index is ephemeral.
    #[error("it is not a logged table")]
    NotLogged,
    /// The rows are not in strictly ascending key order.
    #[error("row keys out of order")]
    KeysOutOfOrder,
}
