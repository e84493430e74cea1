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
pub enum AdtsScan {
    /// A whole frame starts at `offset` (bytes before it are garbage).
    Frame { offset: usize, header: AdtsHeader },
    /// No whole frame yet: bytes before `offset` are garbage and can be dropped; the rest
    /// may begin a frame, so keep it and retry with more data.
    NeedMore { offset: usize },
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
pub fn find_frame(buf: &[u8], prev: Option<&AdtsHeader>, at_end: bool) -> AdtsScan {
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
    let Some(b) = head.get(start..) else { return false };
    if !has_sync(b) {
        return false;
    }
    let Ok(h) = AdtsHeader::parse(b) else { return false };
    let Some(mut next) = b.get(h.frame_len..) else { return false };
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
                Err(e) => return Err(Error::Io2(e)),
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
mod tests {
    use super::*;
    use std::io::Cursor;

    fn frame(k: usize, payload: usize, cfg: &AudioConfig) -> Vec<u8> {
        let mut v = AdtsHeader::write(cfg, payload).to_vec();
        v.extend((0..payload).map(|j| ((k * 13 + j * 3) % 200 + 20) as u8));
        v
    }

    fn stream(n: usize, cfg: &AudioConfig) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut b = Vec::new();
        let mut raws = Vec::new();
        for k in 0..n {
            let f = frame(k, 50 + (k * 37) % 400, cfg);
            raws.push(f[7..].to_vec());
            b.extend_from_slice(&f);
        }
        (b, raws)
    }

    fn id3(body: usize) -> Vec<u8> {
        let mut v = b"ID3\x04\x00\x00".to_vec();
        let s = body as u32;
        v.extend_from_slice(&[(s >> 21) as u8 & 0x7f, (s >> 14) as u8 & 0x7f, (s >> 7) as u8 & 0x7f, s as u8 & 0x7f]);
        // A body containing things that look like ADTS syncwords.
        v.extend((0..body).map(|i| {
            if i % 50 == 0 {
                0xff
            } else if i % 50 == 1 {
                0xf1
            } else {
                i as u8 & 0x7f
            }
        }));
        v
    }

    fn demux(b: Vec<u8>) -> Result<(Vec<StreamInfo>, Vec<Packet>)> {
        let mut d = AdtsDemuxer::from_reader(Cursor::new(b))?;
        let mut v = Vec::new();
        while let Some(p) = d.next_packet()? {
            v.push(p);
        }
        Ok((d.streams().to_vec(), v))
    }

    #[test]
    fn demuxes_frames_with_id3_and_timestamps() {
        let cfg = AudioConfig::lc(44100, 2);
        let (b, raws) = stream(60, &cfg);
        let mut input = id3(300);
        input.extend_from_slice(&b);
        assert!(probe(&input));
        assert!(probe(&b));
        let (st, pk) = demux(input).unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(
            (st[0].codec.clone(), st[0].timebase, st[0].sample_rate, st[0].channels),
            (Codec::Aac, 44100, 44100, 2)
        );
        assert_eq!(&st[0].config[..], &[0x12, 0x10]);
        assert_eq!(pk.len(), 60);
        for (k, p) in pk.iter().enumerate() {
            assert_eq!(&p.data[..], &raws[k][..]);
            assert_eq!((p.pts, p.dts, p.duration, p.keyframe), (k as i64 * 1024, k as i64 * 1024, 1024, true));
        }
    }

    #[test]
    fn resyncs_on_garbage_and_ends_on_truncation() {
        let cfg = AudioConfig::lc(48000, 1);
        let (b, raws) = stream(20, &cfg);
        let cut = b.iter().enumerate().filter(|(i, _)| b[*i..].starts_with(&[0xff, 0xf1])).nth(10).unwrap().0;
        let mut input = vec![0u8, 1, 2, 0xff, 0xf1, 0x4c, 0x80, 0x00, 0x1f, 0xfc, 9, 9]; // garbage with a false header
        input.extend_from_slice(&b[..cut]);
        input.extend_from_slice(&[0xff, 0xf1, 0x00, 0xff, 0xff, 0xff, 0xff, 0x13, 0x37]); // garbage
        input.extend_from_slice(&b[cut..b.len() - 5]); // last frame truncated
        let (_, pk) = demux(input).unwrap();
        assert_eq!(pk.len(), 19);
        for (k, p) in pk.iter().enumerate() {
            assert_eq!(&p.data[..], &raws[k][..], "frame {k}");
        }
        // Frame numbering continues (pts counts frames read, not gaps).
        assert_eq!(pk[18].pts, 18 * 1024);
    }

    #[test]
    fn errors_and_no_panics() {
        assert!(matches!(demux(Vec::new()), Err(Error::NoMedia(_))));
        assert!(matches!(demux(b"hello world, not audio".to_vec()), Err(Error::NoMedia(_))));
        assert!(matches!(demux(id3(100)), Err(Error::NoMedia(_))));
        assert!(!probe(&[]));
        assert!(!probe(&id3(10)));
        assert!(!probe(&[0x47; 400]));
        let cfg = AudioConfig::lc(48000, 2);
        let (b, _) = stream(12, &cfg);
        let first_len = AdtsHeader::parse(&b).unwrap().frame_len;
        assert!(!probe(&b[..first_len])); // only one header
                                          // Truncated at every 13th offset: never panics; a whole first frame gives packets.
        for cut in (0..b.len()).step_by(13) {
            match demux(b[..cut].to_vec()) {
                Ok((_, pk)) => assert!(cut >= first_len && !pk.is_empty()),
                Err(e) => assert!(cut < first_len && matches!(e, Error::NoMedia(_)), "{cut}: {e}"),
            }
        }
        // Random bytes and corrupted streams.
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        let noise: Vec<u8> = (0..100_000).map(|_| rnd() as u8).collect();
        let _ = demux(noise);
        for _ in 0..200 {
            let mut c = b.clone();
            for _ in 0..1 + rnd() % 10 {
                let i = rnd() % c.len();
                c[i] = rnd() as u8;
            }
            let _ = demux(c);
        }
    }

    /// Reads one byte at a time: exercises incremental buffering.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1 >= self.0.len() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }

    #[test]
    fn streaming_reader() {
        let cfg = AudioConfig::lc(22050, 2);
        let (b, raws) = stream(30, &cfg);
        let mut input = id3(5000);
        input.extend_from_slice(&b);
        let mut d = AdtsDemuxer::from_reader(Trickle(input, 0)).unwrap();
        let mut n = 0;
        while let Some(p) = d.next_packet().unwrap() {
            assert_eq!(&p.data[..], &raws[n][..]);
            n += 1;
        }
        assert_eq!(n, 30);
    }

    #[test]
    fn matches_ffprobe_and_corpus() {
        let ffprobe =
            std::path::Path::new("/usr/bin/ffprobe").exists() && std::path::Path::new("/usr/bin/ffmpeg").exists();
        if ffprobe {
            let dir = std::env::temp_dir().join(format!("stitch-adts-test-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let out = dir.join("out.aac");
            let st = std::process::Command::new("/usr/bin/ffmpeg")
                .args(["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1"])
                .args(["-c:a", "aac"])
                .arg(&out)
                .status()
                .unwrap();
            assert!(st.success());
            let probe_out = std::process::Command::new("/usr/bin/ffprobe")
                .args(["-v", "error", "-show_entries", "packet=size", "-of", "csv=p=0"])
                .arg(&out)
                .output()
                .unwrap();
            let sizes: Vec<usize> = String::from_utf8_lossy(&probe_out.stdout)
                .lines()
                .filter_map(|l| l.trim_end_matches(',').parse().ok())
                .collect();
            let mut d = AdtsDemuxer::open(&out).unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            assert_eq!((d.streams()[0].sample_rate, d.streams()[0].channels), (44100, 1));
            let mut got = Vec::new();
            while let Some(p) = d.next_packet().unwrap() {
                got.push(p.data.len() + 7);
            }
            assert_eq!(got, sizes, "ADTS frame sizes vs ffprobe");
        } else {
            eprintln!("skipped ffprobe comparison: /usr/bin/ffprobe not installed");
        }

        let root = std::path::Path::new("/work/shared/corpus");
        let manifest = std::fs::read_to_string(root.join("MANIFEST.tsv")).unwrap_or_default();
        let Ok(rd) = std::fs::read_dir(root.join("media")) else {
            eprintln!("skipped: no corpus");
            return;
        };
        let mut files: Vec<_> =
            rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "aac")).collect();
        files.sort();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let ok = manifest.lines().any(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                f.first() == Some(&format!("media/{name}").as_str()) && f.get(9) == Some(&"OK")
            });
            let head = std::fs::read(&path).unwrap();
            let mut d = match AdtsDemuxer::open(&path) {
                Ok(d) => d,
                Err(e) => {
                    println!("{name}: open error: {e} (probe {})", probe(&head));
                    assert!(!ok, "{name} is listed OK: {e}");
                    continue;
                }
            };
            let s = d.streams()[0].clone();
            let mut n = 0;
            let mut last = -1;
            let mut err = None;
            loop {
                match d.next_packet() {
                    Ok(Some(p)) => {
                        assert!(p.dts > last, "{name}: dts not increasing");
                        last = p.dts;
                        n += 1;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            let secs = last as f64 / s.timebase as f64;
            println!(
                "{name}: {} probe={} aac {}Hz/{}ch cfg={:02x?} {n} packets {secs:.3}s{}",
                if ok { "OK" } else { "--" },
                probe(&head),
                s.sample_rate,
                s.channels,
                &s.config[..],
                err.map(|e| format!(" error: {e}")).unwrap_or_default()
            );
            if ok {
                assert!(n > 0 && probe(&head), "{name}");
            }
        }
    }
}
