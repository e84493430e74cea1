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
    /// A decoder rejected or failed on the data (what, which stream).
    #[error("decoder error: {0}")]
    Decode(String),
    /// An encoder could not be set up or failed (its settings or message).
    #[error("encoder error: {0}")]
    Encode(String),
    /// The flow description (JSON) is malformed or inconsistent: what and where.
    #[error("invalid flow: {0}")]
    Flow(String),
    /// An option the caller set is out of range (see
    /// [`crate::pipeline::CompileOptionsBuilder::build`]): which option, and what it accepts.
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The option's name (the builder method that sets it, e.g. `size`).
        option: &'static str,
        /// The value given and the range accepted.
        reason: String,
    },
    /// The work stopped before its end: cancelled by the caller, or another pipeline stage
    /// stopped (that stage reports its own error).
    #[error("cancelled")]
    Cancelled,
    /// `source` with where it happened: the file, the track, the packet.
    #[error("{source} ({at})")]
    At {
        /// Where.
        at: Location,
        /// What.
        source: Box<Error>,
    },
}

/// Where in an input an error happened: any of the file, the track (stream index of the
/// demuxer), the packet (0-based position among the packets a reader took from its demuxer,
/// all tracks, counted from where it started reading) and the packet's presentation time.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The input file.
    pub path: Option<PathBuf>,
    /// The stream index in the demuxer's `streams()`.
    pub track: Option<usize>,
    /// The packet's position in the demuxer's output.
    pub packet: Option<u64>,
    /// The packet's presentation time in its track's timebase.
    pub pts: Option<crate::time::Time>,
}

impl Location {
    /// A location in the file `path`.
    pub fn file(path: impl Into<PathBuf>) -> Location {
        Location { path: Some(path.into()), ..Location::default() }
    }

    /// Packet `packet` of track `track` (of an unnamed input).
    pub fn packet(track: usize, packet: u64) -> Location {
        Location { track: Some(track), packet: Some(packet), ..Location::default() }
    }

    /// The packet of track `track` presented at `pts`.
    pub fn at_time(track: usize, pts: crate::time::Time) -> Location {
        Location { track: Some(track), pts: Some(pts), ..Location::default() }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = &self.path {
            parts.push(p.display().to_string());
        }
        if let Some(t) = self.track {
            parts.push(format!("track {t}"));
        }
        if let Some(n) = self.packet {
            parts.push(format!("packet {n}"));
        }
        if let Some(t) = self.pts {
            parts.push(format!("at {t}"));
        }
        f.write_str(&parts.join(", "))
    }
}

impl Error {
    /// An [`Error::Invalid`] with message `msg`.
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::Invalid(msg.into())
    }

    /// This error with where it happened; the parts already known are kept (an error
    /// located twice is wrapped once).
    pub fn at(self, at: Location) -> Error {
        match self {
            Error::At { at: mut have, source } => {
                have.path = have.path.or(at.path);
                have.track = have.track.or(at.track);
                have.packet = have.packet.or(at.packet);
                have.pts = have.pts.or(at.pts);
                Error::At { at: have, source }
            }
            e => Error::At { at, source: Box::new(e) },
        }
    }

    /// Where it happened, when known.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::At { at, .. } => Some(at),
            _ => None,
        }
    }

    /// The error without its location.
    pub fn kind(&self) -> &Error {
        match self {
            Error::At { source, .. } => source.kind(),
            e => e,
        }
    }

    /// Whether the run can go on without what failed: damaged data or a codec the build
    /// cannot decode costs one clip or one of its tracks (the compile reports it and
    /// continues with the other clips); an I/O error of the output, an encoder failure, an
    /// invalid flow, a format nothing reads, encryption or cancellation end the run.
    pub fn is_recoverable(&self) -> bool {
        matches!(self.kind(), Error::Invalid(_) | Error::Decode(_) | Error::UnsupportedCodec(_) | Error::NoMedia(_))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn located_errors_say_where_and_keep_their_kind() {
        let e = Error::Decode("bad slice".into()).at(Location::packet(1, 42));
        assert_eq!(e.to_string(), "decoder error: bad slice (track 1, packet 42)");
        let e = e.at(Location::file("/in/a.mp4"));
        assert_eq!(e.to_string(), "decoder error: bad slice (/in/a.mp4, track 1, packet 42)");
        assert!(matches!(e.kind(), Error::Decode(_)));
        assert_eq!(e.location().unwrap().packet, Some(42));
        assert!(e.is_recoverable());
        assert!(!Error::Encode("x".into()).at(Location::file("o.mp4")).is_recoverable());
        assert!(!Error::Cancelled.is_recoverable());
        let e = Error::invalid("truncated ADTS frame").at(Location::at_time(0, crate::time::Time::new(96_000, 48_000)));
        assert_eq!(e.to_string(), "invalid data: truncated ADTS frame (track 0, at 2.000s)");
    }
}
