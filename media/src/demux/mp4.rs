//! MP4 / QuickTime / 3GP / M4A demuxer (ISO base media file format).
//!
//! Implements the reading side of **ISO/IEC 14496-12** (ISO base media file format), with
//! the MP4 file format of **ISO/IEC 14496-14** (`esds`, the MPEG-4 elementary stream
//! descriptor, §3.1.2 / ISO/IEC 14496-1 §7.2.6.5) and the AVC file format of **ISO/IEC
//! 14496-15** (`avcC`, §5.3.3.1; length-prefixed NAL unit samples, converted to Annex B).
//!
//! # Box layout handled
//! Every box is `size:u32 type:fourcc [largesize:u64 if size == 1] payload`; `size == 0`
//! runs to the end of the enclosing box (at top level: the end of the file) (§4.2).
//! Only top-level boxes are walked in the file; `moov` and each `moof` are read into
//! memory, `mdat` is never read whole: each sample's bytes are read at its offset when
//! [`Demuxer::next_packet`] asks for it.
//!
//! ```text
//! moov ─ mvhd (movie timescale, duration)
//!      ├ mvex ─ mehd (fragment duration), trex (per-track fragment defaults)
//!      └ trak ─ tkhd (track_ID, width/height)
//!             ├ edts ─ elst (v0/v1)
//!             └ mdia ─ mdhd (timescale, duration, language), hdlr (vide/soun/...)
//!                    └ minf ─ stbl ─ stsd (first sample entry: avc1/avc3 avcC, mp4a esds,
//!                                    │       encv/enca sinf/frma/schm, others by fourcc)
//!                                    ├ stts, ctts (v0, v1 signed), stss
//!                                    ├ stsc, stsz / stz2, stco / co64
//! moof ─ traf ─ tfhd (base-data-offset, defaults, default-base-is-moof)
//!             ├ tfdt (v0/v1 baseMediaDecodeTime)
//!             └ trun* (data-offset, first-sample-flags, per-sample duration/size/flags/
//!                      composition offset, v0 and v1)
//! ```
//! A file may hold samples both in `moov` and in fragments; init segment + media segments
//! concatenated work as any fragmented file. Everything else (`udta`, `meta`, `sidx`,
//! `mfra`, `senc`, ...) is skipped.
//!
//! # Timestamps
//! `timebase` is the `mdhd` timescale. `dts` comes from `stts` (and `tfdt`, else the end of
//! the previous run, for fragments), `pts = dts + composition offset`. As in FFmpeg, when
//! composition offsets are negative (`ctts` v1 / `trun` v1) `dts` is lowered by the most
//! negative offset so that `dts <= pts`.
//! Edit lists (`elst`) are applied the way FFmpeg does for the common cases: leading empty
//! edits (`media_time == -1`) delay the track by their duration (movie timescale converted
//! to the media timescale); the first non-empty edit's `media_time` M shifts every
//! timestamp by `-M` (so AAC priming samples get negative pts, and a B-frame delay edit
//! makes the first presented picture pts 0). `presentation_end` is the delay plus the
//! duration of the non-empty edits (when non-zero). Further non-empty edits are **not**
//! applied as separate cuts: only the first edit's `media_time` is used, later edits just
//! extend `presentation_end` (contiguous edits are equivalent to that; repeats or jumps
//! are not reproduced).
//!
//! # Packet order
//! Samples of `moov` come first, then those of each `moof` in file order. Within one of
//! these groups the next packet is chosen like FFmpeg's mov demuxer does for seekable
//! input: by file offset when the candidates' dts are within one second of each other,
//! otherwise by dts (so badly interleaved files do not force a consumer to buffer a whole
//! track).
//!
//! # Seeking
//! [`Demuxer::seek`] only moves each track's cursor in its sample table (no I/O). Video
//! resumes at the last *entry point* at or before (in decode order) every picture presented
//! from the one showing at the target: a sync sample (`stss`, or the fragment sample flags)
//! that no sample shortly after it in decode order presents before it. A sync sample
//! followed by such leading pictures (an open-GOP recovery point) is passed over, since
//! those pictures reference the previous GOP. Audio resumes `AUDIO_PREROLL_FRAMES` frames
//! before the one containing the target. Progressive and fragmented files are handled alike
//! (a track's samples from `moov` and every `moof` form one table in decode order).
//!
//! # Robustness
//! Every size and count read from the file is checked against the bytes actually present
//! (box sizes against the enclosing box and the file size; table entry counts against the
//! table's box). Samples whose bytes lie beyond the end of the file are reported once as
//! `Error::Invalid("truncated: ...")` after all complete samples, then the demuxer ends.
//! Raw PCM tracks that store one "sample" per audio frame are read one chunk per packet.
//! Tracks whose tables cannot be parsed are dropped (the file fails only if no audio or
//! video track remains); tracks without any sample are dropped too.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;

use crate::codec::aac::AudioConfig;
use crate::codec::h264;
use crate::packet::{Codec, Demuxer, MediaKind, Packet, StreamInfo};
use crate::time::rescale;
use crate::{Error, Result};

type FourCC = [u8; 4];

/// Hard cap of samples indexed per track (32 bytes each): beyond any real file (10 h of
/// 60 fps video is 2.2 M samples, 24 h of 48 kHz AAC 4.1 M), it only bounds memory for
/// hostile tables.
const MAX_SAMPLES_PER_TRACK: usize = 8 << 20;
/// Largest single sample we will read into memory.
const MAX_SAMPLE_BYTES: u32 = 256 << 20;
/// Samples after a sync sample looked at for leading pictures (more than any H.264
/// reorder depth, which is at most 16).
const LEADING_WINDOW: usize = 32;
/// Audio frames delivered before the one containing a seek target (decoder priming: the
/// MDCT overlap of AAC needs the previous frame; SBR a few more).
const AUDIO_PREROLL_FRAMES: usize = 4;
/// Largest moov/moof we will read into memory.
const MAX_HEADER_BOX: u64 = 1 << 30;
/// Top-level boxes walked at most (bounds the scan of hostile files made of tiny boxes).
const MAX_TOP_LEVEL_BOXES: usize = 4 << 20;

trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

fn fourcc_str(t: &FourCC) -> String {
    t.iter().map(|&c| if c.is_ascii_graphic() || c == b' ' { c as char } else { '?' }).collect()
}

fn truncated(what: &str) -> Error {
    Error::Invalid(format!("truncated {what} box"))
}

// ---------------------------------------------------------------------------------------
// Byte cursor and box iteration over in-memory payloads
// ---------------------------------------------------------------------------------------

/// A bounds-checked big-endian reader over a box payload.
struct Cur<'a> {
    b: &'a [u8],
    p: usize,
    what: &'static str,
}

impl<'a> Cur<'a> {
    fn new(b: &'a [u8], what: &'static str) -> Cur<'a> {
        Cur { b, p: 0, what }
    }
    fn left(&self) -> usize {
        self.b.len().saturating_sub(self.p)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.left() {
            return Err(truncated(self.what));
        }
        let s = &self.b[self.p..self.p + n];
        self.p += n;
        Ok(s)
    }
    fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u24(&mut self) -> Result<u32> {
        let s = self.take(3)?;
        Ok(u32::from_be_bytes([0, s[0], s[1], s[2]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }
    /// FullBox header: (version, flags).
    fn full(&mut self) -> Result<(u8, u32)> {
        let v = self.u8()?;
        Ok((v, self.u24()?))
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = self.b.get(self.p..).unwrap_or(&[]);
        self.p = self.b.len();
        s
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

fn be_u16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

/// One child box inside an in-memory payload.
struct BoxRef<'a> {
    typ: FourCC,
    data: &'a [u8],
}

/// Iterates the boxes (ISO/IEC 14496-12 §4.2) of a payload. A trailing remainder shorter than a box header is
/// ignored (some writers pad containers with a 32-bit zero); a box whose size is smaller
/// than its header or larger than what remains yields one `Err` and ends the iteration.
struct Children<'a> {
    b: &'a [u8],
    p: usize,
    done: bool,
}

fn children(b: &[u8]) -> Children<'_> {
    Children { b, p: 0, done: false }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<BoxRef<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.b.get(self.p..).unwrap_or(&[]);
        if rest.len() < 8 {
            self.done = true;
            return None;
        }
        let size32 = be_u32(rest, 0) as u64;
        let typ = [rest[4], rest[5], rest[6], rest[7]];
        let (size, hdr) = match size32 {
            0 => (rest.len() as u64, 8usize),
            1 => {
                if rest.len() < 16 {
                    self.done = true;
                    return Some(Err(Error::Invalid(format!("truncated 64-bit size of '{}' box", fourcc_str(&typ)))));
                }
                let mut a = [0u8; 8];
                a.copy_from_slice(&rest[8..16]);
                (u64::from_be_bytes(a), 16usize)
            }
            s => (s, 8usize),
        };
        if size < hdr as u64 {
            self.done = true;
            return Some(Err(Error::Invalid(format!("'{}' box with impossible size {size}", fourcc_str(&typ)))));
        }
        if size > rest.len() as u64 {
            self.done = true;
            return Some(Err(Error::Invalid(format!(
                "truncated '{}' box: declares {size} bytes, {} present",
                fourcc_str(&typ),
                rest.len()
            ))));
        }
        let size = size as usize;
        self.p += size;
        Some(Ok(BoxRef { typ, data: &rest[hdr..size] }))
    }
}

/// The payload of the first child of type `t` (errors of malformed siblings propagate).
fn find<'a>(b: &'a [u8], t: &FourCC) -> Result<Option<&'a [u8]>> {
    for c in children(b) {
        let c = c?;
        if &c.typ == t {
            return Ok(Some(c.data));
        }
    }
    Ok(None)
}

/// Like [`find`] but tolerant: stops silently at a malformed sibling.
fn find_lenient<'a>(b: &'a [u8], t: &FourCC) -> Option<&'a [u8]> {
    for c in children(b) {
        match c {
            Ok(c) if &c.typ == t => return Some(c.data),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Probe
// ---------------------------------------------------------------------------------------

/// Is this the start of an ISO BMFF / QuickTime file? Looks at the first box header only.
pub fn probe(head: &[u8]) -> bool {
    if head.len() < 8 {
        return false;
    }
    let size = be_u32(head, 0);
    let typ = &head[4..8];
    const TYPES: &[&[u8; 4]] = &[
        b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"moof", b"sidx", b"pdin", b"uuid", b"pnot",
        b"prfl", b"emsg", b"prft", b"junk", b"meta",
    ];
    if !TYPES.iter().any(|t| &t[..] == typ) {
        return false;
    }
    match size {
        0 => true,
        1 => head.len() < 16 || u64::from_be_bytes(head[8..16].try_into().unwrap_or([0; 8])) >= 16,
        s => s >= 8,
    }
}

// ---------------------------------------------------------------------------------------
// Sample index
// ---------------------------------------------------------------------------------------

const KEY_BIT: u32 = 1 << 31;

/// One indexed sample (32 bytes).
#[derive(Clone, Copy, Debug)]
struct Sample {
    offset: u64,
    /// Decode time in media ticks before edit lists.
    dts: i64,
    size: u32,
    /// Composition offset (pts - dts).
    cts: i32,
    duration: u32,
    /// Bit 31: sync sample. Bits 0..31: group (0 = moov, k = k-th moof).
    group_key: u32,
}

impl Sample {
    fn key(&self) -> bool {
        self.group_key & KEY_BIT != 0
    }
    fn group(&self) -> u32 {
        self.group_key & !KEY_BIT
    }
}

/// Run-length table cursor (stts / ctts).
struct RunCursor<'a> {
    t: &'a [u8],
    i: usize,
    left: u32,
    val: u32,
}

impl<'a> RunCursor<'a> {
    fn new(t: &'a [u8]) -> RunCursor<'a> {
        RunCursor { t, i: 0, left: 0, val: 0 }
    }
    /// Next value, `None` when the table is exhausted.
    fn next(&mut self) -> Option<u32> {
        while self.left == 0 {
            if self.i + 8 > self.t.len() {
                return None;
            }
            self.left = be_u32(self.t, self.i);
            self.val = be_u32(self.t, self.i + 4);
            self.i += 8;
        }
        self.left -= 1;
        Some(self.val)
    }
    /// Sum of the next `n` values (`default` for those past the end), in O(entries).
    fn sum(&mut self, mut n: u64, default: u32) -> u64 {
        let mut total: u64 = 0;
        while n > 0 {
            while self.left == 0 {
                if self.i + 8 > self.t.len() {
                    return total.saturating_add(n.saturating_mul(default as u64));
                }
                self.left = be_u32(self.t, self.i);
                self.val = be_u32(self.t, self.i + 4);
                self.i += 8;
            }
            let k = n.min(self.left as u64);
            total = total.saturating_add(k.saturating_mul(self.val as u64));
            self.left -= k as u32;
            n -= k;
        }
        total
    }
}

/// A FullBox (ISO/IEC 14496-12 §4.2) holding `entry_count` then fixed-width entries: `stts`
/// (§8.6.1.2), `ctts` (§8.6.1.3), `stss` (§8.6.2), `stsc` (§8.7.4), `stco`/`co64` (§8.7.5).
fn full_table<'a>(data: &'a [u8], name: &'static str, width: usize) -> Result<&'a [u8]> {
    let mut k = Cur::new(data, name);
    k.full()?;
    let n = k.u32()?;
    Ok(table(&mut k, n, width))
}

/// A table of `count` big-endian entries of `width` bytes, where the count is capped by the
/// bytes present.
fn table<'a>(c: &mut Cur<'a>, count: u32, width: usize) -> &'a [u8] {
    let rest = c.rest();
    let n = (count as usize).min(rest.len() / width);
    &rest[..n * width]
}

/// What the sample entry says (ISO/IEC 14496-12 §8.5.2).
#[derive(Clone, Debug, Default)]
struct EntryInfo {
    fourcc: FourCC,
    codec: Option<Codec>,
    width: u32,
    height: u32,
    sample_rate: u32,
    channels: u16,
    config: Vec<u8>,
    nal_len: Option<usize>,
    /// Encryption scheme when the entry is protected.
    encrypted: Option<String>,
    /// Raw PCM: bytes of one audio frame (all channels), to read one chunk per packet.
    pcm_frame_bytes: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Trex {
    track_id: u32,
    duration: u32,
    size: u32,
    flags: u32,
}

#[derive(Clone, Copy, Debug)]
struct Edit {
    duration: u64,
    media_time: i64,
}

/// A track while the index is being built.
struct BuildTrack {
    track_id: u32,
    kind: MediaKind,
    timescale: u32,
    duration: Option<u64>,
    language: Option<String>,
    tkhd_w: u32,
    tkhd_h: u32,
    entry: EntryInfo,
    edits: Vec<Edit>,
    samples: Vec<Sample>,
    /// Raw dts of the next fragment sample when no `tfdt` says otherwise.
    next_dts: i64,
    trex: Trex,
}

// ---------------------------------------------------------------------------------------
// Sample entries
// ---------------------------------------------------------------------------------------

/// Parse an ES_Descriptor (ISO/IEC 14496-1 §7.2.6.5; the `esds` payload of ISO/IEC 14496-14
/// §5.6 after the FullBox header): returns (objectTypeIndication of its DecoderConfigDescriptor
/// (§7.2.6.6), DecoderSpecificInfo (§7.2.6.7)).
fn parse_esds(b: &[u8]) -> Option<(u8, Vec<u8>)> {
    fn desc<'a>(c: &mut Cur<'a>) -> Option<(u8, &'a [u8])> {
        let tag = c.u8().ok()?;
        let mut len = 0usize;
        for _ in 0..4 {
            let x = c.u8().ok()?;
            len = (len << 7) | (x & 0x7f) as usize;
            if x & 0x80 == 0 {
                break;
            }
        }
        let len = len.min(c.left());
        Some((tag, c.take(len).ok()?))
    }
    let mut c = Cur::new(b, "esds");
    c.skip(4).ok()?; // version + flags
    let (tag, es) = desc(&mut c)?;
    let mut dc = if tag == 0x03 {
        let mut e = Cur::new(es, "esds");
        e.skip(2).ok()?; // ES_ID
        let f = e.u8().ok()?;
        if f & 0x80 != 0 {
            e.skip(2).ok()?;
        }
        if f & 0x40 != 0 {
            let n = e.u8().ok()? as usize;
            e.skip(n).ok()?;
        }
        if f & 0x20 != 0 {
            e.skip(2).ok()?;
        }
        // Find the DecoderConfigDescriptor among the sub-descriptors.
        let mut found = None;
        while e.left() > 0 {
            let (t, d) = desc(&mut e)?;
            if t == 0x04 {
                found = Some(d);
                break;
            }
        }
        Cur::new(found?, "esds")
    } else if tag == 0x04 {
        Cur::new(es, "esds")
    } else {
        return None;
    };
    let oti = dc.u8().ok()?;
    if dc.skip(12).is_err() {
        return Some((oti, Vec::new()));
    }
    while dc.left() > 0 {
        match desc(&mut dc) {
            Some((0x05, d)) => return Some((oti, d.to_vec())),
            Some(_) => {}
            None => break,
        }
    }
    Some((oti, Vec::new()))
}

/// FFmpeg's name for an MPEG-4 objectTypeIndication (ISO/IEC 14496-1 Table 5 and the MP4
/// registration authority).
fn oti_codec(oti: u8) -> Option<&'static str> {
    Some(match oti {
        0x20 => "mpeg4",
        0x21 => "h264",
        0x23 => "hevc",
        0x40 | 0x66 | 0x67 | 0x68 => "aac",
        0x60..=0x65 => "mpeg2video",
        0x69 | 0x6b => "mp3",
        0x6a => "mpeg1video",
        0x6c => "mjpeg",
        0x6d => "png",
        0xa3 => "vc1",
        0xa4 => "dirac",
        0xa5 => "ac3",
        0xa6 => "eac3",
        0xa9..=0xac => "dts",
        0xad => "opus",
        0xb1 => "vp9",
        0xdd => "vorbis",
        0xe1 => "qcelp",
        _ => return None,
    })
}

fn fourcc_name(t: &FourCC) -> String {
    let s: String = t.iter().filter(|c| c.is_ascii_graphic()).map(|&c| (c as char).to_ascii_lowercase()).collect();
    if s.is_empty() {
        "unknown".into()
    } else {
        s
    }
}

/// PCM codec names (FFmpeg's) for QuickTime/ISO uncompressed audio entries.
fn pcm_name(t: &FourCC, bits: u16, lpcm_flags: Option<u32>) -> Option<String> {
    let s = |x: &str| Some(x.to_string());
    match t {
        b"twos" => match bits {
            8 => s("pcm_s8"),
            24 => s("pcm_s24be"),
            32 => s("pcm_s32be"),
            _ => s("pcm_s16be"),
        },
        b"sowt" => match bits {
            8 => s("pcm_s8"),
            24 => s("pcm_s24le"),
            32 => s("pcm_s32le"),
            _ => s("pcm_s16le"),
        },
        b"raw " | b"NONE" => s("pcm_u8"),
        b"in24" => s("pcm_s24be"),
        b"in32" => s("pcm_s32be"),
        b"fl32" => s("pcm_f32be"),
        b"fl64" => s("pcm_f64be"),
        b"ulaw" => s("pcm_mulaw"),
        b"alaw" => s("pcm_alaw"),
        b"lpcm" => {
            let f = lpcm_flags.unwrap_or(0);
            let float = f & 1 != 0;
            let be = f & 2 != 0;
            let signed = f & 4 != 0;
            let b = if bits == 0 { 16 } else { bits };
            let k = if float {
                'f'
            } else if signed || b > 8 {
                's'
            } else {
                'u'
            };
            if b == 8 {
                Some(format!("pcm_{k}8"))
            } else {
                Some(format!("pcm_{k}{b}{}", if be { "be" } else { "le" }))
            }
        }
        _ => None,
    }
}

fn codec_for_fourcc(t: &FourCC) -> Codec {
    let o = |s: &str| Codec::Other(s.to_string());
    match t {
        b"avc1" | b"avc3" => Codec::H264,
        b"mp4a" => Codec::Aac,
        b"hvc1" | b"hev1" | b"dvh1" | b"dvhe" => o("hevc"),
        b"vp08" => o("vp8"),
        b"vp09" => o("vp9"),
        b"av01" => o("av1"),
        b"vvc1" | b"vvi1" => o("vvc"),
        b"Opus" => o("opus"),
        b"fLaC" => o("flac"),
        b"ac-3" => o("ac3"),
        b"ec-3" => o("eac3"),
        b"ac-4" => o("ac4"),
        b"mp4v" => o("mpeg4"),
        b"jpeg" | b"mjpa" | b"mjpb" => o("mjpeg"),
        b"s263" | b"h263" | b"H263" => o("h263"),
        b"samr" => o("amr_nb"),
        b"sawb" => o("amr_wb"),
        b"alac" => o("alac"),
        b".mp3" | b"ms\0\x55" => o("mp3"),
        b"dtsc" | b"dtsh" | b"dtsl" | b"dtse" | b"dtsx" => o("dts"),
        b"mha1" | b"mhm1" => o("mpegh_3d_audio"),
        b"apch" | b"apcn" | b"apcs" | b"apco" | b"ap4h" | b"ap4x" => o("prores"),
        b"mp2v" | b"mpg2" => o("mpeg2video"),
        _ => Codec::Other(fourcc_name(t)),
    }
}

/// Codec configuration boxes whose payload becomes `StreamInfo::config` for other codecs.
const CONFIG_BOXES: &[&[u8; 4]] =
    &[b"hvcC", b"av1C", b"vpcC", b"dOps", b"dfLa", b"alac", b"dac3", b"dec3", b"dac4", b"vvcC"];

/// Look for the encryption scheme inside a `sinf` box (ISO/IEC 14496-12 §8.12.1): the original
/// format (`frma`) and the scheme type (`schm`).
fn sinf_scheme(sinf: &[u8]) -> (Option<FourCC>, String) {
    let frma = find_lenient(sinf, b"frma").and_then(|f| f.get(0..4)).map(|s| [s[0], s[1], s[2], s[3]]);
    let scheme = find_lenient(sinf, b"schm")
        .and_then(|s| s.get(4..8))
        .map(|s| fourcc_name(&[s[0], s[1], s[2], s[3]]))
        .unwrap_or_else(|| "cenc".to_string());
    (frma, scheme)
}

/// The fixed fields of an AudioSampleEntry (ISO/IEC 14496-12 §12.2.3; QuickTime versions 1
/// and 2) into `e`; returns the child boxes after them.
fn audio_sample_entry<'a>(typ: FourCC, p: &'a [u8], e: &mut EntryInfo) -> &'a [u8] {
    let version = be_u16(p, 8);
    e.channels = be_u16(p, 16);
    let bits = be_u16(p, 18);
    e.sample_rate = be_u32(p, 24) >> 16;
    let mut frame_bytes = e.channels as u32 * (bits as u32).div_ceil(8);
    let mut lpcm_flags = None;
    let kids_at = match version {
        1 => {
            let bpf = be_u32(p, 28 + 8);
            if bpf > 0 {
                frame_bytes = bpf;
            }
            44
        }
        2 => {
            let rate = f64::from_bits(u64::from(be_u32(p, 32)) << 32 | u64::from(be_u32(p, 36)));
            if (1.0..1e7).contains(&rate) {
                e.sample_rate = rate as u32;
            }
            let ch = be_u32(p, 40);
            if ch > 0 && ch < 256 {
                e.channels = ch as u16;
            }
            let b = be_u32(p, 48);
            lpcm_flags = Some(be_u32(p, 52));
            let bpp = be_u32(p, 56);
            if bpp > 0 {
                frame_bytes = bpp;
            }
            if typ == *b"lpcm" && b > 0 && b <= 64 {
                e.codec = pcm_name(&typ, b as u16, lpcm_flags).map(Codec::Other);
            }
            64
        }
        _ => 28,
    };
    if e.codec.is_none() {
        if let Some(n) = pcm_name(&typ, bits, lpcm_flags) {
            e.codec = Some(Codec::Other(n));
        }
    }
    if e.codec.is_some() && frame_bytes > 0 {
        e.pcm_frame_bytes = Some(frame_bytes);
    }
    p.get(kids_at..).unwrap_or(&[])
}

/// The codec an `esds` (ISO/IEC 14496-14 §5.6) declares, its DecoderSpecificInfo kept as
/// `e.config` and, for AAC, the rate and channels of its AudioSpecificConfig in `e`.
/// `None`: no esds parsed, or an object type without a codec name (codec unchanged).
fn esds_codec(es: &[u8], e: &mut EntryInfo) -> Option<Codec> {
    let (oti, dsi) = parse_esds(es)?;
    let codec = match oti_codec(oti) {
        Some("aac") => {
            let mut codec = Codec::Aac;
            if let Ok(ac) = AudioConfig::parse(&dsi) {
                match ac.object_type {
                    36 => codec = Codec::Other("mp4als".into()),
                    32 => codec = Codec::Other("mp1".into()),
                    33 => codec = Codec::Other("mp2".into()),
                    34 => codec = Codec::Other("mp3".into()),
                    _ => {}
                }
                let rate = ac.output_rate();
                if rate > 0 {
                    e.sample_rate = rate;
                }
                if ac.channels > 0 {
                    e.channels = ac.channels;
                }
            }
            Some(codec)
        }
        Some(n) => Some(if n == "h264" { Codec::H264 } else { Codec::Other(n.into()) }),
        None => None,
    };
    e.config = dsi;
    codec
}

/// One sample entry of an `stsd` (ISO/IEC 14496-12 §8.5.2): codec and its configuration,
/// picture size or audio format, protection.
fn parse_sample_entry(typ: FourCC, p: &[u8], kind: MediaKind) -> EntryInfo {
    let mut e = EntryInfo { fourcc: typ, ..Default::default() };
    // Child boxes follow the fixed fields of Visual/AudioSampleEntry.
    let kids: &[u8] = match kind {
        MediaKind::Video => {
            e.width = be_u16(p, 24) as u32;
            e.height = be_u16(p, 26) as u32;
            p.get(78..).unwrap_or(&[])
        }
        MediaKind::Audio => audio_sample_entry(typ, p, &mut e),
    };

    let mut fourcc = typ;
    if let Some(sinf) = find_lenient(kids, b"sinf") {
        let (frma, scheme) = sinf_scheme(sinf);
        if let Some(f) = frma {
            fourcc = f;
        }
        e.encrypted = Some(scheme);
    } else if &typ == b"encv" || &typ == b"enca" {
        e.encrypted = Some("cenc".into());
    }

    // esds may be a direct child or inside a QuickTime 'wave' box.
    let esds =
        find_lenient(kids, b"esds").or_else(|| find_lenient(kids, b"wave").and_then(|w| find_lenient(w, b"esds")));

    let mut codec = e.codec.clone().unwrap_or_else(|| codec_for_fourcc(&fourcc));
    if let Some(c) = esds.and_then(|es| esds_codec(es, &mut e)) {
        codec = c;
    }
    if codec == Codec::H264 {
        let avcc = find_lenient(kids, b"avcC").unwrap_or(&[]);
        e.config = avcc.to_vec();
        e.nal_len = Some(4);
        if let Ok(cfg) = h264::AvcConfig::parse(avcc) {
            e.nal_len = Some(cfg.nal_length_size);
            if e.width == 0 || e.height == 0 {
                if let Some(sps) = cfg.sps.first().and_then(|s| h264::Sps::parse(s).ok()) {
                    e.width = sps.width;
                    e.height = sps.height;
                }
            }
        }
    } else if e.config.is_empty() {
        for t in CONFIG_BOXES {
            if let Some(c) = find_lenient(kids, t) {
                e.config = c.to_vec();
                break;
            }
        }
    }
    if e.encrypted.is_some() {
        codec = Codec::Other("encrypted".into());
        e.nal_len = None;
    }
    if !codec.name().starts_with("pcm_") {
        e.pcm_frame_bytes = None;
    }
    e.codec = Some(codec);
    e
}

// ---------------------------------------------------------------------------------------
// moov
// ---------------------------------------------------------------------------------------

struct Moov {
    movie_timescale: u32,
    movie_duration: Option<u64>,
    fragment_duration: Option<u64>,
    tracks: Vec<BuildTrack>,
    /// Per-track parse failures (track_ID, error), reported if nothing usable remains.
    failures: Vec<Error>,
    /// A/V tracks seen (including failed ones) and how many are encrypted, with scheme.
    av_tracks: usize,
    encrypted: Vec<String>,
}

fn valid_duration(d: u64) -> Option<u64> {
    if d == 0 || d == u32::MAX as u64 || d == u64::MAX {
        None
    } else {
        Some(d)
    }
}

/// Parse the `mvhd` box (ISO/IEC 14496-12 §8.2.2): (timescale, duration if declared).
fn parse_mvhd(b: &[u8]) -> Result<(u32, Option<u64>)> {
    let mut c = Cur::new(b, "mvhd");
    let (v, _) = c.full()?;
    if v == 1 {
        c.skip(16)?;
        let ts = c.u32()?;
        Ok((ts, valid_duration(c.u64()?)))
    } else {
        c.skip(8)?;
        let ts = c.u32()?;
        Ok((ts, valid_duration(c.u32()? as u64)))
    }
}

/// The ISO 639-2/T language packed in `mdhd` (ISO/IEC 14496-12 §8.4.2: three 5-bit letters,
/// each minus 0x60); `None` for QuickTime codes (below 0x400), 0x7fff, and codes that do not
/// unpack to three lowercase letters.
fn parse_language(code: u16) -> Option<String> {
    if code < 0x400 || code == 0x7fff {
        return None;
    }
    let s: String =
        [(code >> 10) & 31, (code >> 5) & 31, code & 31].iter().map(|&c| (c as u8 + 0x60) as char).collect();
    if s.chars().all(|c| c.is_ascii_lowercase()) {
        Some(s)
    } else {
        None
    }
}

/// Parse the `moov` box (ISO/IEC 14496-12 §8.2.1): `mvhd`, then every `trak`; tracks that fail
/// are recorded, not fatal.
fn parse_moov(moov: &[u8], file_size: u64) -> Result<Moov> {
    let mut m = Moov {
        movie_timescale: 0,
        movie_duration: None,
        fragment_duration: None,
        tracks: Vec::new(),
        failures: Vec::new(),
        av_tracks: 0,
        encrypted: Vec::new(),
    };
    let mut trex = Vec::new();
    let mut traks = Vec::new();
    for c in children(moov) {
        let c = c.map_err(|e| Error::Invalid(format!("truncated moov: {}", strip_invalid(&e))))?;
        match &c.typ {
            b"mvhd" => {
                let (ts, d) = parse_mvhd(c.data)?;
                m.movie_timescale = ts;
                m.movie_duration = d;
            }
            b"cmov" => return Err(Error::Invalid("compressed moov (cmov) is not supported".into())),
            b"mvex" => {
                for x in children(c.data) {
                    let Ok(x) = x else { break };
                    match &x.typ {
                        b"mehd" => {
                            let mut k = Cur::new(x.data, "mehd");
                            if let Ok((v, _)) = k.full() {
                                let d = if v == 1 { k.u64().ok() } else { k.u32().ok().map(u64::from) };
                                m.fragment_duration = d.and_then(valid_duration);
                            }
                        }
                        b"trex" => {
                            let mut k = Cur::new(x.data, "trex");
                            let r = (|| -> Result<Trex> {
                                k.full()?;
                                let track_id = k.u32()?;
                                k.skip(4)?;
                                Ok(Trex { track_id, duration: k.u32()?, size: k.u32()?, flags: k.u32()? })
                            })();
                            if let Ok(t) = r {
                                trex.push(t);
                            }
                        }
                        _ => {}
                    }
                }
            }
            b"trak" => traks.push(c.data),
            _ => {}
        }
    }
    for t in traks {
        match parse_trak(t, m.movie_timescale, file_size) {
            Ok(Some(mut bt)) => {
                m.av_tracks += 1;
                if let Some(s) = &bt.entry.encrypted {
                    m.encrypted.push(s.clone());
                }
                if let Some(x) = trex.iter().find(|x| x.track_id == bt.track_id) {
                    bt.trex = *x;
                }
                m.tracks.push(bt);
            }
            Ok(None) => {}
            Err(e) => {
                m.av_tracks += 1;
                m.failures.push(e);
            }
        }
    }
    Ok(m)
}

fn strip_invalid(e: &Error) -> String {
    match e {
        Error::Invalid(s) => s.clone(),
        e => e.to_string(),
    }
}

/// The edit list of a `trak` (ISO/IEC 14496-12 §8.6.6; empty without `edts`/`elst`).
fn parse_elst(trak: &[u8]) -> Result<Vec<Edit>> {
    let mut edits = Vec::new();
    if let Some(edts) = find_lenient(trak, b"edts") {
        if let Some(elst) = find_lenient(edts, b"elst") {
            let mut c = Cur::new(elst, "elst");
            let (v, _) = c.full()?;
            let n = c.u32()?;
            let w = if v == 1 { 20 } else { 12 };
            let t = table(&mut c, n, w);
            for e in t.chunks_exact(w) {
                let mut k = Cur::new(e, "elst");
                let (duration, media_time) =
                    if v == 1 { (k.u64()?, k.u64()? as i64) } else { (k.u32()? as u64, k.u32()? as i32 as i64) };
                edits.push(Edit { duration, media_time });
            }
        }
    }
    Ok(edits)
}

/// Parse one `trak` (ISO/IEC 14496-12 §8.3.1: `tkhd`, `edts`, `mdia` with `mdhd`, `hdlr` and
/// `stbl`). `Ok(None)`: not an audio/video track.
fn parse_trak(trak: &[u8], movie_ts: u32, file_size: u64) -> Result<Option<BuildTrack>> {
    let mdia = find(trak, b"mdia")?.ok_or_else(|| Error::invalid("trak without mdia"))?;
    let hdlr = find(mdia, b"hdlr")?.ok_or_else(|| Error::invalid("mdia without hdlr"))?;
    let handler = hdlr.get(8..12).ok_or_else(|| truncated("hdlr"))?;
    let kind = match handler {
        // `pict`: an image sequence (animated AVIF/HEIF), timed like video.
        b"vide" | b"pict" => MediaKind::Video,
        b"soun" => MediaKind::Audio,
        _ => return Ok(None),
    };
    let mut track_id = 0;
    let (mut tkhd_w, mut tkhd_h) = (0, 0);
    if let Some(tkhd) = find(trak, b"tkhd")? {
        let mut c = Cur::new(tkhd, "tkhd");
        let (v, _) = c.full()?;
        c.skip(if v == 1 { 16 } else { 8 })?;
        track_id = c.u32()?;
        // reserved, duration, reserved[2], layer, alt group, volume, reserved, matrix
        c.skip(4 + if v == 1 { 8 } else { 4 } + 8 + 8 + 36).ok();
        if let (Ok(w), Ok(h)) = (c.u32(), c.u32()) {
            tkhd_w = w >> 16;
            tkhd_h = h >> 16;
        }
    }
    let mdhd = find(mdia, b"mdhd")?.ok_or_else(|| Error::invalid(format!("track {track_id}: no mdhd")))?;
    let mut c = Cur::new(mdhd, "mdhd");
    let (v, _) = c.full()?;
    c.skip(if v == 1 { 16 } else { 8 })?;
    let timescale = c.u32()?;
    let duration = valid_duration(if v == 1 { c.u64()? } else { c.u32()? as u64 });
    let language = parse_language(c.u16()?);
    if timescale == 0 {
        return Err(Error::Invalid(format!("track {track_id}: media timescale 0")));
    }

    let edits = parse_elst(trak)?;

    let minf = find(mdia, b"minf")?.ok_or_else(|| Error::invalid(format!("track {track_id}: no minf")))?;
    let stbl = find(minf, b"stbl")?.ok_or_else(|| Error::invalid(format!("track {track_id}: no stbl")))?;
    let stsd = find(stbl, b"stsd")?
        .ok_or_else(|| Error::invalid(format!("track {track_id}: no stsd (sample description)")))?;
    let entry = {
        let mut c = Cur::new(stsd, "stsd");
        c.full()?;
        let n = c.u32()?;
        let first = children(c.rest()).next();
        match first {
            Some(Ok(b)) if n > 0 => parse_sample_entry(b.typ, b.data, kind),
            Some(Err(e)) => return Err(e),
            _ => return Err(Error::Invalid(format!("track {track_id}: empty stsd (no sample description)"))),
        }
    };
    let samples = build_samples(stbl, &entry, kind, file_size)
        .map_err(|e| Error::Invalid(format!("track {track_id}: {}", strip_invalid(&e))))?;
    let next_dts = samples.last().map(|s| s.dts.saturating_add(s.duration as i64)).unwrap_or(0);
    let _ = movie_ts;
    Ok(Some(BuildTrack {
        track_id,
        kind,
        timescale,
        duration,
        language,
        tkhd_w,
        tkhd_h,
        entry,
        edits,
        samples,
        next_dts,
        trex: Trex::default(),
    }))
}

/// Build the sample index of a progressive track from its `stbl` (§8.6, §8.7).
/// The sample tables of an `stbl` (ISO/IEC 14496-12 §8.6-§8.7), raw.
#[derive(Default)]
struct StblTables<'a> {
    stts: Option<&'a [u8]>,
    ctts: Option<&'a [u8]>,
    stss: Option<&'a [u8]>,
    stsc: Option<&'a [u8]>,
    /// stsz or stz2.
    sizes: Option<SampleSizes<'a>>,
    /// stco or co64: (table, entry width).
    chunks: Option<(&'a [u8], usize)>,
}

/// Sample sizes (§8.7.3): a constant size, or a table of `bits`-wide entries.
#[derive(Clone, Copy)]
struct SampleSizes<'a> {
    const_size: u32,
    count: u32,
    table: &'a [u8],
    bits: u8,
}

impl SampleSizes<'_> {
    /// The size of sample `i` (0-based).
    fn get(&self, i: usize) -> u32 {
        if self.const_size > 0 {
            return self.const_size;
        }
        let t = self.table;
        match self.bits {
            32 => be_u32(t, i * 4),
            16 => be_u16(t, i * 2) as u32,
            8 => t.get(i).copied().unwrap_or(0) as u32,
            _ => {
                let b = t.get(i / 2).copied().unwrap_or(0);
                (if i.is_multiple_of(2) { b >> 4 } else { b & 15 }) as u32
            }
        }
    }
}

/// Collect the sample tables of an `stbl` (ISO/IEC 14496-12 §8.5.1; absent ones stay `None`).
fn read_stbl(stbl: &[u8]) -> Result<StblTables<'_>> {
    let mut t = StblTables::default();
    for c in children(stbl) {
        let c = c?;
        match &c.typ {
            b"stts" => t.stts = Some(full_table(c.data, "stts", 8)?),
            b"ctts" => t.ctts = Some(full_table(c.data, "ctts", 8)?),
            b"stss" => t.stss = Some(full_table(c.data, "stss", 4)?),
            b"stsc" => t.stsc = Some(full_table(c.data, "stsc", 12)?),
            b"stsz" => {
                let mut k = Cur::new(c.data, "stsz");
                k.full()?;
                let size = k.u32()?;
                let n = k.u32()?;
                let tb = if size == 0 { table(&mut k, n, 4) } else { &[][..] };
                let n = if size == 0 { (tb.len() / 4) as u32 } else { n };
                t.sizes = Some(SampleSizes { const_size: size, count: n, table: tb, bits: 32 });
            }
            b"stz2" => {
                let mut k = Cur::new(c.data, "stz2");
                k.full()?;
                k.skip(3)?;
                let bits = k.u8()?;
                if !matches!(bits, 4 | 8 | 16) {
                    return Err(Error::Invalid(format!("stz2 field size {bits}")));
                }
                let n = k.u32()?;
                let rest = k.rest();
                let max = rest.len() as u64 * 8 / bits as u64;
                let n = (n as u64).min(max) as u32;
                t.sizes = Some(SampleSizes { const_size: 0, count: n, table: rest, bits });
            }
            b"stco" | b"co64" => {
                let w = if &c.typ == b"co64" { 8 } else { 4 };
                let mut k = Cur::new(c.data, "stco");
                k.full()?;
                let n = k.u32()?;
                t.chunks = Some((table(&mut k, n, w), w));
            }
            _ => {}
        }
    }
    Ok(t)
}

/// Is sample `sn` (1-based) a sync sample? `stss` entries are visited in order (`i`).
fn stss_has(stss: Option<&[u8]>, i: &mut usize, sn: u64) -> bool {
    match stss {
        None => true,
        Some(t) => {
            while *i * 4 + 4 <= t.len() && (be_u32(t, *i * 4) as u64) < sn {
                *i += 1;
            }
            *i * 4 + 4 <= t.len() && be_u32(t, *i * 4) as u64 == sn
        }
    }
}

/// The samples of a track from its `stbl` tables: decode times from `stts` (ISO/IEC 14496-12
/// §8.6.1.2), composition offsets from `ctts` (§8.6.1.3), sync flags from `stss` (§8.6.2),
/// sizes from `stsz`/`stz2` (§8.7.3), file offsets from `stsc` (§8.7.4) and `stco`/`co64`
/// (§8.7.5).
fn build_samples(stbl: &[u8], entry: &EntryInfo, kind: MediaKind, file_size: u64) -> Result<Vec<Sample>> {
    let t = read_stbl(stbl)?;
    let Some(sizes) = t.sizes else {
        return Err(Error::invalid("no stsz (sample sizes)"));
    };
    let Some((chunks, cw)) = t.chunks else {
        return Err(Error::invalid("no stco (chunk offsets)"));
    };
    let stsc = t.stsc.ok_or_else(|| Error::invalid("no stsc (sample to chunk)"))?;
    let const_size = sizes.const_size;
    let mut count = sizes.count as usize;
    if const_size > 0 {
        count = count.min((file_size / const_size as u64) as usize + 1);
    }
    count = count.min(MAX_SAMPLES_PER_TRACK);
    let pcm = if kind == MediaKind::Audio && const_size > 0 { entry.pcm_frame_bytes } else { None };
    let pcm_frame = pcm.map(|fb| if const_size > 1 { const_size } else { fb });

    let mut stts = RunCursor::new(t.stts.unwrap_or(&[]));
    let mut ctts = RunCursor::new(t.ctts.unwrap_or(&[]));
    let stss = t.stss.filter(|t| !t.is_empty());
    let mut stss_i = 0usize;
    let n_chunks = chunks.len() / cw;
    let n_stsc = stsc.len() / 12;
    let mut out: Vec<Sample> = Vec::with_capacity(count.min(1 << 16));
    let mut dts: i64 = 0;
    let mut s_idx = 0usize; // samples consumed (in table numbering)
    let mut e_i = 0usize;
    for chunk in 0..n_chunks {
        if s_idx >= count || n_stsc == 0 {
            break;
        }
        let chunk_no = chunk as u64 + 1;
        while e_i + 1 < n_stsc && be_u32(stsc, (e_i + 1) * 12) as u64 <= chunk_no {
            e_i += 1;
        }
        let spc = be_u32(stsc, e_i * 12 + 4) as usize;
        let mut off = if cw == 8 {
            (be_u32(chunks, chunk * 8) as u64) << 32 | be_u32(chunks, chunk * 8 + 4) as u64
        } else {
            be_u32(chunks, chunk * 4) as u64
        };
        if let Some(fb) = pcm_frame {
            // PCM: one sample per chunk.
            let n = spc.min(count - s_idx);
            if n == 0 {
                continue;
            }
            let dur = stts.sum(n as u64, 1);
            let size = (n as u64 * fb as u64).min(u32::MAX as u64) as u32;
            let duration = dur.min(u32::MAX as u64) as u32;
            out.push(Sample { offset: off, dts, size, cts: 0, duration, group_key: KEY_BIT });
            dts = dts.saturating_add(dur.min(i64::MAX as u64) as i64);
            s_idx += n;
            if off.saturating_add(size as u64) > file_size {
                break; // the rest is beyond the end of the file: one is enough to report it
            }
            continue;
        }
        for _ in 0..spc.min(count - s_idx) {
            let size = sizes.get(s_idx);
            let delta = stts.next().unwrap_or(0);
            // A "negative" delta (FFmpeg reads it as signed) is treated as 1.
            let delta = if delta > i32::MAX as u32 { 1 } else { delta };
            let cts = ctts.next().unwrap_or(0) as i32;
            let key = stss_has(stss, &mut stss_i, s_idx as u64 + 1);
            out.push(Sample { offset: off, dts, size, cts, duration: delta, group_key: if key { KEY_BIT } else { 0 } });
            dts = dts.saturating_add(delta as i64);
            off = off.saturating_add(size as u64);
            s_idx += 1;
            if off > file_size {
                return Ok(out); // the rest is beyond the end of the file: one is enough to report it
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// moof
// ---------------------------------------------------------------------------------------

/// Add the samples of one `moof` (ISO/IEC 14496-12 §8.8.4; starting at file offset `moof_off`) to the tracks.
/// Malformed track fragments are skipped; returns a description of the first problem.
fn parse_moof(moof: &[u8], moof_off: u64, group: u32, tracks: &mut [BuildTrack], file_size: u64) -> Option<String> {
    let mut problem = None;
    let mut implicit = moof_off;
    for c in children(moof) {
        let c = match c {
            Ok(c) => c,
            Err(e) => {
                problem.get_or_insert(strip_invalid(&e));
                break;
            }
        };
        if &c.typ != b"traf" {
            continue;
        }
        if let Err(e) = parse_traf(c.data, moof_off, &mut implicit, group, tracks, file_size) {
            problem.get_or_insert(strip_invalid(&e));
        }
    }
    problem
}

/// A track run's header fields (ISO/IEC 14496-12 §8.8.8) and its fragment's defaults.
struct Trun {
    tf: u32,
    count: u32,
    /// Bytes per sample record.
    rec: usize,
    first_flags: Option<u32>,
    /// Where its data starts.
    off: u64,
    /// (duration, size, flags) from tfhd, else trex.
    defaults: (u32, u32, u32),
    /// The fragment's number, kept in each sample's group.
    group: u32,
}

/// The samples of a `trun` (ISO/IEC 14496-12 §8.8.8; `k` after its header) appended to `t`; returns the end of their
/// data and how many were read (fewer than declared when the box is short).
fn trun_samples(k: &mut Cur, run: &Trun, t: &mut BuildTrack, file_size: u64) -> Result<(u64, usize)> {
    let (tf, count, rec, first_flags, group) = (run.tf, run.count, run.rec, run.first_flags, run.group);
    let (d_dur, d_size, d_flags) = run.defaults;
    let mut off = run.off;
    let avail = k.left().checked_div(rec).unwrap_or(1 << 16);
    let n = (count as usize).min(avail);
    let n = n.min(MAX_SAMPLES_PER_TRACK.saturating_sub(t.samples.len()));
    t.samples.reserve(n.min(1 << 16));
    for i in 0..n {
        let dur = if tf & 0x100 != 0 { k.u32()? } else { d_dur };
        let size = if tf & 0x200 != 0 { k.u32()? } else { d_size };
        let sflags = if tf & 0x400 != 0 {
            k.u32()?
        } else if i == 0 {
            first_flags.unwrap_or(d_flags)
        } else {
            d_flags
        };
        let cts = if tf & 0x800 != 0 {
            // v0 is unsigned, v1 signed: like FFmpeg read both as signed.
            k.u32()? as i32
        } else {
            0
        };
        let key = t.kind == MediaKind::Audio || sflags & (0x1_0000 | 0x0100_0000) == 0;
        t.samples.push(Sample {
            offset: off,
            dts: t.next_dts,
            size,
            cts,
            duration: dur,
            group_key: group.min(KEY_BIT - 1) | if key { KEY_BIT } else { 0 },
        });
        t.next_dts = t.next_dts.saturating_add(dur as i64);
        off = off.saturating_add(size as u64);
        if off > file_size {
            break; // beyond the end of the file: one such sample is enough to report it
        }
    }
    Ok((off, n))
}

/// Add the samples of one `traf` (ISO/IEC 14496-12 §8.8.6) to its track: `tfhd` (§8.8.7) gives
/// the track, the sample defaults and the base data offset (explicit, the `moof` start with
/// default-base-is-moof, else `implicit`: where the previous run's data ended, updated here),
/// `tfdt` (§8.8.12) the base decode time, then each `trun` (§8.8.8) adds its samples.
fn parse_traf(
    traf: &[u8],
    moof_off: u64,
    implicit: &mut u64,
    group: u32,
    tracks: &mut [BuildTrack],
    file_size: u64,
) -> Result<()> {
    let tfhd = find(traf, b"tfhd")?.ok_or_else(|| Error::invalid("traf without tfhd"))?;
    let mut c = Cur::new(tfhd, "tfhd");
    let (_, flags) = c.full()?;
    let track_id = c.u32()?;
    let Some(t) = tracks.iter_mut().find(|t| t.track_id == track_id) else {
        return Ok(()); // a track we do not expose (or unknown): skip
    };
    let base = if flags & 0x1 != 0 {
        c.u64()?
    } else if flags & 0x2_0000 != 0 {
        moof_off
    } else {
        *implicit
    };
    if flags & 0x2 != 0 {
        c.u32()?; // sample_description_index: only the first entry is used
    }
    let d_dur = if flags & 0x8 != 0 { c.u32()? } else { t.trex.duration };
    let d_size = if flags & 0x10 != 0 { c.u32()? } else { t.trex.size };
    let d_flags = if flags & 0x20 != 0 { c.u32()? } else { t.trex.flags };
    if flags & 0x1_0000 != 0 {
        return Ok(()); // duration-is-empty
    }
    if let Some(tfdt) = find(traf, b"tfdt")? {
        let mut k = Cur::new(tfdt, "tfdt");
        let (v, _) = k.full()?;
        let d = if v == 1 { k.u64()? } else { k.u32()? as u64 };
        t.next_dts = d.min(i64::MAX as u64 / 2) as i64;
    }
    let mut first_trun = true;
    let mut prev_end = base;
    for b in children(traf) {
        let b = b?;
        if &b.typ != b"trun" {
            continue;
        }
        let mut k = Cur::new(b.data, "trun");
        let (_, tf) = k.full()?;
        let count = k.u32()?;
        let off = if tf & 0x1 != 0 {
            let d = k.u32()? as i32 as i64;
            (base as i64).saturating_add(d).max(0) as u64
        } else if first_trun {
            base
        } else {
            prev_end
        };
        first_trun = false;
        let first_flags = if tf & 0x4 != 0 { Some(k.u32()?) } else { None };
        let rec = 4 * ((tf & 0xf00).count_ones() as usize);
        let run = Trun { tf, count, rec, first_flags, off, defaults: (d_dur, d_size, d_flags), group };
        let (end, n) = trun_samples(&mut k, &run, t, file_size)?;
        prev_end = end;
        *implicit = end;
        if n < count as usize && rec > 0 {
            return Err(Error::Invalid(format!("trun of track {track_id} declares {count} samples, holds {n}")));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The demuxer
// ---------------------------------------------------------------------------------------

/// Output state of one stream.
struct Track {
    track_id: u32,
    kind: MediaKind,
    timebase: u32,
    samples: Vec<Sample>,
    next: usize,
    /// Added to pts and dts (edit list).
    shift: i64,
    /// Subtracted from dts (negative composition offsets).
    dts_shift: i64,
    nal_len: Option<usize>,
}

impl Track {
    fn out_dts(&self, s: &Sample) -> i64 {
        s.dts.saturating_sub(self.dts_shift).saturating_add(self.shift)
    }

    /// The pts a packet of sample `s` reports.
    fn out_pts(&self, s: &Sample) -> i64 {
        s.dts.saturating_add(s.cts as i64).saturating_add(self.shift)
    }

    /// Can decoding start at sample `i` and present every picture from its pts on? The
    /// first sample, or a sync sample no later sample of which (within the reorder window)
    /// presents earlier: a sync sample followed by such "leading" pictures is an open-GOP
    /// recovery point (x264 `--open-gop`), and those pictures reference the previous GOP.
    fn entry_point(&self, i: usize) -> bool {
        if i == 0 {
            return true;
        }
        let Some(s) = self.samples.get(i) else {
            return false;
        };
        if !s.key() {
            return false;
        }
        let p = self.out_pts(s);
        let end = self.samples.len().min(i.saturating_add(1 + LEADING_WINDOW));
        self.samples.get(i + 1..end).is_none_or(|w| w.iter().all(|x| self.out_pts(x) >= p))
    }

    /// The last entry point at or before sample `i` (0 when there is none).
    fn entry_at_or_before(&self, i: usize) -> usize {
        let mut k = i.min(self.samples.len().saturating_sub(1));
        while k > 0 && !self.entry_point(k) {
            k -= 1;
        }
        k
    }

    /// First sample to deliver so that presentation from `t` (track ticks) is complete
    /// (see [`Demuxer::seek`]).
    fn seek_target(&self, t: i64) -> usize {
        match self.kind {
            MediaKind::Video => {
                // The picture showing at t: the latest pts at or before t.
                let Some(shown) = self.samples.iter().map(|s| self.out_pts(s)).filter(|&p| p <= t).max() else {
                    return 0;
                };
                // Decoding must start before every sample presenting from `shown` on.
                let first_needed = self.samples.iter().position(|s| self.out_pts(s) >= shown).unwrap_or(0);
                self.entry_at_or_before(first_needed)
            }
            MediaKind::Audio => {
                // Samples are in decode order, which is presentation order for audio.
                let at = self.samples.iter().rposition(|s| self.out_pts(s) <= t).unwrap_or(0);
                at.saturating_sub(AUDIO_PREROLL_FRAMES)
            }
        }
    }
}

/// MP4/MOV demuxer over any seekable byte source. See the module documentation.
pub struct Mp4Demuxer {
    r: BufReader<Box<dyn ReadSeek>>,
    /// Current position of `r`, when known.
    pos: Option<u64>,
    file_size: u64,
    streams: Vec<StreamInfo>,
    tracks: Vec<Track>,
    /// Reported after the last packet (a moof cut by the end of the file...).
    pending: Option<Error>,
    done: bool,
}

impl std::fmt::Debug for Mp4Demuxer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp4Demuxer").field("file_size", &self.file_size).field("streams", &self.streams).finish()
    }
}

fn io_err(what: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::Invalid(format!("truncated {what}"))
    } else {
        Error::IoUnnamed(e)
    }
}

/// The stream of a parsed track: codec, picture size or audio format, declared duration,
/// language (its presentation end comes from [`edit_shift`]).
fn stream_info(index: usize, t: &BuildTrack, m: &Moov, movie_ts: Option<u32>) -> StreamInfo {
    let codec = t.entry.codec.clone().unwrap_or_else(|| Codec::Other(fourcc_name(&t.entry.fourcc)));
    let mut info = StreamInfo::new(index, t.kind, codec, t.timescale);
    info.id = t.track_id;
    info.config = Bytes::from(t.entry.config.clone());
    if t.kind == MediaKind::Video {
        info.width = if t.entry.width > 0 { t.entry.width } else { t.tkhd_w };
        info.height = if t.entry.height > 0 { t.entry.height } else { t.tkhd_h };
    } else {
        info.sample_rate = t.entry.sample_rate;
        info.channels = t.entry.channels;
    }
    let to_media = |v: u64, from: Option<u32>| movie_to_media(v, from, t.timescale);
    info.declared_duration = t
        .duration
        .map(|d| d.min(i64::MAX as u64) as i64)
        .or_else(|| m.movie_duration.map(|d| to_media(d, movie_ts)))
        .or_else(|| m.fragment_duration.map(|d| to_media(d, movie_ts)));
    info.language = t.language.clone();
    info
}

/// A value in the movie timescale `from` (`None`: already in media ticks) in a track's
/// `timescale`, saturating.
fn movie_to_media(v: u64, from: Option<u32>, timescale: u32) -> i64 {
    let v = v.min(i64::MAX as u64) as i64;
    match from {
        Some(f) => rescale(v, f, timescale),
        None => v,
    }
}

/// A track's edit list (ISO/IEC 14496-12 §8.6.6) in media ticks: the empty edits before
/// the first media edit (delay), the first media edit (media_time, duration) and the
/// duration of the later media edits.
fn edit_parts(t: &BuildTrack, movie_ts: Option<u32>) -> (i64, Option<(i64, i64)>, i64) {
    let to_media = |v: u64, from: Option<u32>| movie_to_media(v, from, t.timescale);
    let mut delay: i64 = 0;
    let mut first: Option<(i64, i64)> = None; // (media_time, duration in media ticks)
    let mut more: i64 = 0;
    for e in &t.edits {
        let dur = to_media(e.duration, movie_ts);
        if e.media_time == -1 {
            if first.is_none() {
                delay = delay.saturating_add(dur);
            }
        } else if e.media_time >= 0 {
            match first {
                None => first = Some((e.media_time, dur)),
                Some(_) => more = more.saturating_add(dur),
            }
        }
    }
    (delay, first, more)
}

/// An audio track's priming (samples before its first media edit) and padding (what its
/// last frame holds past the edit's end), as Symphonia's `Track` reports them.
fn audio_trim(t: &BuildTrack, movie_ts: Option<u32>) -> (u32, u32) {
    let (_, first, more) = edit_parts(t, movie_ts);
    let Some((m, dur)) = first else { return (0, 0) };
    let delay = m.clamp(0, u32::MAX as i64) as u32;
    let data_end = t.samples.last().map(|s| s.dts.saturating_add(s.duration as i64));
    let padding = match (data_end, dur > 0) {
        (Some(end), true) => {
            end.saturating_sub(m.saturating_add(dur).saturating_add(more)).clamp(0, u32::MAX as i64) as u32
        }
        _ => 0,
    };
    (delay, padding)
}

/// The edit list (ISO/IEC 14496-12 §8.6.6) of a track as the shift added to its
/// timestamps, and the end of its presentation (media ticks) when the edit declares one.
fn edit_shift(t: &BuildTrack, movie_ts: Option<u32>) -> (i64, Option<i64>) {
    let (delay, first, more) = edit_parts(t, movie_ts);
    // Like FFmpeg (mov_fix_index + min_corrected_pts): for video, pictures that
    // start before the edit are not presented, so the first picture whose pts is at
    // or after media_time is the one that starts the presentation (at `delay`).
    let mut media_time = first.map(|f| f.0).unwrap_or(0);
    if t.kind == MediaKind::Video && first.is_some() {
        let start = t
            .samples
            .iter()
            .filter(|s| s.group() == 0)
            .map(|s| s.dts.saturating_add(s.cts as i64))
            .filter(|&p| p >= media_time)
            .min();
        if let Some(p) = start {
            media_time = p;
        }
    }
    let shift = delay.saturating_sub(media_time);
    let end = first.filter(|f| f.1 > 0).map(|(_, dur)| delay.saturating_add(dur).saturating_add(more));
    (shift, end)
}

impl Mp4Demuxer {
    /// Open a file by path.
    pub fn open(path: &Path) -> Result<Mp4Demuxer> {
        let f = std::fs::File::open(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
        Self::from_reader(f)
    }

    /// Parse the header boxes of a seekable source. Sample bytes are read lazily.
    pub fn from_reader<R: Read + Seek + Send + 'static>(r: R) -> Result<Mp4Demuxer> {
        let mut r: Box<dyn ReadSeek> = Box::new(r);
        let file_size = r.seek(SeekFrom::End(0))?;
        r.seek(SeekFrom::Start(0))?;
        let mut d = Mp4Demuxer {
            r: BufReader::with_capacity(64 * 1024, r),
            pos: Some(0),
            file_size,
            streams: Vec::new(),
            tracks: Vec::new(),
            pending: None,
            done: false,
        };
        d.parse()?;
        Ok(d)
    }

    fn goto(&mut self, off: u64) -> Result<()> {
        let cur = self.pos.take();
        match cur {
            Some(p) if p == off => {}
            // Short forward skips stay inside the BufReader's buffer when they can.
            Some(p) if off > p && off - p < 64 * 1024 => self.r.seek_relative((off - p) as i64)?,
            _ => {
                self.r.seek(SeekFrom::Start(off))?;
            }
        }
        self.pos = Some(off);
        Ok(())
    }

    fn read_at(&mut self, off: u64, buf: &mut [u8], what: &str) -> Result<()> {
        self.goto(off)?;
        match self.r.read_exact(buf) {
            Ok(()) => {
                self.pos = Some(off + buf.len() as u64);
                Ok(())
            }
            Err(e) => {
                self.pos = None;
                Err(io_err(what, e))
            }
        }
    }

    fn read_vec(&mut self, off: u64, len: u64, what: &str) -> Result<Vec<u8>> {
        // Callers have checked off + len <= file_size; the cap is a second guard.
        if len > MAX_HEADER_BOX.max(MAX_SAMPLE_BYTES as u64) || off.saturating_add(len) > self.file_size {
            return Err(Error::Invalid(format!("{what}: {len} bytes at offset {off} exceed the file")));
        }
        let mut v = vec![0u8; len as usize];
        self.read_at(off, &mut v, what)?;
        Ok(v)
    }

    /// Walk the top-level boxes, parse moov and every moof.
    fn parse(&mut self) -> Result<()> {
        let size = self.file_size;
        let (moov, moofs) = self.top_level_boxes()?;
        let Some(moov) = moov else {
            return Err(Error::Invalid("no moov box (not a playable MP4, or init segment missing)".into()));
        };
        let mut m = parse_moov(&moov, size)?;
        drop(moov);
        if m.av_tracks == 0 {
            return Err(Error::NoMedia(": the file has no audio or video track".into()));
        }
        if !m.encrypted.is_empty() && m.encrypted.len() == m.av_tracks {
            return Err(Error::Encrypted(m.encrypted[0].clone()));
        }
        let mut tracks = std::mem::take(&mut m.tracks);
        if tracks.is_empty() {
            return Err(m.failures.into_iter().next().unwrap_or_else(|| Error::invalid("no usable track")));
        }

        for (k, &(boff, poff, plen)) in moofs.iter().enumerate() {
            let buf = self.read_vec(poff, plen, "moof")?;
            if let Some(p) = parse_moof(&buf, boff, (k as u32).saturating_add(1), &mut tracks, size) {
                // Keep the samples of well-formed fragments; report the first problem last.
                if self.pending.is_none() {
                    self.pending = Some(Error::Invalid(format!("moof at offset {boff}: {p}")));
                }
            }
        }

        let fragmented = !moofs.is_empty();
        let total: usize = tracks.iter().map(|t| t.samples.len()).sum();
        if total == 0 {
            return Err(Error::NoMedia(format!(
                ": {} audio/video track(s) but no samples ({})",
                tracks.len(),
                if fragmented {
                    "no fragment holds samples of these tracks"
                } else {
                    "an init segment without media segments?"
                }
            )));
        }

        let movie_ts = if m.movie_timescale == 0 { None } else { Some(m.movie_timescale) };
        for t in tracks.into_iter().filter(|t| !t.samples.is_empty()) {
            let mut info = stream_info(self.streams.len(), &t, &m, movie_ts);
            let (shift, presentation_end) = edit_shift(&t, movie_ts);
            info.presentation_end = presentation_end;
            if t.kind == MediaKind::Audio {
                (info.encoder_delay, info.padding) = audio_trim(&t, movie_ts);
            }
            // Negative composition offsets: lower dts like FFmpeg (ignoring absurd values).
            let min_cts = t.samples.iter().map(|s| s.cts).filter(|&c| c > -(1 << 28)).min().unwrap_or(0);
            let dts_shift = if min_cts < 0 { -(min_cts as i64) } else { 0 };

            self.tracks.push(Track {
                track_id: t.track_id,
                kind: t.kind,
                timebase: t.timescale,
                samples: t.samples,
                next: 0,
                shift,
                dts_shift,
                nal_len: t.entry.nal_len,
            });
            self.streams.push(info);
        }
        Ok(())
    }

    /// The top-level boxes (ISO/IEC 14496-12 §4.2): the first moov's payload, and every
    /// moof as (box offset, payload offset, payload length). A truncated moof ends the walk
    /// (reported after the samples before it).
    fn top_level_boxes(&mut self) -> Result<(Option<Vec<u8>>, Vec<(u64, u64, u64)>)> {
        let size = self.file_size;
        let mut pos = 0u64;
        let mut moov: Option<Vec<u8>> = None;
        let mut moofs: Vec<(u64, u64, u64)> = Vec::new(); // (box offset, payload offset, payload len)
        let mut n_boxes = 0usize;
        let mut first = true;
        while pos.saturating_add(8) <= size && n_boxes < MAX_TOP_LEVEL_BOXES {
            n_boxes += 1;
            let mut h = [0u8; 16];
            self.read_at(pos, &mut h[..8], "box header")?;
            let typ: FourCC = [h[4], h[5], h[6], h[7]];
            let s32 = be_u32(&h, 0) as u64;
            let (bsize, hdr) = match s32 {
                0 => (size - pos, 8u64),
                1 => {
                    if pos + 16 > size {
                        break;
                    }
                    self.read_at(pos + 8, &mut h[8..16], "box header")?;
                    (u64::from_be_bytes(h[8..16].try_into().unwrap_or([0; 8])), 16u64)
                }
                s => (s, 8u64),
            };
            if bsize < hdr {
                if first {
                    return Err(Error::UnknownFormat(format!(
                        "not an MP4 file: first box '{}' has impossible size {bsize}",
                        fourcc_str(&typ)
                    )));
                }
                // Garbage after the boxes we understood: stop walking.
                break;
            }
            first = false;
            let end = pos.saturating_add(bsize);
            match &typ {
                b"moov" if moov.is_none() => {
                    if end > size {
                        return Err(Error::Invalid(format!(
                            "truncated moov: box at offset {pos} declares {bsize} bytes, the file ends after {}",
                            size - pos
                        )));
                    }
                    if bsize - hdr > MAX_HEADER_BOX {
                        return Err(Error::Invalid(format!("moov of {bsize} bytes is too large")));
                    }
                    moov = Some(self.read_vec(pos + hdr, bsize - hdr, "moov")?);
                }
                b"moof" => {
                    if end > size {
                        self.pending = Some(Error::Invalid(format!(
                            "truncated: moof at offset {pos} ({bsize} bytes) extends beyond end of file (size {size})"
                        )));
                        break;
                    }
                    if bsize - hdr <= MAX_HEADER_BOX {
                        moofs.push((pos, pos + hdr, bsize - hdr));
                    }
                }
                _ => {}
            }
            if end >= size {
                break;
            }
            pos = end;
        }
        Ok((moov, moofs))
    }

    fn in_file(&self, s: &Sample) -> bool {
        s.offset.checked_add(s.size as u64).is_some_and(|e| e <= self.file_size)
    }

    /// The track whose next sample comes next (see "Packet order" in the module doc).
    fn pick(&self) -> Option<usize> {
        let mut best: Option<(usize, &Sample, i64)> = None;
        for (i, t) in self.tracks.iter().enumerate() {
            let Some(s) = t.samples.get(t.next) else {
                continue;
            };
            if !self.in_file(s) {
                continue;
            }
            let dts = t.out_dts(s);
            let better = match best {
                None => true,
                Some((bi, b, bdts)) => {
                    if s.group() != b.group() {
                        s.group() < b.group()
                    } else {
                        let tb = self.tracks[bi].timebase as i128;
                        let ta = t.timebase as i128;
                        // Compare dts / ta with bdts / tb without rounding.
                        let x = dts as i128 * tb;
                        let y = bdts as i128 * ta;
                        let one_sec = ta * tb;
                        if (x - y).abs() <= one_sec {
                            s.offset < b.offset
                        } else {
                            x < y
                        }
                    }
                }
            };
            if better {
                best = Some((i, s, dts));
            }
        }
        best.map(|b| b.0)
    }
}

/// Length-prefixed H.264 sample to Annex B. A damaged sample keeps the NAL units before
/// the damage (the decoder conceals the rest); a sample that is already Annex B (some
/// broken writers) passes as is; only a sample with nothing usable is an error.
fn to_annexb(raw: &[u8], len_size: usize) -> Result<Vec<u8>> {
    match h264::avcc_to_annexb(raw, len_size) {
        Ok(v) => Ok(v),
        Err(e) => {
            if h264::looks_like_annexb(raw) {
                return Ok(raw.to_vec());
            }
            let mut out = Vec::with_capacity(raw.len() + 16);
            let mut i = 0usize;
            while i + len_size <= raw.len() {
                let n = raw[i..i + len_size].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
                i += len_size;
                if n > raw.len() - i {
                    break;
                }
                if n > 0 {
                    h264::push_annexb(&mut out, &raw[i..i + n]);
                }
                i += n;
            }
            if out.is_empty() {
                Err(e)
            } else {
                Ok(out)
            }
        }
    }
}

impl Demuxer for Mp4Demuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    /// Any error ends the demuxer: the next call returns `Ok(None)`.
    fn next_packet(&mut self) -> Result<Option<Packet>> {
        if self.done {
            return Ok(None);
        }
        let r = self.next_inner();
        if r.is_err() {
            self.done = true;
        }
        r
    }

    /// See [`Demuxer::seek`]. Only the sample tables are consulted (no I/O): each track's
    /// cursor is set to its restart sample (video: the last entry point, see
    /// `Track::entry_point`, before every picture presented from the one showing at `t`;
    /// audio: `AUDIO_PREROLL_FRAMES` before the frame containing `t`). Each stream then
    /// delivers exactly the tail of what it delivers when read from the start; the streams
    /// are interleaved by the usual rule (`pick`), so past the first second or so the
    /// packet order is that of a read from the start too. Clears the end of data.
    fn seek(&mut self, t: i64, timebase: u32) -> bool {
        if timebase == 0 || self.tracks.is_empty() {
            return false;
        }
        for tr in &mut self.tracks {
            tr.next = tr.seek_target(rescale(t, timebase, tr.timebase.max(1)));
        }
        self.done = false;
        true
    }
}

impl Mp4Demuxer {
    fn next_inner(&mut self) -> Result<Option<Packet>> {
        let Some(i) = self.pick() else {
            self.done = true;
            // Samples left: they lie beyond the end of the file.
            let mut cut: Option<(u64, usize, u32, u64)> = None;
            for t in &self.tracks {
                if let Some(s) = t.samples.get(t.next) {
                    if cut.is_none_or(|c| s.offset < c.0) {
                        cut = Some((s.offset, t.next + 1, t.track_id, s.size as u64));
                    }
                }
            }
            if let Some((off, n, tid, _)) = cut {
                return Err(Error::Invalid(format!(
                    "truncated: sample {n} of track {tid} at offset {off} beyond end of file (size {})",
                    self.file_size
                )));
            }
            return match self.pending.take() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        };
        let n = self.tracks[i].next;
        let s = self.tracks[i].samples[n];
        self.tracks[i].next += 1;
        let tid = self.tracks[i].track_id;
        if s.size > MAX_SAMPLE_BYTES {
            return Err(Error::Invalid(format!(
                "sample {} of track {tid} declares {} bytes (limit {MAX_SAMPLE_BYTES})",
                n + 1,
                s.size
            )));
        }
        let raw = self.read_vec(s.offset, s.size as u64, "sample data")?;
        let t = &self.tracks[i];
        let data = match t.nal_len {
            Some(l) => match to_annexb(&raw, l) {
                Ok(v) => Bytes::from(v),
                Err(e) => {
                    return Err(Error::Invalid(format!(
                        "sample {} of track {tid} at offset {}: {}",
                        n + 1,
                        s.offset,
                        strip_invalid(&e)
                    )))
                }
            },
            None => Bytes::from(raw),
        };
        Ok(Some(Packet {
            stream: i,
            pts: t.out_pts(&s),
            dts: t.out_dts(&s),
            duration: s.duration as i64,
            keyframe: s.key(),
            data,
        }))
    }
}

#[cfg(test)]
#[path = "tests/mp4.rs"]
mod tests;
