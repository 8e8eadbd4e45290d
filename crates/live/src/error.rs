//! Live mode's errors. None of them carries a credential: the SDK's messages name the failing
//! provider, never a key.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LiveError {
    /// Bad input from the command line or a file (exit code 2).
    #[error("{0}")]
    Input(String),
    /// An EC2 call failed after the SDK's retries.
    #[error("EC2 {op}: {code}: {message}")]
    Api {
        op: &'static str,
        code: String,
        message: String,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] asim_core::catalog::CatalogError),
    #[error("{0}")]
    Scenario(String),
    /// A safety cap refused a call (`--max-instances`, `--max-usd-per-hour`).
    #[error("cap reached: {0}")]
    Cap(String),
    /// Ctrl-C or SIGTERM.
    #[error("interrupted by a signal")]
    Interrupted,
}

impl LiveError {
    /// The process exit code: 2 for bad input, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            LiveError::Input(_) | LiveError::Catalog(_) | LiveError::Scenario(_) => 2,
            _ => 1,
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        LiveError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
