//! The library's error type: every failure names its cause in words a user can act on.

use std::path::PathBuf;

/// Why a media operation failed. The `Display` form is a complete sentence fragment for a
/// user (it names the file, stream or value at fault); the variant tells a caller the kind.
/// New variants may be added: match with a wildcard arm.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a named file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file being read, written, created or renamed.
        path: PathBuf,
        /// What the operating system reported.
        source: std::io::Error,
    },
    /// An I/O error where no single file names the cause (a pipe, a socket, standard output).
    #[error("{0}")]
    Io2(#[from] std::io::Error),
    /// The input is not a container stitch recognises.
    #[error("unrecognised container format ({0})")]
    UnknownFormat(String),
    /// The container is damaged or truncated: what, where.
    #[error("invalid data: {0}")]
    Invalid(String),
    /// A codec the build cannot decode.
    #[error("unsupported codec {0}")]
    UnsupportedCodec(String),
    /// Encrypted content (cenc/cbcs, SAMPLE-AES...).
    #[error("encrypted ({0})")]
    Encrypted(String),
    /// No audio or video samples at all.
    #[error("no media data{0}")]
    NoMedia(String),
    /// A decoder rejected or failed on the data (what, which stream).
    #[error("decoder error: {0}")]
    Decode(String),
    /// An encoder could not be set up or failed (its settings or message).
    #[error("encoder error: {0}")]
    Encode(String),
    /// The flow description (JSON) is malformed or inconsistent: what and where.
    #[error("invalid flow: {0}")]
    Flow(String),
    /// The work stopped before its end: cancelled by the caller, or another pipeline stage
    /// stopped (that stage reports its own error).
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// An [`Error::Invalid`] with message `msg`.
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::Invalid(msg.into())
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
