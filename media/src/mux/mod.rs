//! Mux: packets to files. [`mp4`] writes ISO/IEC 14496-12 MP4 with the index first
//! (faststart); [`ts`] writes ISO/IEC 13818-1 transport streams with continuous continuity
//! counters. Both take the packet conventions of [`crate::packet`] (H.264 Annex B, raw AAC).

pub mod mp4;
pub mod ts;
pub mod tsjoin;
pub mod wav;

use std::path::Path;

use crate::packet::{Packet, StreamInfo};
use crate::Result;

/// Output container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputKind {
    #[default]
    Mp4,
    Ts,
}

impl OutputKind {
    /// From a file name's extension (`.ts`/`.m2ts`/`.mts` -> TS, else MP4).
    pub fn from_path(path: &Path) -> OutputKind {
        match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()) {
            Some(e) if e == "ts" || e == "m2ts" || e == "mts" => OutputKind::Ts,
            _ => OutputKind::Mp4,
        }
    }
}

/// Either muxer behind one interface. The TS file is written to `<out>.part` and renamed on
/// finish, like the MP4, so a crash never leaves a half file under the final name.
pub enum Muxer {
    Mp4(mp4::Mp4Writer),
    Ts { writer: ts::TsWriter<std::io::BufWriter<std::fs::File>>, part: std::path::PathBuf, path: std::path::PathBuf },
}

impl Muxer {
    pub fn create(kind: OutputKind, path: &Path, streams: &[StreamInfo]) -> Result<Muxer> {
        match kind {
            OutputKind::Mp4 => Ok(Muxer::Mp4(mp4::Mp4Writer::create(path, streams)?)),
            OutputKind::Ts => {
                let part = part_path(path);
                let f = std::fs::File::create(&part).map_err(|e| crate::Error::Io { path: part.clone(), source: e })?;
                let writer = ts::TsWriter::new(std::io::BufWriter::with_capacity(1 << 20, f), streams)?;
                Ok(Muxer::Ts { writer, part, path: path.to_path_buf() })
            }
        }
    }

    pub fn write(&mut self, pkt: &Packet) -> Result<()> {
        match self {
            Muxer::Mp4(w) => w.write(pkt),
            Muxer::Ts { writer, .. } => writer.write(pkt),
        }
    }

    /// Finalise; returns the output size in bytes.
    pub fn finish(self) -> Result<u64> {
        match self {
            Muxer::Mp4(w) => w.finish(),
            Muxer::Ts { writer, part, path } => {
                let bw = writer.finish()?;
                let f = bw.into_inner().map_err(|e| crate::Error::Io { path: part.clone(), source: e.into_error() })?;
                f.sync_all().map_err(|e| crate::Error::Io { path: part.clone(), source: e })?;
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                drop(f);
                std::fs::rename(&part, &path).map_err(|e| crate::Error::Io { path: path.clone(), source: e })?;
                Ok(len)
            }
        }
    }
}

/// `<path>.part`
pub fn part_path(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".part");
    std::path::PathBuf::from(s)
}
