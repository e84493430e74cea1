//! Output sections and the final in-process remux.
//!
//! Segments are written in playlist order into a *raw* file per section:
//! - MPEG-TS segments through [`TsJoiner`] (continuity counters, one program-wide timestamp
//!   offset at discontinuities, PAT/PMT remapping). When the joiner reports a change of
//!   codec or picture size, the segment is taken back out of the old section (the joiner
//!   writes into a per-segment buffer) and starts a new section with a fresh joiner.
//! - fMP4 segments: the init section (EXT-X-MAP) followed by the fragments; a different MAP
//!   starts a new section.
//! - anything else (packed ADTS audio): concatenated.
//!
//! A live recording into MPEG-TS from TS segments without a separate audio rendition writes
//! the output itself (playable while it grows). Otherwise the raw file is a hidden
//! temporary next to the output (`.NAME.rec.EXT`, `.NAME.audio.EXT`), renamed at the end
//! when it already is the wanted TS, else remuxed (TsDemuxer / Mp4Demuxer / AdtsDemuxer ->
//! Mp4Writer (faststart) or TsWriter) and deleted. An HLS VOD keeps its temporaries until
//! it is complete, so an interrupted run can be resumed (see `resume.rs`); a live recording
//! cannot be resumed, so the temporaries a killed live run left are kept as visible files
//! by the next run ([`keep_stale_temps`]).
//!
//! `-o -` streams the joined MPEG-TS to stdout as it is written (one section: a format
//! change continues in the same stream with a new PMT version).
//!
//! The remux itself is [`media::remux::remux`] (integer ticks only, see there); a section's
//! start (a sum of EXTINF) is turned into microsecond ticks once, when the section opens.
//!
//! Naming: with `-o NAME.EXT` the first section is `NAME.EXT`, later ones `NAME_1.EXT`,
//! `NAME_2.EXT`...; with `--rec-dir DIR` (or neither: the current directory) they are
//! `DIR/stream_0.EXT`, `DIR/stream_1.EXT`...

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use media::demux::adts::AdtsDemuxer;
use media::demux::mp4::Mp4Demuxer;
use media::demux::ts::TsDemuxer;
use media::mux::Muxer;
use media::packet::Demuxer;
use media::remux::tsjoin::TsJoiner;
use media::remux::{AudioWindow, RemuxError, WINDOW_HZ};
use media::time::Time;
use media::Container;

/// The container of a segment, from its first bytes (`has_map`: it follows an EXT-X-MAP
/// init section, so it is a fragment of an fMP4): a section's raw file is in that container.
pub fn sniff_segment(data: &[u8], has_map: bool) -> Option<Container> {
    if has_map {
        return Some(Container::Mp4);
    }
    if TsDemuxer::probe(data) {
        return Some(Container::Ts);
    }
    if media::demux::mp4::probe(data) {
        return Some(Container::Mp4);
    }
    if AdtsDemuxer::probe(data)
        || (data.starts_with(b"ID3") && {
            let skip = media::demux::adts::id3v2_len(data).unwrap_or(0);
            data.len() > skip && AdtsDemuxer::probe(&data[skip..])
        })
    {
        return Some(Container::Adts);
    }
    None
}

/// The joiner's own output of one segment, made to start with a PAT packet: a copy of its
/// first PAT packet goes in front. The joiner then keeps the program as it is (a segment
/// not starting with a PAT gets one injected, which would shift the PAT's continuity
/// counter), and the original PAT packet, a byte-for-byte repeat, is dropped as a duplicate.
fn replay_tail(tail: Vec<u8>) -> Vec<u8> {
    let pat = tail.chunks_exact(188).find(|p| p[0] == 0x47 && p[1] & 0x40 != 0 && p[1] & 0x1f == 0 && p[2] == 0);
    match pat {
        Some(p) if !tail.starts_with(p) => {
            let mut v = Vec::with_capacity(tail.len() + 188);
            v.extend_from_slice(p);
            v.extend_from_slice(&tail);
            v
        }
        _ => tail,
    }
}

/// Where section `n` goes.
#[derive(Clone, Debug)]
pub struct Naming {
    pub output: Option<PathBuf>,
    pub dir: PathBuf,
    pub format: Container,
}

impl Naming {
    pub fn path(&self, n: usize) -> PathBuf {
        let ext = self.format.ext();
        match &self.output {
            Some(p) if n == 0 => p.clone(),
            Some(p) => {
                let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "stream".into());
                let e = p.extension().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| ext.into());
                p.with_file_name(format!("{stem}_{n}.{e}"))
            }
            None => self.dir.join(format!("stream_{n}.{ext}")),
        }
    }
}

/// Before a live recording starts: the hidden temporaries a killed run left for the first
/// section of `naming` are kept as visible files (`NAME.interrupted-<unix time>.<ext>`,
/// playable: a joined TS, an fMP4, or ADTS audio) instead of being overwritten; empty ones
/// are removed. Returns the files kept.
pub fn keep_stale_temps(naming: &Naming) -> Vec<PathBuf> {
    let out = naming.path(0);
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "stream".into());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut kept = Vec::new();
    for tag in ["rec", "audio"] {
        for kind in [Container::Ts, Container::Mp4, Container::Adts] {
            let p = temp_path(&out, tag, kind);
            match std::fs::metadata(&p) {
                Ok(m) if m.len() == 0 => {
                    let _ = std::fs::remove_file(&p);
                }
                Ok(_) => {
                    let extra = if tag == "audio" { ".audio" } else { "" };
                    let to = out.with_file_name(format!("{stem}.interrupted-{now}{extra}.{}", kind.ext()));
                    if !to.exists() && std::fs::rename(&p, &to).is_ok() {
                        kept.push(to);
                    }
                }
                Err(_) => {}
            }
        }
    }
    kept
}

/// Collects what a TsJoiner writes for one segment.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

type Sink = BufWriter<Box<dyn Write + Send>>;

enum Cur {
    Ts { joiner: Box<TsJoiner<SharedBuf>>, buf: SharedBuf, file: Sink },
    Concat { file: Sink, map_id: Option<String> },
}

/// One finished or open section.
#[derive(Clone, Debug)]
pub struct Section {
    pub raw: PathBuf,
    pub raw_kind: Container,
    pub final_path: PathBuf,
    /// Recorded time (sum of EXTINF before its first segment) at which the section starts,
    /// in [`WINDOW_HZ`] ticks.
    pub start: Time,
}

/// The raw sections of one track (the main variant, or a separate audio rendition).
pub struct Sections {
    naming: Naming,
    /// A raw file is always a temporary (an audio rendition will be merged, or this is the
    /// audio track itself).
    force_temp: bool,
    /// Audio track: its raw files are named after this prefix; never more than one section.
    audio_of: Option<PathBuf>,
    pub sections: Vec<Section>,
    cur: Option<Cur>,
    /// `-o - --format mp4`: the thread remuxing the joined TS to fragmented MP4 on stdout.
    fmp4: Option<std::thread::JoinHandle<Result<u64, OutputError>>>,
    pub bytes_written: u64,
    /// Length of the open section's raw file after the last whole segment, and where that
    /// segment starts in it.
    raw_len: u64,
    last_start: u64,
}

/// What [`Sections::committed`] reports: the open section after its last whole segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Committed {
    pub raw: PathBuf,
    pub raw_kind: Container,
    pub raw_len: u64,
    pub last_start: u64,
    pub map_id: Option<String>,
}

/// Why writing, resuming or remuxing a recording's files failed; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Creating, reading, writing or renaming a file.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// The TS joiner (a segment it cannot join, or a failed write of the joined stream).
    #[error("{}: {source}", path.display())]
    Join { path: PathBuf, source: media::Error },
    /// `-o - --format mp4`: the pipe to the remux thread.
    #[error("-o -: cannot make a pipe: {0}")]
    Pipe(std::io::Error),
    /// `-o - --format mp4`: the remux thread did not start.
    #[error("-o -: cannot start the remux thread: {0}")]
    Thread(std::io::Error),
    /// `-o - --format mp4`: the remux thread panicked.
    #[error("-o -: the remux thread panicked")]
    ThreadPanicked,
    /// `-o - --format mp4`: the joined stream cannot be read as MPEG-TS.
    #[error("-o -: {0}")]
    Stdout(media::Error),
    /// An earlier run's state names a raw file this recording does not write.
    #[error("{}: not this recording's temporary file", .0.display())]
    NotOurs(PathBuf),
    /// An earlier run's raw file is shorter than its state says was written.
    #[error("{}: {len} bytes, shorter than the {recorded} recorded as written", path.display())]
    Truncated { path: PathBuf, len: u64, recorded: u64 },
    /// A segment in none of the containers a section can hold.
    #[error("unsupported segment format (not MPEG-TS, fMP4 or ADTS)")]
    UnknownSegment,
    /// A raw file cannot be read as the container it was written in.
    #[error("{}: {source}", path.display())]
    Demux { path: PathBuf, source: media::Error },
    /// The remux: `name` is the input for [`RemuxError::NoStream`], else the output.
    #[error("{name}: {source}")]
    Remux { name: String, source: RemuxError },
}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: p.to_path_buf(), source }
}

fn join(p: &Path) -> impl FnOnce(media::Error) -> OutputError + '_ {
    move |source| OutputError::Join { path: p.to_path_buf(), source }
}

fn temp_path(final_path: &Path, tag: &str, kind: Container) -> PathBuf {
    let name = final_path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "stream".into());
    final_path.with_file_name(format!(".{name}.{tag}.{}", kind.ext()))
}

impl Naming {
    /// `-o -`: the output is stdout.
    pub fn is_stdout(&self) -> bool {
        self.output.as_deref() == Some(Path::new("-"))
    }
}

impl Sections {
    /// `force_temp`: write a hidden temporary even for TS into TS (a separate audio
    /// rendition will be merged, or the recording is a VOD that can be resumed).
    pub fn new(naming: Naming, force_temp: bool) -> Sections {
        Sections {
            naming,
            force_temp,
            audio_of: None,
            sections: Vec::new(),
            cur: None,
            fmp4: None,
            bytes_written: 0,
            raw_len: 0,
            last_start: 0,
        }
    }

    pub fn audio(naming: Naming) -> Sections {
        let p = naming.path(0);
        Sections { audio_of: Some(p), ..Sections::new(naming, true) }
    }

    /// The final path of the current section (of the first one before anything is written).
    pub fn final_path(&self) -> PathBuf {
        match (self.sections.last(), &self.audio_of) {
            (Some(s), _) => s.final_path.clone(),
            (None, Some(p)) => p.clone(),
            (None, None) => self.naming.path(0),
        }
    }

    /// Where section `n` of `kind` is written, and its final path.
    fn paths(&self, n: usize, kind: Container) -> (PathBuf, PathBuf) {
        match &self.audio_of {
            Some(p) => (p.clone(), temp_path(p, "audio", kind)),
            None => {
                let f = self.naming.path(n);
                let raw = if self.naming.is_stdout() && kind != Container::Ts {
                    // fMP4 or audio segments: kept in a temporary, remuxed to stdout at the end.
                    std::env::temp_dir().join(format!("stitch-stdout-{}.rec.{}", std::process::id(), kind.ext()))
                } else if self.naming.is_stdout()
                    || (kind == Container::Ts && self.naming.format == Container::Ts && !self.force_temp)
                {
                    f.clone()
                } else {
                    temp_path(&f, "rec", kind)
                };
                (f, raw)
            }
        }
    }

    fn open_section(&mut self, kind: Container, start_secs: f64) -> Result<Sink, OutputError> {
        let start = Time::from_secs_f64(start_secs, WINDOW_HZ);
        let n = self.sections.len();
        let (final_path, raw) = self.paths(n, kind);
        self.raw_len = 0;
        self.last_start = 0;
        if self.naming.is_stdout() && self.audio_of.is_none() && kind == Container::Ts {
            self.sections.push(Section { raw, raw_kind: kind, final_path, start });
            if self.naming.format == Container::Mp4 {
                let (rd, wr) = std::io::pipe().map_err(OutputError::Pipe)?;
                let h = std::thread::Builder::new()
                    .name("fmp4-stdout".into())
                    .spawn(move || fmp4_to_stdout(rd))
                    .map_err(OutputError::Thread)?;
                self.fmp4 = Some(h);
                return Ok(BufWriter::with_capacity(1 << 16, Box::new(wr)));
            }
            return Ok(BufWriter::with_capacity(1 << 16, Box::new(std::io::stdout())));
        }
        if let Some(d) = raw.parent() {
            if !d.as_os_str().is_empty() {
                std::fs::create_dir_all(d).map_err(io(d))?;
            }
        }
        if raw == final_path {
            // Written in place (live TS into TS): a new file, never the old one truncated, so
            // another link to an earlier file of this name (a published copy) keeps its bytes.
            match std::fs::remove_file(&raw) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&raw)(e)),
                _ => {}
            }
        }
        let f = File::create(&raw).map_err(io(&raw))?;
        self.sections.push(Section { raw, raw_kind: kind, final_path, start });
        Ok(BufWriter::with_capacity(1 << 20, Box::new(f)))
    }

    /// Continue the first section of an interrupted run: its raw file (where section 0 of
    /// `kind` goes) is cut to `c.raw_len` bytes and appended to; for TS a fresh joiner
    /// is given the state (continuity counters, program, timing) of the last segment by
    /// re-reading it from `c.last_start`.
    pub fn resume(&mut self, c: &Committed) -> Result<(), OutputError> {
        let (final_path, raw) = self.paths(0, c.raw_kind);
        if raw != c.raw || !self.sections.is_empty() || self.naming.is_stdout() {
            return Err(OutputError::NotOurs(c.raw.clone()));
        }
        let mut f = std::fs::OpenOptions::new().read(true).write(true).open(&raw).map_err(io(&raw))?;
        let len = f.metadata().map_err(io(&raw))?.len();
        if len < c.raw_len || c.last_start > c.raw_len {
            return Err(OutputError::Truncated { path: raw, len, recorded: c.raw_len });
        }
        f.set_len(c.raw_len).map_err(io(&raw))?;
        use std::io::{Read, Seek, SeekFrom};
        let mut tail = Vec::new();
        f.seek(SeekFrom::Start(c.last_start)).map_err(io(&raw))?;
        Read::by_ref(&mut f).take(c.raw_len - c.last_start).read_to_end(&mut tail).map_err(io(&raw))?;
        f.seek(SeekFrom::End(0)).map_err(io(&raw))?;
        let file: Sink = BufWriter::with_capacity(1 << 20, Box::new(f));
        self.sections.push(Section { raw, raw_kind: c.raw_kind, final_path, start: Time::zero(WINDOW_HZ) });
        self.cur = Some(match c.raw_kind {
            Container::Ts => {
                let buf = SharedBuf::default();
                let mut joiner = Box::new(TsJoiner::new(buf.clone()));
                joiner.push_segment(&replay_tail(tail), false).map_err(join(&c.raw))?;
                buf.take();
                Cur::Ts { joiner, buf, file }
            }
            Container::Mp4 | Container::Adts => Cur::Concat { file, map_id: c.map_id.clone() },
        });
        self.raw_len = c.raw_len;
        self.last_start = c.last_start;
        Ok(())
    }

    /// Flush the open section and report it, when there is exactly one section (a format
    /// change makes a recording not resumable).
    pub fn commit(&mut self) -> Result<Option<Committed>, OutputError> {
        if self.sections.len() != 1 || self.naming.is_stdout() {
            return Ok(None);
        }
        let s = &self.sections[0];
        let map_id = match &mut self.cur {
            Some(Cur::Ts { file, .. }) => {
                file.flush().map_err(io(&s.raw))?;
                None
            }
            Some(Cur::Concat { file, map_id }) => {
                file.flush().map_err(io(&s.raw))?;
                map_id.clone()
            }
            None => return Ok(None),
        };
        Ok(Some(Committed {
            raw: s.raw.clone(),
            raw_kind: s.raw_kind,
            raw_len: self.raw_len,
            last_start: self.last_start,
            map_id,
        }))
    }

    /// Flush and close the raw files, keeping them (an interrupted VOD to be resumed).
    pub fn keep(&mut self) -> Result<(), OutputError> {
        self.close_cur()
    }

    fn close_cur(&mut self) -> Result<(), OutputError> {
        let path = self.sections.last().map(|s| s.raw.clone()).unwrap_or_default();
        match self.cur.take() {
            Some(Cur::Ts { joiner, buf, mut file }) => {
                joiner.finish().map_err(join(&path))?;
                file.write_all(&buf.take()).map_err(io(&path))?;
                file.flush().map_err(io(&path))?;
            }
            Some(Cur::Concat { mut file, .. }) => file.flush().map_err(io(&path))?,
            None => {}
        }
        // The pipe's writer is closed: the fragmented MP4 remux ends with the stream.
        if let Some(h) = self.fmp4.take() {
            h.join().map_err(|_| OutputError::ThreadPanicked)??;
        }
        Ok(())
    }

    /// Append one segment (decrypted). `init`: its EXT-X-MAP bytes and an identity for
    /// the map; `at_secs`: recorded time before this segment (sum of EXTINF). Returns true
    /// when a new section was started (after the first).
    pub fn push(
        &mut self,
        data: &[u8],
        discontinuity: bool,
        init: Option<(&[u8], String)>,
        at_secs: f64,
    ) -> Result<bool, OutputError> {
        let kind = match &self.cur {
            Some(Cur::Ts { .. }) => Container::Ts,
            Some(Cur::Concat { .. }) => self.sections.last().map(|s| s.raw_kind).unwrap_or(Container::Adts),
            None => sniff_segment(data, init.is_some()).ok_or(OutputError::UnknownSegment)?,
        };
        let mut new_section = false;
        match kind {
            Container::Ts => {
                if self.cur.is_none() {
                    let file = self.open_section(Container::Ts, at_secs)?;
                    let buf = SharedBuf::default();
                    self.cur = Some(Cur::Ts { joiner: Box::new(TsJoiner::new(buf.clone())), buf, file });
                }
                let raw = self.sections.last().map(|s| s.raw.clone()).unwrap_or_default();
                let Some(Cur::Ts { joiner, buf, file }) = &mut self.cur else { unreachable!() };
                let info = joiner.push_segment(data, discontinuity).map_err(join(&raw))?;
                let out = buf.take();
                if info.codec_change && joiner.segments() > 1 && self.audio_of.is_none() && !self.naming.is_stdout() {
                    // Start a new section with this segment.
                    self.close_cur()?;
                    let file = self.open_section(Container::Ts, at_secs)?;
                    let buf = SharedBuf::default();
                    let p = self.sections.last().map(|s| s.raw.clone()).unwrap_or_default();
                    let mut joiner = Box::new(TsJoiner::new(buf.clone()));
                    joiner.push_segment(data, false).map_err(join(&p))?;
                    let out = buf.take();
                    self.bytes_written += out.len() as u64;
                    let mut file = file;
                    file.write_all(&out).map_err(io(&p))?;
                    self.cur = Some(Cur::Ts { joiner, buf, file });
                    new_section = true;
                    self.last_start = 0;
                    self.raw_len = out.len() as u64;
                } else {
                    self.bytes_written += out.len() as u64;
                    file.write_all(&out).map_err(io(&raw))?;
                    self.last_start = self.raw_len;
                    self.raw_len += out.len() as u64;
                }
            }
            Container::Mp4 | Container::Adts => {
                let map_id = init.as_ref().map(|(_, id)| id.clone());
                let same = matches!(&self.cur, Some(Cur::Concat { map_id: m, .. }) if *m == map_id);
                if !same {
                    if self.cur.is_some() {
                        // An audio track keeps one section (a later init section is
                        // appended as it is); the main track starts a new one.
                        self.close_cur()?;
                        new_section = self.audio_of.is_none();
                    }
                    let mut file = self.open_section(kind, at_secs)?;
                    if let Some((b, _)) = &init {
                        let raw = self.sections.last().map(|s| s.raw.as_path()).unwrap_or(Path::new(""));
                        file.write_all(b).map_err(io(raw))?;
                        self.bytes_written += b.len() as u64;
                        self.raw_len += b.len() as u64;
                    }
                    self.cur = Some(Cur::Concat { file, map_id });
                }
                let raw = self.sections.last().map(|s| s.raw.as_path()).unwrap_or(Path::new(""));
                let Some(Cur::Concat { file, .. }) = &mut self.cur else { unreachable!() };
                file.write_all(data).map_err(io(raw))?;
                self.bytes_written += data.len() as u64;
                self.last_start = self.raw_len;
                self.raw_len += data.len() as u64;
            }
        }
        Ok(new_section)
    }

    /// Flush the open section.
    pub fn close(&mut self) -> Result<(), OutputError> {
        self.close_cur()
    }

    /// Flush what was written so far (live: keep the file playable).
    pub fn flush(&mut self) {
        match &mut self.cur {
            Some(Cur::Ts { file, .. }) | Some(Cur::Concat { file, .. }) => {
                let _ = file.flush();
            }
            None => {}
        }
    }

    /// Remove every raw file (an error before anything useful was written).
    pub fn discard(&mut self) {
        self.cur = None;
        for s in self.sections.iter().filter(|s| s.raw != s.final_path || !self.naming.is_stdout()) {
            let _ = std::fs::remove_file(&s.raw);
        }
        self.sections.clear();
    }
}

fn open_demuxer(path: &Path, kind: Container) -> Result<Box<dyn Demuxer>, OutputError> {
    let e = |source| OutputError::Demux { path: path.to_path_buf(), source };
    Ok(match kind {
        Container::Ts => Box::new(TsDemuxer::open(path).map_err(e)?),
        Container::Mp4 => Box::new(Mp4Demuxer::open(path).map_err(e)?),
        Container::Adts => Box::new(AdtsDemuxer::open(path).map_err(e)?),
    })
}

/// Remux `main` (and the audio of `audio`, replacing `main`'s own audio) into `out`.
/// Streams other than H.264/AAC are dropped for MP4 output.
pub fn remux(
    main: (&Path, Container),
    audio: Option<(&Path, Container, AudioWindow)>,
    out: &Path,
    format: Container,
) -> Result<u64, OutputError> {
    let mut inputs: Vec<Box<dyn Demuxer>> = vec![open_demuxer(main.0, main.1)?];
    let window = audio.map(|a| a.2);
    if let Some((p, k, _)) = audio {
        inputs.push(open_demuxer(p, k)?);
    }
    let main_name = main.0.display().to_string();
    if out == Path::new("-") {
        // `-o -` of a source that is not joined TS: remuxed to stdout once complete.
        let name = Path::new(media::pipeline::STDOUT_NAME);
        return remux_inputs(inputs, window, &main_name, name, |streams| {
            Muxer::to_writer(format, name, Box::new(std::io::stdout()), streams)
        });
    }
    remux_inputs(inputs, window, &main_name, out, |streams| {
        if let Some(d) = out.parent() {
            if !d.as_os_str().is_empty() {
                let _ = std::fs::create_dir_all(d);
            }
        }
        Muxer::create(format, out, streams)
    })
}

/// `-o - --format mp4`: the joined MPEG-TS arriving on `ts` remuxed to a fragmented MP4 on
/// stdout as it comes (one fragment per GOP), on the same timeline rules as [`remux`].
fn fmp4_to_stdout(ts: std::io::PipeReader) -> Result<u64, OutputError> {
    let dmx = TsDemuxer::from_reader(ts).map_err(OutputError::Stdout)?;
    let name = Path::new(media::pipeline::STDOUT_NAME);
    remux_inputs(vec![Box::new(dmx)], None, "the stream", name, |streams| {
        Muxer::to_writer(Container::Mp4, name, Box::new(std::io::stdout()), streams)
    })
}

/// [`media::remux::remux`] with its errors in the recorder's words: `main` names the first
/// input, `out` the output.
fn remux_inputs(
    inputs: Vec<Box<dyn Demuxer>>,
    window: Option<AudioWindow>,
    main: &str,
    out: &Path,
    create: impl FnOnce(&[media::packet::StreamInfo]) -> media::Result<Muxer>,
) -> Result<u64, OutputError> {
    media::remux::remux(inputs, window, create).map_err(|source| {
        let name = match source {
            RemuxError::NoStream => main.to_string(),
            RemuxError::Mux(_) => out.display().to_string(),
        };
        OutputError::Remux { name, source }
    })
}

/// Turn raw sections into the final files; delete temporaries. Returns the final paths.
pub fn finalize(
    main: &mut Sections,
    audio: Option<&mut Sections>,
    format: Container,
) -> Result<Vec<PathBuf>, OutputError> {
    main.close()?;
    let audio_raw = match audio {
        Some(a) => {
            a.close()?;
            a.sections.first().map(|s| (s.raw.clone(), s.raw_kind))
        }
        None => None,
    };
    let mut out = Vec::new();
    let mut result = Ok(());
    let starts: Vec<Time> = main.sections.iter().map(|s| s.start).collect();
    for (i, s) in main.sections.iter().enumerate() {
        if s.raw != s.final_path && s.raw_kind == Container::Ts && format == Container::Ts && audio_raw.is_none() {
            // The joined TS already is the output.
            if let Err(source) = std::fs::rename(&s.raw, &s.final_path) {
                result = Err(OutputError::Io { path: s.final_path.clone(), source });
                continue;
            }
        } else if s.raw != s.final_path {
            // Every section gets the rendition's audio of its own time span.
            let w = AudioWindow::new((i > 0).then_some(s.start), starts.get(i + 1).copied()).with_align_to_start(i > 0);
            let a = audio_raw.as_ref().map(|(p, k)| (p.as_path(), *k, w));
            if let Err(e) = remux((&s.raw, s.raw_kind), a, &s.final_path, format) {
                result = Err(e);
                continue;
            }
            let _ = std::fs::remove_file(&s.raw);
        }
        out.push(s.final_path.clone());
    }
    // The audio rendition's raw file is needed again if a remux failed (the rerun resumes).
    if let (Some((p, _)), true) = (audio_raw, result.is_ok()) {
        let _ = std::fs::remove_file(p);
    }
    result.map(|_| out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_sniffed_and_errors_name_their_file() {
        assert_eq!(sniff_segment(&[0u8; 4], true), Some(Container::Mp4));
        assert_eq!(sniff_segment(b"hello", false), None);
        let e = OutputError::Truncated { path: "a/.x.rec.ts".into(), len: 10, recorded: 20 };
        assert_eq!(e.to_string(), "a/.x.rec.ts: 10 bytes, shorter than the 20 recorded as written");
        let naming = Naming { output: Some("out.ts".into()), dir: ".".into(), format: Container::Ts };
        let mut s = Sections::new(naming, true);
        let c = Committed { raw: "other.ts".into(), raw_kind: Container::Ts, raw_len: 0, last_start: 0, map_id: None };
        assert_eq!(s.resume(&c).unwrap_err().to_string(), "other.ts: not this recording's temporary file");
        assert!(matches!(s.push(b"hello", false, None, 0.0), Err(OutputError::UnknownSegment)));
        assert!(s.sections.is_empty(), "nothing opened");
    }
}
