//! The error a user sees when cluster-autoscaler's configuration is wrong. It has its own module
//! so that `flags`, `nodegroup` and `config`, which all report it, need not import one another.

use thiserror::Error;

/// A mistake in cluster-autoscaler's configuration; `field` is the dotted path from the
/// scenario root (the loader turns it into a file and line).
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl ToString) -> ConfigError {
        ConfigError {
            field: field.into(),
            message: message.to_string(),
        }
    }
}
