//! Container formats: the one name for "which kind of file" across the stages. A demuxer
//! reports what it sniffed ([`crate::demux::open`]), a muxer is told what to write
//! ([`crate::mux::Muxer::create`]); applications name their inputs and outputs with it.
//!
//! Not every container is both read and written: ADTS is read only ([`Container::can_mux`]);
//! asking a muxer for it is [`crate::Error::CannotMux`].

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// A container format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Container {
    /// ISO base media file (ISO/IEC 14496-12): MP4, MOV, M4A, fragmented MP4. Read and written.
    #[default]
    Mp4,
    /// MPEG-2 transport stream (ISO/IEC 13818-1). Read and written.
    Ts,
    /// Raw AAC in ADTS framing (ISO/IEC 13818-7 / 14496-3). Read only.
    Adts,
}

impl Container {
    /// Every container, in declaration order.
    pub const ALL: [Container; 3] = [Container::Mp4, Container::Ts, Container::Adts];

    /// Short lower-case name: `mp4`, `ts`, `adts` (what [`FromStr`] and [`fmt::Display`] use).
    pub fn name(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Ts => "ts",
            Container::Adts => "adts",
        }
    }

    /// The usual file extension, without the dot: `mp4`, `ts`, `aac`.
    pub fn ext(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Ts => "ts",
            Container::Adts => "aac",
        }
    }

    /// [`Container::ext`] back (exact, lower case).
    pub fn from_ext(ext: &str) -> Option<Container> {
        Container::ALL.into_iter().find(|c| c.ext() == ext)
    }

    /// The container to write for an output file name: `.ts`/`.m2ts`/`.mts` (any case) are
    /// MPEG-TS, anything else MP4.
    pub fn for_output(path: &Path) -> Container {
        match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()) {
            Some(e) if e == "ts" || e == "m2ts" || e == "mts" => Container::Ts,
            _ => Container::Mp4,
        }
    }

    /// Can [`crate::mux`] write it?
    pub fn can_mux(self) -> bool {
        match self {
            Container::Mp4 | Container::Ts => true,
            Container::Adts => false,
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name [`Container::from_str`] does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown container {0:?} (mp4, ts or adts)")]
pub struct UnknownContainer(pub String);

impl FromStr for Container {
    type Err = UnknownContainer;

    /// [`Container::name`] back, case-insensitive.
    fn from_str(s: &str) -> Result<Container, UnknownContainer> {
        Container::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(s)).ok_or_else(|| UnknownContainer(s.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_extensions_round_trip() {
        for c in Container::ALL {
            assert_eq!(c.name().parse::<Container>().unwrap(), c);
            assert_eq!(Container::from_ext(c.ext()), Some(c));
        }
        assert_eq!("TS".parse::<Container>().unwrap(), Container::Ts);
        assert!("mkv".parse::<Container>().is_err());
        assert_eq!(Container::from_ext("mkv"), None);
    }

    #[test]
    fn output_container_from_name() {
        assert_eq!(Container::for_output(Path::new("a.M2TS")), Container::Ts);
        assert_eq!(Container::for_output(Path::new("a.mov")), Container::Mp4);
        assert_eq!(Container::for_output(Path::new("a")), Container::Mp4);
        assert!(!Container::Adts.can_mux());
    }
}
