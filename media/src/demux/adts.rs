//! Raw AAC in ADTS (Audio Data Transport Stream) demuxer: ISO/IEC 13818-7 §6.2 (the
//! `adts_frame`: fixed and variable header, optional CRC, raw_data_blocks) and
//! ISO/IEC 14496-3 §1.A.2, as used in `.aac` files and in HLS "packed audio" segments.
//!
//! Layout handled: an optional ID3v2 tag at the start (ID3v2.4 §3.1: "ID3", version, flags,
//! a 28-bit syncsafe size, optional 10-byte footer), then frames each beginning with the
//! 12-bit syncword 0xFFF; `frame_length` (13 bits) includes the 7-byte header (9 with CRC).
//! Anything between frames (garbage, further ID3 tags) is skipped by resynchronising: a
//! syncword found outside the expected position is accepted only when another valid,
//! consistent header follows at its `frame_length` (or the input ends exactly there).
//! A truncated last frame ends the stream.
//!
//! Output: one stream, [`Codec::Aac`], timebase = sample rate, config = the
//! AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) derived from the first header; one packet
//! per frame with the header stripped, `pts = dts = ` samples before it (1024 per raw data
//! block), every packet a keyframe.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use bytes::Bytes;

use crate::codec::aac::{AdtsHeader, AudioConfig, FRAME_SAMPLES};
use crate::packet::{Codec, Demuxer, MediaKind, Packet, StreamInfo};
use crate::time::rescale;
use crate::{Error, Result};

/// Total length of the ID3v2 tag at the start of `head` (header, body and footer), if any.
pub fn id3v2_len(head: &[u8]) -> Option<usize> {
    let h = head.get(..10)?;
    if &h[..3] != b"ID3" || h[3] == 0xff || h[4] == 0xff || h[6..10].iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    let size = h[6..10].iter().fold(0usize, |a, &b| (a << 7) | b as usize);
    let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

/// Result of [`find_frame`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AdtsScan {
    /// A whole frame starts at `offset` (bytes before it are garbage).
    Frame {
        /// Where the frame's syncword is, in bytes from the start of the data.
        offset: usize,
        /// The frame's parsed header (its length included).
        header: AdtsHeader,
    },
    /// No whole frame yet: bytes before `offset` are garbage and can be dropped; the rest
    /// may begin a frame, so keep it and retry with more data.
    NeedMore {
        /// Bytes that can be dropped from the start of the data.
        offset: usize,
    },
}

fn consistent(a: &AdtsHeader, b: &AdtsHeader) -> bool {
    a.config.sample_rate == b.config.sample_rate
        && a.config.channels == b.config.channels
        && a.config.object_type == b.config.object_type
}

fn has_sync(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] == 0xff && b[1] & 0xf6 == 0xf0
}

/// Find the next ADTS frame in `buf`. `prev` is the header of the frame that ended exactly
/// where `buf` starts (`None` after garbage or at the start): a valid header at offset 0
/// consistent with it (same rate, channels, profile) is trusted. Any other candidate must
/// be confirmed by a consistent header right after it, or by `at_end` (no more data will
/// come) with the frame ending exactly at the end of `buf`.
pub(crate) fn find_frame(buf: &[u8], prev: Option<&AdtsHeader>, at_end: bool) -> AdtsScan {
    let mut i = 0;
    loop {
        if i + 7 > buf.len() {
            // Keep a possible partial header.
            let keep = (i..buf.len()).find(|&j| buf[j] == 0xff).unwrap_or(buf.len());
            return AdtsScan::NeedMore { offset: keep };
        }
        if has_sync(&buf[i..]) {
            if let Ok(h) = AdtsHeader::parse(&buf[i..]) {
                let end = i + h.frame_len;
                if i == 0 && prev.is_some_and(|p| consistent(p, &h)) {
                    return if end <= buf.len() {
                        AdtsScan::Frame { offset: 0, header: h }
                    } else {
                        AdtsScan::NeedMore { offset: 0 }
                    };
                }
                if end + 7 <= buf.len() {
                    if has_sync(&buf[end..]) {
                        if let Ok(n) = AdtsHeader::parse(&buf[end..]) {
                            if consistent(&h, &n) {
                                return AdtsScan::Frame { offset: i, header: h };
                            }
                        }
                    }
                } else if !at_end {
                    return AdtsScan::NeedMore { offset: i };
                } else if end == buf.len() {
                    return AdtsScan::Frame { offset: i, header: h };
                }
            }
        }
        i += 1;
    }
}

/// Is `head` raw ADTS? After an optional ID3v2 tag, two valid consistent ADTS headers, the
/// second at the first one's `frame_length`.
pub fn probe(head: &[u8]) -> bool {
    let start = id3v2_len(head).unwrap_or(0);
    let Some(b) = head.get(start..) else {
        return false;
    };
    if !has_sync(b) {
        return false;
    }
    let Ok(h) = AdtsHeader::parse(b) else {
        return false;
    };
    let Some(mut next) = b.get(h.frame_len..) else {
        return false;
    };
    // An ID3 tag between the frames (e.g. cover art after the first frame).
    if let Some(n) = id3v2_len(next) {
        match next.get(n..) {
            Some(rest) if rest.len() >= 7 => next = rest,
            _ => return true,
        }
    }
    has_sync(next) && AdtsHeader::parse(next).map(|n| consistent(&h, &n)).unwrap_or(false)
}

/// Largest ADTS frame (13-bit frame_length) plus the next header for confirmation.
const WINDOW: usize = 8192 + 16;

/// Raw ADTS demuxer. See the module documentation.
pub struct AdtsDemuxer {
    r: Box<dyn Read + Send>,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    /// Header of the frame that ended at `pos`, if `pos` follows it directly.
    prev: Option<AdtsHeader>,
    streams: Vec<StreamInfo>,
    samples: i64,
    pending: Option<Packet>,
    done: bool,
}

impl AdtsDemuxer {
    /// Open a file.
    pub fn open(path: impl AsRef<Path>) -> Result<AdtsDemuxer> {
        let path = path.as_ref();
        let f = File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Self::from_reader(f)
    }

    /// Read ADTS incrementally from `r`; reads the first frame to learn the parameters.
    pub fn from_reader<R: Read + Send + 'static>(r: R) -> Result<AdtsDemuxer> {
        let mut d = AdtsDemuxer {
            r: Box::new(r),
            buf: Vec::with_capacity(4 * WINDOW),
            pos: 0,
            eof: false,
            prev: None,
            streams: Vec::new(),
            samples: 0,
            pending: None,
            done: false,
        };
        let Some((h, data)) = d.next_frame()? else {
            return Err(Error::NoMedia(" (no ADTS frame found: not raw AAC?)".into()));
        };
        let rate = h.config.sample_rate;
        let cfg = AudioConfig { ext_sample_rate: None, ..h.config };
        let mut info = StreamInfo::new(0, MediaKind::Audio, Codec::Aac, rate);
        info.config = Bytes::from(cfg.to_bytes());
        info.sample_rate = rate;
        info.channels = cfg.channels;
        d.streams.push(info);
        d.pending = Some(d.packet(&h, data));
        Ok(d)
    }

    /// Is `head` raw ADTS? See [`probe`].
    pub fn probe(head: &[u8]) -> bool {
        probe(head)
    }

    fn fill(&mut self, want: usize) -> Result<()> {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        while self.buf.len() - self.pos < want && !self.eof {
            match self.r.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::IoUnnamed(e)),
            }
        }
        Ok(())
    }

    /// Discard `n` bytes (streaming, without buffering them all).
    fn skip(&mut self, mut n: usize) -> Result<()> {
        while n > 0 {
            self.fill(1)?;
            let avail = self.buf.len() - self.pos;
            if avail == 0 {
                break;
            }
            let k = n.min(avail);
            self.pos += k;
            n -= k;
        }
        Ok(())
    }

    /// The next frame's header and payload.
    fn next_frame(&mut self) -> Result<Option<(AdtsHeader, Vec<u8>)>> {
        loop {
            self.fill(WINDOW)?;
            if let Some(n) = id3v2_len(&self.buf[self.pos..]) {
                // An ID3 tag between frames (concatenated HLS packed-audio segments).
                self.skip(n)?;
                self.prev = None;
                continue;
            }
            match find_frame(&self.buf[self.pos..], self.prev.as_ref(), self.eof) {
                AdtsScan::Frame { offset, header } => {
                    let start = self.pos + offset;
                    let end = start + header.frame_len;
                    self.pos = end;
                    self.prev = Some(header);
                    let data = self.buf.get(start + header.header_len..end).unwrap_or(&[]);
                    if data.is_empty() {
                        continue;
                    }
                    return Ok(Some((header, data.to_vec())));
                }
                AdtsScan::NeedMore { offset } => {
                    if offset > 0 {
                        self.prev = None;
                    }
                    self.pos += offset;
                    if self.eof {
                        return Ok(None); // nothing or a truncated frame left
                    }
                    if offset == 0 && self.buf.len() - self.pos >= WINDOW {
                        // Cannot happen with a full window; skip a byte to guarantee progress.
                        self.pos += 1;
                        self.prev = None;
                    }
                }
            }
        }
    }

    fn packet(&mut self, h: &AdtsHeader, data: Vec<u8>) -> Packet {
        let tb = self.streams.first().map(|s| s.timebase).unwrap_or(h.config.sample_rate);
        let n = FRAME_SAMPLES as i64 * h.blocks as i64;
        let pts = self.samples;
        let duration = rescale(n, h.config.sample_rate, tb);
        self.samples += duration;
        Packet { stream: 0, pts, dts: pts, duration, keyframe: true, data: Bytes::from(data) }
    }
}

impl Demuxer for AdtsDemuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    fn next_packet(&mut self) -> Result<Option<Packet>> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        if self.done {
            return Ok(None);
        }
        match self.next_frame()? {
            Some((h, data)) => Ok(Some(self.packet(&h, data))),
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
#[path = "tests/adts.rs"]
mod tests;
