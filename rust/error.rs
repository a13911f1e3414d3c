//! The engine's error type: a bad argument (named in the message), a refused allocation, or
//! a computation stopped by its caller.

use std::fmt;

/// What went wrong, and which Python exception it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A value is out of its domain (maps to `ValueError`).
    Value(String),
    /// An argument has the wrong type or dtype (maps to `TypeError`).
    Type(String),
    /// An allocation the allocator refused (maps to `MemoryError`).
    Memory(String),
    /// The caller's stop test said to stop (the bindings raise the pending Python exception,
    /// such as `KeyboardInterrupt`).
    Cancelled,
}

impl Error {
    pub fn value(msg: impl Into<String>) -> Self {
        Error::Value(msg.into())
    }

    pub fn type_(msg: impl Into<String>) -> Self {
        Error::Type(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Value(m) | Error::Type(m) | Error::Memory(m) => f.write_str(m),
            Error::Cancelled => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
