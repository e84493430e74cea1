//! Mux: packets to files. [`mp4`] writes ISO/IEC 14496-12 MP4 with the index first
//! (faststart); [`ts`] writes ISO/IEC 13818-1 transport streams with continuous continuity
//! counters; [`fmp4`] writes fragmented MP4 (ISO/IEC 14496-12 §8.8) to a stream that cannot
//! seek. All take the packet conventions of [`crate::packet`] (H.264 Annex B, raw AAC).
//! [`Muxer`] puts them behind one interface, to a file ([`Muxer::create`]) or to any
//! [`std::io::Write`] such as standard output ([`Muxer::to_writer`]: TS or fragmented MP4).

pub mod fmp4;
pub mod mp4;
pub mod ts;
pub mod wav;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::packet::{Packet, StreamInfo};
use crate::{Container, Result};

/// Either muxer behind one interface. The TS file is written to `<out>.part` and renamed on
/// finish, like the MP4, so a crash never leaves a half file under the final name.
pub enum Muxer {
    /// A progressive MP4 file.
    Mp4(mp4::Mp4Writer),
    /// An MPEG-TS file, written to `part` and renamed to `path` by [`Muxer::finish`].
    Ts {
        /// The TS writer on the buffered `part` file.
        writer: ts::TsWriter<std::io::BufWriter<std::fs::File>>,
        /// The temporary file (`<path>.part`).
        part: std::path::PathBuf,
        /// The final file name.
        path: std::path::PathBuf,
        /// Whether to replace a file that appeared under `path` meanwhile.
        replace: bool,
    },
    /// To a stream ([`Muxer::to_writer`]).
    Stream(StreamMuxer),
}

/// A TS or fragmented MP4 muxer writing to a [`Write`] stream; made by [`Muxer::to_writer`].
pub struct StreamMuxer {
    inner: StreamInner,
    /// Names the stream in I/O errors.
    name: PathBuf,
}

enum StreamInner {
    Ts(ts::TsWriter<Counting>),
    Fmp4(fmp4::Fmp4Writer<Counting>),
}

/// Counts the bytes written through it.
struct Counting {
    out: Box<dyn Write + Send>,
    bytes: u64,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A write error of the stream names it: `Error::Io { path: name }`.
fn named(name: &Path, e: crate::Error) -> crate::Error {
    match e {
        crate::Error::IoUnnamed(source) => crate::Error::Io { path: name.to_path_buf(), source },
        e => e,
    }
}

impl Muxer {
    /// `false`: [`Muxer::finish`] does not replace a file that appeared under the output's
    /// name meanwhile (see [`publish`]). Default `true`.
    pub fn replace_existing(&mut self, yes: bool) {
        match self {
            Muxer::Mp4(w) => w.replace_existing(yes),
            Muxer::Ts { replace, .. } => *replace = yes,
            Muxer::Stream(_) => {}
        }
    }

    /// A muxer writing the container `kind` to the file `path` for `streams` (H.264 and AAC;
    /// `Packet::stream` indexes them). The data goes to a temporary file that [`Muxer::finish`]
    /// renames to `path`; [`crate::Error::CannotMux`] for a container that is read only.
    pub fn create(kind: Container, path: &Path, streams: &[StreamInfo]) -> Result<Muxer> {
        match kind {
            Container::Adts => Err(crate::Error::CannotMux(kind)),
            Container::Mp4 => Ok(Muxer::Mp4(mp4::Mp4Writer::create(path, streams)?)),
            Container::Ts => {
                let part = part_path(path);
                let f = std::fs::File::create(&part).map_err(|e| crate::Error::Io { path: part.clone(), source: e })?;
                let writer = ts::TsWriter::new(std::io::BufWriter::with_capacity(1 << 20, f), streams)?;
                Ok(Muxer::Ts { writer, part, path: path.to_path_buf(), replace: true })
            }
        }
    }

    /// Write the container to `out` as it is produced, without seeking: an MPEG-TS
    /// ([`Container::Ts`]) or a fragmented MP4 ([`Container::Mp4`], see [`fmp4`]). `name`
    /// names the stream in errors (e.g. "standard output"): a failed write (such as a broken
    /// pipe when the reader went away) is `Error::Io { path: name, .. }`. Wrap `out` in a
    /// `BufWriter` if it is unbuffered; [`Muxer::finish`] flushes it.
    pub fn to_writer(
        kind: Container,
        name: &Path,
        out: Box<dyn Write + Send>,
        streams: &[StreamInfo],
    ) -> Result<Muxer> {
        let out = Counting { out, bytes: 0 };
        let inner = match kind {
            Container::Adts => return Err(crate::Error::CannotMux(kind)),
            Container::Ts => StreamInner::Ts(ts::TsWriter::new(out, streams)?),
            Container::Mp4 => StreamInner::Fmp4(fmp4::Fmp4Writer::new(out, streams)?),
        };
        Ok(Muxer::Stream(StreamMuxer { inner, name: name.to_path_buf() }))
    }

    /// The container written.
    pub fn kind(&self) -> Container {
        match self {
            Muxer::Mp4(_) | Muxer::Stream(StreamMuxer { inner: StreamInner::Fmp4(_), .. }) => Container::Mp4,
            Muxer::Ts { .. } | Muxer::Stream(StreamMuxer { inner: StreamInner::Ts(_), .. }) => Container::Ts,
        }
    }

    /// Whether the container keeps the audio encoder's priming samples and hides them
    /// itself (MP4 and fragmented MP4: an edit list, ISO/IEC 14496-12 8.6.6). MPEG-TS has no
    /// such means: the writer should drop all but the last priming frame (the MDCT overlap
    /// the first real frame needs).
    pub fn keeps_priming(&self) -> bool {
        self.kind() == Container::Mp4
    }

    /// Add one packet (see [`crate::packet`] for the data conventions; `dts` increasing within
    /// a stream).
    pub fn write(&mut self, pkt: &Packet) -> Result<()> {
        match self {
            Muxer::Mp4(w) => w.write(pkt),
            Muxer::Ts { writer, .. } => writer.write(pkt),
            Muxer::Stream(s) => {
                let r = match &mut s.inner {
                    StreamInner::Ts(w) => w.write(pkt),
                    StreamInner::Fmp4(w) => w.write(pkt),
                };
                r.map_err(|e| named(&s.name, e))
            }
        }
    }

    /// Finalise; returns the output size in bytes. A stream is flushed (not closed: the
    /// writer is dropped).
    pub fn finish(self) -> Result<u64> {
        match self {
            Muxer::Mp4(w) => w.finish(),
            Muxer::Stream(s) => {
                let out = match s.inner {
                    StreamInner::Ts(w) => w.finish(),
                    StreamInner::Fmp4(w) => w.finish(),
                };
                let mut out = out.map_err(|e| named(&s.name, e))?;
                out.flush().map_err(|source| crate::Error::Io { path: s.name.clone(), source })?;
                Ok(out.bytes)
            }
            Muxer::Ts { writer, part, path, replace } => {
                let bw = writer.finish()?;
                let f = bw.into_inner().map_err(|e| crate::Error::Io { path: part.clone(), source: e.into_error() })?;
                f.sync_all().map_err(|e| crate::Error::Io { path: part.clone(), source: e })?;
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                drop(f);
                publish(&part, &path, replace)?;
                Ok(len)
            }
        }
    }
}

#[cfg(test)]
#[path = "tests/stream.rs"]
pub(crate) mod tests;

/// Move a finished temporary file to its final name. `replace`: an existing file there is
/// replaced (atomically, `rename`); otherwise the move fails with `AlreadyExists` when a file
/// appeared there meanwhile: `link` never replaces, then the temporary name is removed
/// (file systems without hard links fall back to a check and `rename`).
pub fn publish(part: &Path, path: &Path, replace: bool) -> Result<()> {
    let err = |source| crate::Error::Io { path: path.to_path_buf(), source };
    if replace {
        return std::fs::rename(part, path).map_err(err);
    }
    match std::fs::hard_link(part, path) {
        Ok(()) => {
            let _ = std::fs::remove_file(part);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "a file appeared under this name while the output was being written; it was not replaced",
        ))),
        Err(_) if path.exists() => Err(err(std::io::ErrorKind::AlreadyExists.into())),
        Err(_) => std::fs::rename(part, path).map_err(err),
    }
}

/// `<path>.part`
pub fn part_path(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".part");
    std::path::PathBuf::from(s)
}
