//! Demux: containers to elementary-stream packets, chosen by content, never by extension.
//!
//! - [`mp4`]: ISO base media files (ISO/IEC 14496-12): MP4, MOV, M4A, 3GP, fragmented MP4.
//! - [`ts`]: MPEG-2 transport streams (ISO/IEC 13818-1).
//! - [`adts`]: raw AAC in ADTS framing (ISO/IEC 13818-7 / 14496-3).
//!
//! [`open`] sniffs the first bytes and returns the matching [`Demuxer`]; recognisable
//! formats stitch does not read (Matroska/WebM, FLV, MP3, images...) get an error that
//! names them.

pub mod adts;
pub mod mp4;
pub mod ts;

use std::io::Read;
use std::path::Path;

use crate::packet::Demuxer;
use crate::{Error, Result};

/// Container formats [`open`] recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// ISO base media file format / MP4 / QuickTime ([`mp4`]).
    Mp4,
    /// MPEG-2 transport stream, 188, 192 (M2TS) or 204-byte packets ([`ts`]).
    Ts,
    /// Raw AAC in ADTS frames ([`adts`]).
    Adts,
}

/// Name a format we recognise but do not demux, from its first bytes.
fn foreign_format(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        return Some("Matroska/WebM");
    }
    if head.starts_with(b"FLV") {
        return Some("FLV");
    }
    if head.starts_with(b"ID3") || (head.len() > 1 && head[0] == 0xff && head[1] & 0xe0 == 0xe0 && head[1] & 0x06 != 0)
    {
        return Some("MP3 / MPEG audio");
    }
    if head.starts_with(b"RIFF") {
        return Some("RIFF (AVI/WAV)");
    }
    if head.starts_with(b"OggS") {
        return Some("Ogg");
    }
    if head.starts_with(b"fLaC") {
        return Some("FLAC");
    }
    if head.starts_with(&[0x89, b'P', b'N', b'G']) || head.starts_with(&[0xff, 0xd8, 0xff]) || head.starts_with(b"GIF8")
    {
        return Some("an image");
    }
    if head.starts_with(b"#EXTM3U") {
        return Some("an HLS playlist (use `stitch record`)");
    }
    if head.starts_with(&[0, 0, 0, 1]) || head.starts_with(&[0, 0, 1]) {
        return Some("a raw H.264/HEVC elementary stream (no container, no timestamps)");
    }
    None
}

/// Identify the container from its first bytes (up to a few KB).
pub fn probe(head: &[u8]) -> Result<Format> {
    if head.is_empty() {
        return Err(Error::NoMedia(" (empty file)".into()));
    }
    if ts::TsDemuxer::probe(head) {
        return Ok(Format::Ts);
    }
    if mp4::probe(head) {
        return Ok(Format::Mp4);
    }
    if adts::AdtsDemuxer::probe(head) {
        return Ok(Format::Adts);
    }
    match foreign_format(head) {
        Some(name) => Err(Error::UnknownFormat(format!("{name} is not supported"))),
        None => {
            let printable =
                head.iter().take(64).filter(|b| b.is_ascii_graphic() || **b == b' ' || **b == b'\n').count();
            if printable == head.len().min(64) {
                Err(Error::UnknownFormat("a text file, not media".into()))
            } else {
                Err(Error::UnknownFormat("not MP4, MPEG-TS or ADTS".into()))
            }
        }
    }
}

/// Open a media file by content.
pub fn open(path: &Path) -> Result<(Format, Box<dyn Demuxer>)> {
    let io = |e| Error::Io { path: path.to_path_buf(), source: e };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut head = vec![0u8; 8192];
    let mut n = 0;
    while n < head.len() {
        let k = f.read(&mut head[n..]).map_err(io)?;
        if k == 0 {
            break;
        }
        n += k;
    }
    head.truncate(n);
    let fmt = probe(&head)?;
    let d: Box<dyn Demuxer> = match fmt {
        Format::Mp4 => Box::new(mp4::Mp4Demuxer::open(path)?),
        Format::Ts => Box::new(ts::TsDemuxer::open(path)?),
        Format::Adts => Box::new(adts::AdtsDemuxer::open(path)?),
    };
    Ok((fmt, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_formats_are_named() {
        let e = probe(&[0x1a, 0x45, 0xdf, 0xa3, 1, 2, 3]).unwrap_err().to_string();
        assert!(e.contains("Matroska"), "{e}");
        let e = probe(b"hello world, this is text\n").unwrap_err().to_string();
        assert!(e.contains("text"), "{e}");
        let e = probe(&[]).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
    }
}
