//! The library's one error type. Every variant that is about a file names it, and the line where
//! there is one, so an analyst can find what to fix.

use std::path::PathBuf;

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in terreno's library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", shown_path(path))]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// An input file is malformed; the message says what to do about it.
    #[error("{}{}: {message}", shown_path(path), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Input {
        /// The input file.
        path: PathBuf,
        /// The 1-based line, where the format has lines.
        line: Option<usize>,
        /// What is wrong and what to do.
        message: String,
    },
    /// The configuration (file or command line) is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The run directory cannot be used as asked.
    #[error("{}: {message}", shown_path(path))]
    Run {
        /// The run directory.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The model files are missing, corrupt or cannot be fetched; the message says what to do.
    #[error("{}: {message}", shown_path(path))]
    Model {
        /// The model file or directory.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Building or writing a table failed.
    #[error("table: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// Serialising an artifact failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// A bad-input error about `path` (and `line`, 1-based, when known).
    pub fn input(
        path: impl Into<PathBuf>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Error::Input { path: path.into(), line, message: message.into() }
    }

    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// A model error about `path`.
    pub fn model(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Model { path: path.into(), message: message.into() }
    }

    /// Whether the error is about bad input (exit code 3) rather than the environment.
    pub fn is_input(&self) -> bool {
        matches!(self, Error::Input { .. })
    }
}

/// A path or name as it may be printed: control characters (a newline in a file name could
/// forge a line of output) shown as escapes (`\n`).
pub fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn shown_path(path: &std::path::Path) -> String {
    shown(&path.display().to_string())
}
