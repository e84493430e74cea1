//! The library's error type: every failure names its cause in words a user can act on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// An I/O error of a reader or writer that has no path (a stream); a muxer writing to
    /// a named stream turns it into [`Error::Io`].
    #[error("{0}")]
    IoUnnamed(#[from] std::io::Error),
    /// The input is not a container stitch recognises.
    #[error("unrecognised container format ({0})")]
    UnknownFormat(String),
    /// The container is damaged or truncated: what, where.
    #[error("invalid data: {0}")]
    Invalid(String),
    /// A container the muxers cannot write (see [`crate::Container::can_mux`]).
    #[error("cannot write {0} (stitch writes mp4 and ts)")]
    CannotMux(crate::Container),
    /// A codec the build cannot decode.
    #[error("unsupported codec {0}")]
    UnsupportedCodec(String),
    /// Encrypted content (cenc/cbcs, SAMPLE-AES...).
    #[error("encrypted ({0})")]
    Encrypted(String),
    /// No audio or video samples at all.
    #[error("no media data{0}")]
    NoMedia(String),
    #[error("decoder error: {0}")]
    Decode(String),
    #[error("encoder error: {0}")]
    Encode(String),
    #[error("invalid flow: {0}")]
    Flow(String),
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::Invalid(msg.into())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
