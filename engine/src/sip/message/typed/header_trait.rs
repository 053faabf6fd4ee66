//! The [`TypedHeader`] trait: one typed view per header name, read from a [`Headers`] list.

use super::super::header::{HeaderName, Headers};
use super::TypedError;

/// A header with a typed form: its name and how to parse one field value.
pub trait TypedHeader: Sized {
    /// The header's name.
    fn name() -> HeaderName;
    /// Parses one field value.
    fn parse(raw: &str) -> Result<Self, TypedError>;
}

impl Headers {
    /// The first field of `T`'s name, typed: `None` when absent.
    pub fn typed<T: TypedHeader>(&self) -> Option<Result<T, TypedError>> {
        self.get(&T::name()).map(T::parse)
    }
}
