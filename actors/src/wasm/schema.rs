//! Small helpers over module schemas that the host calls and the callers
//! of reducers share.

use interstice_abi::{ReducerSchema, Type};

/// The parameter tuple type of a reducer.
pub(crate) fn params_type(r: &ReducerSchema) -> Type {
    Type::Tuple(r.params.iter().map(|p| p.ty.clone()).collect())
}
