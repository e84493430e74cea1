//! The one module that wires the stages together.
//!
//! ```text
//!  clip files ──► [reader thread per open clip: demux ► decode ► scale ► resample]
//!                     │ bounded(8) ClipEvent
//!                     ▼
//!               [scheduler thread: timeline::Scheduler, gaps, mixing, AAC encode]
//!                     │ bounded(0) VideoChunk (whole GOPs)      │ bounded(64) audio packets
//!                     ▼                                           │
//!               [rayon pool: encode::ChunkEncoder, N workers]     │
//!                     │ bounded(N+1) EncodedChunk (any order)     │
//!                     ▼                                           ▼
//!               [calling thread: reorder chunks, interleave by time, mux::Muxer]
//! ```
//! Every queue is bounded, so memory is set by the canvas size, the GOP length and the
//! number of encoder threads, not by the length of the timeline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use crossbeam_channel::{bounded, select, Receiver, Sender};

use crate::decode::{self, resample::Resampler};
use crate::demux::{self, Format};
use crate::encode::{AacEncoder, ChunkEncoder, EncodedChunk, H264Settings, VideoChunk};
use crate::frame::{AudioFrame, Picture, VideoFrame};
use crate::mux::{Muxer, OutputKind};
use crate::packet::{Codec, MediaKind, Packet, StreamInfo};
use crate::stats::{Collector, Span, Stage, StageStats};
use crate::time::{rescale, VIDEO_HZ};
use crate::timeline::{ClipEvent, ClipOpener, ClipOutcome, ClipSpec, Flow, OutputFormat, Scheduler};
use crate::{Error, Result};

/// Everything `compile` needs besides the flow.
#[derive(Clone)]
pub struct CompileOptions {
    pub output: PathBuf,
    pub kind: OutputKind,
    pub width: u32,
    pub height: u32,
    pub fps_num: u32,
    pub fps_den: u32,
    pub sample_rate: u32,
    pub channels: u16,
    pub audio_bitrate: u32,
    /// None: derived from the canvas size and frame rate.
    pub video_bitrate: Option<u32>,
    /// GOP length in seconds (IDR interval; encoder chunks are one GOP).
    pub gop_secs: u32,
    /// Encoder threads.
    pub threads: usize,
    /// Timeline cut: start (90 kHz) and maximum length (90 kHz).
    pub start: i64,
    pub max_duration: Option<i64>,
    /// Called on a clip's reader thread before the file is opened; blocks until the file
    /// is ready (e.g. its download finished) or returns why it never will be. Lets the
    /// compile start while chunks are still downloading.
    pub wait_for_clip: Option<ClipWaiter>,
    /// Webinar composite with this layout (every visible clip on the canvas); `None`: one
    /// video layer, the later-starting clip wins.
    pub layout: Option<crate::compose::layout::LayoutKind>,
    /// Also write the mixed audio as WAV, 16 kHz mono (for speech-to-text).
    pub export_audio: Option<PathBuf>,
    /// Composite: cameras whose picture is black and whose audio is silent get no tile.
    pub hide_silent: bool,
    /// Composite: the flow's chat messages in a side panel.
    pub chat_panel: bool,
    /// Loudness normalisation of the mix (slow automatic gain before the limiter).
    pub normalize: bool,
    /// A clip whose `offset` skips more than [`SEEK_MIN_OFFSET`] of its file starts
    /// reading shortly before the offset when its demuxer can seek (MP4), instead of
    /// decoding everything before it. The output is the same either way; off is for tests
    /// and comparisons.
    pub seek_clips: bool,
    /// Composite, sidebar and pip: a new speaker takes the main area after leading this
    /// long (90 kHz; `--switch-hold`, default 2 s; see [`crate::compose::main_area`]).
    pub switch_hold: i64,
    /// Composite: told what every output frame drew where (frame index, main area and
    /// tiles with their owners), on the timeline thread; `None` records nothing.
    pub on_layout: Option<crate::compose::compositor::LayoutSink>,
    /// Write the container to the process's standard output instead of `output` (which is
    /// then not touched): an MPEG-TS, or a fragmented MP4 (`kind` Mp4), that a player can
    /// read from a pipe as it arrives.
    pub to_stdout: bool,
    /// Replace a file that appears under `output`'s name while the compile runs (default
    /// true); `false` keeps it and fails (the CLI's rule without `--force`).
    pub replace_existing: bool,
    /// Which library decodes H.264 (`--decoder`).
    pub decoder: crate::decode::DecoderChoice,
}

/// Sample rate of `--export audio` (mono).
pub const EXPORT_AUDIO_RATE: u32 = 16_000;

/// See [`CompileOptions::wait_for_clip`].
/// Returns the file to read for the clip (the flow's path, or a replacement such as a
/// chunk's HLS twin), or why the clip is not available.
pub type ClipWaiter = Arc<dyn Fn(&Path) -> std::result::Result<PathBuf, String> + Send + Sync>;

impl CompileOptions {
    pub fn new(output: &Path) -> CompileOptions {
        CompileOptions {
            output: output.to_path_buf(),
            kind: OutputKind::from_path(output),
            width: 1280,
            height: 720,
            fps_num: 25,
            fps_den: 1,
            sample_rate: 48000,
            channels: 2,
            audio_bitrate: 128_000,
            video_bitrate: None,
            gop_secs: 2,
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            start: 0,
            max_duration: None,
            wait_for_clip: None,
            layout: None,
            export_audio: None,
            hide_silent: false,
            chat_panel: false,
            normalize: false,
            seek_clips: true,
            switch_hold: crate::compose::main_area::DEFAULT_HOLD,
            on_layout: None,
            to_stdout: false,
            replace_existing: true,
            decoder: Default::default(),
        }
    }
}

/// Progress, reported from the calling thread about ten times a second.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Output frames muxed so far, and the total when known.
    pub frames_done: u64,
    pub frames_total: Option<u64>,
    /// Seconds of output muxed, and wall-clock seconds since the start.
    pub media_secs: f64,
    pub elapsed_secs: f64,
}

/// What `compile` did.
#[derive(Clone, Debug)]
pub struct CompileReport {
    pub frames: u64,
    pub audio_samples: u64,
    pub duration_secs: f64,
    pub bytes: u64,
    pub clips: Vec<ClipOutcome>,
    pub elapsed_secs: f64,
    /// Composite only: (frames drawn, frames that reused the previous canvas unchanged).
    pub composite_frames: Option<(u64, u64)>,
    /// Slides that could not be shown, and why.
    pub slide_problems: Vec<String>,
    /// Output frames that repeated the previous picture and were written as skip frames
    /// without encoding (see `encode::h264::REFINE_REPEATS`).
    pub skipped_frames: u64,
    /// Compressed packets the clip readers took from their demuxers, and how many clips
    /// started reading near their offset instead of at the file's start
    /// ([`CompileOptions::seek_clips`]).
    pub packets_read: u64,
    pub clips_seeked: u64,
    /// Per-stage wall and CPU time, items, queue waits and the bounding stage.
    pub stages: StageStats,
}

/// How [`compile`] names standard output in errors.
pub const STDOUT_NAME: &str = "standard output";

/// Compile `flow` into `opts.output` (or standard output: [`CompileOptions::to_stdout`]).
pub fn compile(
    flow: &Flow,
    opts: &CompileOptions,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<CompileReport> {
    let stdout = opts.to_stdout.then(|| {
        Box::new(std::io::BufWriter::with_capacity(1 << 20, std::io::stdout())) as Box<dyn std::io::Write + Send>
    });
    compile_to(flow, opts, stdout, progress, cancel)
}

/// [`compile`], the container going to `stream` (named [`STDOUT_NAME`]) when it is given.
fn compile_to(
    flow: &Flow,
    opts: &CompileOptions,
    stream: Option<Box<dyn std::io::Write + Send>>,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<CompileReport> {
    let to_file = stream.is_none();
    let t0 = Instant::now();
    if opts.width % 2 != 0
        || opts.height % 2 != 0
        || opts.width < 16
        || opts.height < 16
        || opts.width > 3840
        || opts.height > 2160
    {
        return Err(Error::Encode(format!(
            "unsupported canvas {}x{} (even sizes from 16x16 to 3840x2160)",
            opts.width, opts.height
        )));
    }
    if opts.fps_num == 0 || opts.fps_den == 0 || opts.fps_num / opts.fps_den > 120 {
        return Err(Error::Encode(format!("unsupported frame rate {}/{}", opts.fps_num, opts.fps_den)));
    }
    let fmt = OutputFormat {
        width: opts.width,
        height: opts.height,
        fps_num: opts.fps_num,
        fps_den: opts.fps_den,
        sample_rate: opts.sample_rate,
        channels: opts.channels,
    };
    let gop = ((opts.gop_secs.max(1) as u64 * opts.fps_num as u64) / opts.fps_den as u64).max(1) as u32;
    let settings = H264Settings {
        width: opts.width,
        height: opts.height,
        fps_num: opts.fps_num,
        fps_den: opts.fps_den,
        bitrate: opts
            .video_bitrate
            .unwrap_or_else(|| H264Settings::default_bitrate(opts.width, opts.height, opts.fps_num, opts.fps_den)),
        gop,
    };
    let threads = opts.threads.max(1);
    let stats = Arc::new(Collector::default());
    let encoder = ChunkEncoder::new(settings, threads)?.with_stats(stats.clone());
    let mut aac = AacEncoder::new(opts.sample_rate, opts.channels, opts.audio_bitrate)?;

    let mut vinfo = StreamInfo::new(0, MediaKind::Video, Codec::H264, VIDEO_HZ);
    vinfo.width = opts.width;
    vinfo.height = opts.height;
    let mut ainfo = StreamInfo::new(1, MediaKind::Audio, Codec::Aac, opts.sample_rate);
    ainfo.sample_rate = opts.sample_rate;
    ainfo.channels = opts.channels;
    ainfo.config = Bytes::from(aac.config.clone());
    if let Some(dir) = opts.output.parent().filter(|d| to_file && !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "output folder does not exist"),
            });
        }
    }
    let mut muxer = match stream {
        Some(w) => Muxer::to_writer(opts.kind, Path::new(STDOUT_NAME), w, &[vinfo, ainfo])?,
        None => Muxer::create(opts.kind, &opts.output, &[vinfo, ainfo])?,
    };
    muxer.replace_existing(opts.replace_existing);

    // Rendezvous: a chunk is handed over (and only then produced) when a worker is free,
    // so at most `threads` chunks are in flight, each at most one GOP of pictures.
    let (chunk_tx, chunk_rx) = bounded::<VideoChunk>(0);
    let (enc_tx, enc_rx) = bounded::<Result<EncodedChunk>>(threads + 1);
    let (aud_tx, aud_rx) = bounded::<Vec<Packet>>(64);
    let cancel_flag = Arc::new(AtomicBool::new(false));

    let clips = flow.clips.clone();
    let flow_duration = flow.duration;
    let (start, max_len) = (opts.start, opts.max_duration);
    let sched_cancel = cancel_flag.clone();
    let waiter = opts.wait_for_clip.clone();
    let slide_waiter = opts.wait_for_clip.clone();
    let layout = opts.layout;
    let hide_silent = opts.hide_silent;
    let normalize = opts.normalize;
    let chat_panel = opts.chat_panel;
    let switch_hold = opts.switch_hold;
    let on_layout = opts.on_layout.clone();
    let reading = ReadOptions {
        seek: opts.seek_clips,
        counters: Arc::new(ReadCounters::default()),
        stats: stats.clone(),
        decoder: opts.decoder,
    };
    let sched_stats = stats.clone();
    let counters = reading.counters.clone();
    let chat = flow.chat.clone();
    let slides = flow.slides.clone();
    // The mixed audio as 16 kHz mono WAV, tapped from the scheduler's output.
    let mut wav = match &opts.export_audio {
        Some(p) => Some((
            crate::mux::wav::WavWriter::create(p, EXPORT_AUDIO_RATE, 1)?,
            Resampler::new(opts.sample_rate, EXPORT_AUDIO_RATE, 1),
            0u64,
        )),
        None => None,
    };
    let ch_out = (opts.channels as usize).max(1);
    let scheduler = std::thread::Builder::new()
        .name("timeline".into())
        .spawn(move || -> Result<(Vec<ClipOutcome>, (Option<(u64, u64)>, Vec<String>))> {
            // Compose: this thread's time, less the AAC encoder's (counted as encode).
            let _worker = sched_stats.enter(Stage::Compose);
            let span = Span::start();
            let (mut aac_cpu, mut aac_wall) = (0u64, 0u64);
            let mut frames_made = 0u64;
            let opener: ClipOpener = Box::new(move |spec: &ClipSpec| match &spec.remote {
                // A url the application did not download: skipped with the reason.
                Some(r) => {
                    let (tx, rx) = bounded(1);
                    let _ = tx.send(ClipEvent::End { problem: Some(r.reason(&spec.url)), fatal: true });
                    rx
                }
                None => spawn_reader(spec.path.clone(), spec.offset, fmt, waiter.clone(), reading.clone()),
            });
            let mut s = Scheduler::new(fmt, clips, flow_duration, start, max_len, opener).normalize(normalize);
            if let Some(l) = layout {
                s = s.with_layout(l).hide_silent(hide_silent).switch_hold(switch_hold);
                if let Some(sink) = on_layout {
                    s = s.on_layout(sink);
                }
                if chat_panel {
                    s = s.with_chat_panel(chat);
                }
                if !slides.is_empty() {
                    let wait = slide_waiter;
                    s = s.with_slides(
                        slides,
                        Box::new(move |spec: &crate::timeline::SlideSpec| {
                            if let Some(r) = &spec.remote {
                                return Err(r.reason(&spec.url));
                            }
                            let path = match &wait {
                                Some(w) => w(&spec.path)?,
                                None => spec.path.clone(),
                            };
                            std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
                        }),
                    );
                }
            }
            // The chunk being produced: its pictures go straight to the worker encoding it.
            let mut cur: Option<Sender<Arc<Picture>>> = None;
            let mut in_chunk = 0u32;
            let mut index = 0u64;
            let mut apkts = Vec::new();
            while let Some(f) = s.next() {
                if sched_cancel.load(Ordering::Relaxed) {
                    return Err(Error::Cancelled);
                }
                let tx = match &cur {
                    Some(tx) => tx,
                    None => {
                        // Blocks until a worker is free (rendezvous).
                        let (tx, rx) = bounded(gop as usize);
                        if chunk_tx.send(VideoChunk { index, first_frame: f.index, pictures: rx }).is_err() {
                            return Err(Error::Cancelled);
                        }
                        index += 1;
                        in_chunk = 0;
                        cur.insert(tx)
                    }
                };
                if tx.send(f.picture).is_err() {
                    return Err(Error::Cancelled); // the worker failed; its error reaches the muxer
                }
                in_chunk += 1;
                if in_chunk == gop {
                    cur = None;
                }
                frames_made += 1;
                let a = Span::start();
                aac.push(&f.audio, &mut apkts)?;
                let (c, w) = a.elapsed();
                (aac_cpu, aac_wall) = (aac_cpu + c, aac_wall + w);
                if !apkts.is_empty() && aud_tx.send(std::mem::take(&mut apkts)).is_err() {
                    return Err(Error::Cancelled);
                }
                if let Some((w, r, n)) = wav.as_mut() {
                    let mono: Vec<f32> =
                        f.audio.chunks(ch_out).map(|c| c.iter().sum::<f32>() / ch_out as f32).collect();
                    *n += mono.len() as u64;
                    w.write(&r.process(&mono))?;
                }
            }
            drop(cur);
            sched_stats.time(Stage::Encode, || aac.finish(&mut apkts))?;
            let (cpu, wall) = span.elapsed();
            sched_stats.add(Stage::Compose, cpu.saturating_sub(aac_cpu), wall.saturating_sub(aac_wall));
            sched_stats.add(Stage::Encode, aac_cpu, aac_wall);
            sched_stats.add_items(Stage::Compose, frames_made);
            if let Some((mut w, mut r, n)) = wav.take() {
                w.write(&r.finish(n))?;
                w.finish()?;
            }
            if !apkts.is_empty() {
                let _ = aud_tx.send(apkts);
            }
            Ok((s.outcomes().to_vec(), (s.compose_stats(), s.slide_problems.clone())))
        })
        .map_err(|e| Error::Encode(format!("cannot start the timeline thread: {e}")))?;
    let encoder_thread = std::thread::Builder::new()
        .name("encoder".into())
        .spawn(move || encoder.run(chunk_rx, enc_tx))
        .map_err(|e| Error::Encode(format!("cannot start the encoder thread: {e}")))?;

    // Mux on this thread: chunks in index order, audio interleaved by time.
    let mux_worker = stats.enter(Stage::Mux);
    let mux_span = Span::start();
    let result = mux_loop(&mut muxer, enc_rx, aud_rx, &settings, opts.sample_rate, progress, cancel, &cancel_flag, t0);
    if result.is_err() {
        cancel_flag.store(true, Ordering::Relaxed);
    }
    let _ = encoder_thread.join();
    let sched = scheduler.join().map_err(|_| Error::Encode("the timeline thread panicked".into()))?;
    let done = result.and_then(|r| sched.map(|s| (r, s)));
    let ((frames, audio_samples, skipped_frames), (clips, (composite_frames, slide_problems))) = match done {
        Ok(v) => v,
        Err(e) => {
            drop(muxer); // the MP4 writer removes its temporary files on drop
            if to_file {
                let _ = std::fs::remove_file(crate::mux::part_path(&opts.output));
            }
            return Err(e);
        }
    };
    // Nothing usable is a failure, not a black file: no clip was used (all skipped, or none
    // inside the compiled window).
    if !clips
        .iter()
        .any(|c| matches!(c.status, crate::timeline::ClipStatus::Used | crate::timeline::ClipStatus::Damaged(_)))
    {
        drop(muxer);
        if to_file {
            let _ = std::fs::remove_file(crate::mux::part_path(&opts.output));
        }
        let why: Vec<String> = clips
            .iter()
            .filter_map(|c| match &c.status {
                crate::timeline::ClipStatus::Skipped(w) if c.spec.remote.is_some() => {
                    Some(format!("{}: {w}", c.spec.url))
                }
                crate::timeline::ClipStatus::Skipped(w) => Some(format!("{}: {w}", c.spec.path.display())),
                _ => None,
            })
            .collect();
        return Err(Error::NoMedia(if why.is_empty() {
            ": no clip lies inside the compiled part of the timeline".to_string()
        } else {
            format!(": no clip could be used ({})", why.join("; "))
        }));
    }
    let bytes = muxer.finish()?;
    stats.add_span(Stage::Mux, mux_span);
    stats.add_items(Stage::Mux, frames);
    stats.add_bytes(Stage::Mux, bytes);
    stats.add_items(Stage::Demux, counters.packets.load(Ordering::Relaxed));
    drop(mux_worker);
    Ok(CompileReport {
        frames,
        audio_samples,
        duration_secs: frames as f64 * opts.fps_den as f64 / opts.fps_num as f64,
        bytes,
        clips,
        elapsed_secs: t0.elapsed().as_secs_f64(),
        composite_frames,
        slide_problems,
        skipped_frames,
        packets_read: counters.packets.load(Ordering::Relaxed),
        clips_seeked: counters.seeks.load(Ordering::Relaxed),
        stages: stats.snapshot(),
    })
}

#[allow(clippy::too_many_arguments)]
fn mux_loop(
    muxer: &mut Muxer,
    enc_rx: Receiver<Result<EncodedChunk>>,
    aud_rx: Receiver<Vec<Packet>>,
    settings: &H264Settings,
    sample_rate: u32,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
    cancel_flag: &AtomicBool,
    t0: Instant,
) -> Result<(u64, u64, u64)> {
    let mut pending: BTreeMap<u64, EncodedChunk> = BTreeMap::new();
    let mut skipped = 0u64;
    let mut next_chunk = 0u64;
    let mut next_packet = 0usize;
    let mut audio_until = i64::MIN;
    let mut audio: std::collections::VecDeque<Packet> = Default::default();
    let (mut enc_open, mut aud_open) = (true, true);
    let mut frames = 0u64;
    let mut audio_samples = 0u64;
    let mut last_report = Instant::now();
    let drop_priming_before = match muxer.kind() {
        OutputKind::Ts => Some(-(crate::codec::aac::FRAME_SAMPLES as i64)),
        OutputKind::Mp4 => None,
    };
    let write_audio_until = |muxer: &mut Muxer,
                             audio: &mut std::collections::VecDeque<Packet>,
                             t90: Option<i64>,
                             samples: &mut u64|
     -> Result<()> {
        while let Some(p) = audio.front() {
            if let Some(t) = t90 {
                if rescale(p.dts, sample_rate, VIDEO_HZ) > t {
                    break;
                }
            }
            let mut p = audio.pop_front().unwrap_or_else(|| unreachable!());
            p.stream = 1;
            // MPEG-TS has no edit list: keep one frame of encoder priming (the MDCT overlap
            // the first real frame needs) and drop the rest, so the audio stream does not
            // outlast the timeline by more than a frame.
            if drop_priming_before.is_some_and(|lim| p.pts < lim) {
                continue;
            }
            *samples += p.duration.max(0) as u64;
            muxer.write(&p)?;
        }
        Ok(())
    };
    while enc_open || aud_open {
        if cancel.load(Ordering::Relaxed) {
            cancel_flag.store(true, Ordering::Relaxed);
            return Err(Error::Cancelled);
        }
        select! {
            recv(if enc_open { Some(&enc_rx) } else { None }.unwrap_or(&crossbeam_channel::never())) -> m => match m {
                Ok(chunk) => { let c = chunk?; pending.insert(c.index, c); }
                Err(_) => enc_open = false,
            },
            recv(if aud_open { Some(&aud_rx) } else { None }.unwrap_or(&crossbeam_channel::never())) -> m => match m {
                Ok(pkts) => {
                    if let Some(l) = pkts.last() {
                        audio_until = rescale(l.pts + l.duration, sample_rate, VIDEO_HZ);
                    }
                    audio.extend(pkts)
                }
                Err(_) => aud_open = false,
            },
            default(std::time::Duration::from_millis(100)) => {}
        }
        // Interleave deterministically: a video packet is written only once the audio up
        // to its time has arrived (or the audio has ended), so the file's layout does not
        // depend on thread timing.
        'chunks: while let Some(c) = pending.get_mut(&next_chunk) {
            while next_packet < c.packets.len() {
                let dts = c.packets[next_packet].dts;
                if aud_open && audio_until <= dts {
                    break 'chunks;
                }
                write_audio_until(muxer, &mut audio, Some(dts), &mut audio_samples)?;
                muxer.write(&c.packets[next_packet])?;
                next_packet += 1;
                frames += 1;
            }
            skipped += c.skipped;
            pending.remove(&next_chunk);
            next_chunk += 1;
            next_packet = 0;
        }
        if last_report.elapsed().as_millis() >= 100 {
            last_report = Instant::now();
            progress(&Progress {
                frames_done: frames,
                frames_total: None,
                media_secs: settings.frame_pts(frames) as f64 / VIDEO_HZ as f64,
                elapsed_secs: t0.elapsed().as_secs_f64(),
            });
        }
    }
    if !pending.is_empty() {
        return Err(Error::Encode(format!("encoded chunk {next_chunk} never arrived")));
    }
    write_audio_until(muxer, &mut audio, None, &mut audio_samples)?;
    progress(&Progress {
        frames_done: frames,
        frames_total: Some(frames),
        media_secs: settings.frame_pts(frames) as f64 / VIDEO_HZ as f64,
        elapsed_secs: t0.elapsed().as_secs_f64(),
    });
    Ok((frames, audio_samples, skipped))
}

/// A clip whose offset skips more than this much of its file (90 kHz) is read from shortly
/// before the offset when its demuxer can seek ([`CompileOptions::seek_clips`]).
pub const SEEK_MIN_OFFSET: i64 = 2 * VIDEO_HZ as i64;
/// How long before the offset such a clip resumes (90 kHz): the audio decoder and the
/// resampler are settled by the offset. (The demuxer itself resumes video at the sync
/// sample before the picture showing at the target.)
const SEEK_MARGIN: i64 = VIDEO_HZ as i64;

/// How reader threads read their clips, and what they count.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Start near a large offset when the demuxer can seek (see [`SEEK_MIN_OFFSET`]).
    pub seek: bool,
    pub counters: Arc<ReadCounters>,
    /// Demux and decode time of the reader threads.
    pub stats: Arc<Collector>,
    pub decoder: decode::DecoderChoice,
}

/// Totals over every reader thread sharing them.
#[derive(Debug, Default)]
pub struct ReadCounters {
    /// Packets taken from demuxers.
    pub packets: AtomicU64,
    /// Clips that started reading near their offset.
    pub seeks: AtomicU64,
}

/// Start a reader thread for one clip; its events arrive on the returned channel.
/// `offset` is the clip's [`ClipSpec::offset`]: content before it is not shown.
pub fn spawn_reader(
    path: PathBuf,
    offset: i64,
    fmt: OutputFormat,
    wait: Option<ClipWaiter>,
    how: ReadOptions,
) -> Receiver<ClipEvent> {
    // Small: each picture is canvas-sized (1.4 MB at 720p); the scheduler keeps its own
    // short read-ahead per clip.
    let (tx, rx) = bounded(8);
    let name = format!("clip {}", path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    let spawned = std::thread::Builder::new().name(name).spawn({
        let tx = tx.clone();
        move || {
            let path = match wait {
                Some(w) => match w(&path) {
                    Ok(p) => p,
                    Err(why) => {
                        let _ = tx.send(ClipEvent::End { problem: Some(why), fatal: true });
                        return;
                    }
                },
                None => path,
            };
            read_clip(&path, offset, fmt, &how, &tx)
        }
    });
    if let Err(e) = spawned {
        let _ = tx.send(ClipEvent::End { problem: Some(format!("cannot start a reader thread: {e}")), fatal: true });
    }
    rx
}

/// Audio of one clip: PCM at the source rate in, output-rate samples placed by timestamp out.
struct ClipAudio {
    out_rate: u32,
    out_ch: u16,
    res: Option<(Resampler, u32, u16)>,
    /// Next expected input pts (source rate) and the output position of that sample.
    next_in: i64,
    out_pos: i64,
    seg_in: u64,
    end_out: Option<i64>,
    /// Output samples before this position are not sent: 0 (priming and pre-roll before
    /// the clip's time zero), or after a seek the seek point (what lies before it is not
    /// heard anyway, and reaches the scheduler only partly).
    min_out: i64,
    /// After a seek: (input position, rate) of the first audio frame a read from the file's
    /// start decodes. The first segment is then laid on the grid that read would have
    /// used: its first input sample is snapped to a whole number of frames after that
    /// position (as the decoder's own timestamp smoothing would have) and moved to a
    /// sample where input and output positions coincide, so the resampled output is
    /// sample for sample that of a read from the start.
    grid: Option<(i64, u32)>,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

impl ClipAudio {
    fn push(&mut self, mut f: AudioFrame, origin_90k: i64, tx: &Sender<ClipEvent>) -> bool {
        if f.is_empty() || f.sample_rate == 0 {
            return true;
        }
        let origin_in = rescale(origin_90k, VIDEO_HZ, f.sample_rate);
        let mut pts_in = f.pts - origin_in;
        let tol = (f.sample_rate / 100) as i64; // 10 ms
        let restart = match &self.res {
            None => true,
            Some((_, rate, ch)) => *rate != f.sample_rate || *ch != f.channels || (pts_in - self.next_in).abs() > tol,
        };
        let mut out = Vec::new();
        if restart {
            if let Some((mut r, _, _)) = self.res.take() {
                out.extend(r.finish(self.seg_in));
                if !self.send(std::mem::take(&mut out), tx) {
                    return false;
                }
            }
            let mut out_pos = rescale(pts_in, f.sample_rate, self.out_rate);
            if let Some((anchor, rate)) = self.grid.take().filter(|g| g.1 == f.sample_rate) {
                let (n, rate) = (f.len() as i64, rate as i64);
                let k = (pts_in - anchor + n / 2).div_euclid(n);
                if (pts_in - (anchor + k * n)).abs() <= (rate / 1000).max(1) {
                    pts_in = anchor + k * n;
                }
                let g = gcd(rate, self.out_rate as i64).max(1);
                let (step_in, step_out) = (rate / g, self.out_rate as i64 / g);
                let skip = (anchor - pts_in).rem_euclid(step_in);
                if skip >= n {
                    self.grid = Some((anchor, rate as u32)); // the next frame starts the segment
                    return true;
                }
                f.samples.drain(..skip as usize * f.channels as usize);
                pts_in += skip;
                out_pos =
                    rescale(anchor, rate as u32, self.out_rate) + (pts_in - anchor).div_euclid(step_in) * step_out;
            }
            self.res = Some((Resampler::new(f.sample_rate, self.out_rate, self.out_ch), f.sample_rate, f.channels));
            self.next_in = pts_in;
            self.out_pos = out_pos;
            self.seg_in = 0;
        }
        let n = f.len() as i64;
        let mixed = decode::resample::remix(&f.samples, f.channels, self.out_ch);
        if let Some((r, _, _)) = self.res.as_mut() {
            out.extend(r.process(&mixed));
        }
        self.next_in += n;
        self.seg_in += n as u64;
        self.send(out, tx)
    }

    fn send(&mut self, samples: Vec<f32>, tx: &Sender<ClipEvent>) -> bool {
        let ch = self.out_ch as usize;
        let mut n = (samples.len() / ch) as i64;
        if n == 0 {
            return true;
        }
        let mut samples = samples;
        let mut pts = self.out_pos;
        self.out_pos += n;
        // Priming and pre-roll (before the clip's time zero, or the seek point) are never heard.
        if pts < self.min_out {
            let skip = (self.min_out - pts).min(n);
            samples.drain(..(skip as usize) * ch);
            pts += skip;
            n -= skip;
        }
        if let Some(end) = self.end_out {
            if pts + n > end {
                let keep = (end - pts).max(0);
                samples.truncate(keep as usize * ch);
                n = keep;
            }
        }
        if n <= 0 {
            return true;
        }
        tx.send(ClipEvent::Audio(AudioFrame { pts, sample_rate: self.out_rate, channels: self.out_ch, samples }))
            .is_ok()
    }

    fn finish(&mut self, tx: &Sender<ClipEvent>) {
        if let Some((mut r, _, _)) = self.res.take() {
            let out = r.finish(self.seg_in);
            self.send(out, tx);
        }
    }
}

/// Describe a clip-level error for the summary.
fn describe(e: &Error) -> String {
    match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => "file not found".into(),
        Error::Io { source, .. } => format!("cannot read: {source}"),
        Error::Invalid(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The first audio frame a read of the stream `info` from the file's start decodes, as
/// (pts, sample rate): decodes the stream's first packets with a scratch decoder, reading
/// packets into `buffered` (to be replayed) until one comes out. `None` when there is none
/// or on a decoding error; a demuxing error is left in `problem`.
fn first_audio_frame(
    dmx: &mut dyn crate::packet::Demuxer,
    buffered: &mut Vec<Packet>,
    info: &StreamInfo,
    problem: &mut Option<String>,
    packets: &AtomicU64,
) -> Option<(i64, u32)> {
    let mut dec = decode::open_audio(info).ok()?;
    let mut frames = Vec::new();
    let mut i = 0;
    loop {
        while i < buffered.len() {
            if buffered[i].stream == info.index {
                dec.decode(&buffered[i], &mut frames).ok()?;
                if let Some(f) = frames.iter().find(|f| !f.is_empty() && f.sample_rate > 0) {
                    return Some((f.pts, f.sample_rate));
                }
            }
            i += 1;
        }
        if buffered.len() >= 2000 {
            return None;
        }
        match dmx.next_packet() {
            Ok(Some(p)) => {
                packets.fetch_add(1, Ordering::Relaxed);
                buffered.push(p);
            }
            Ok(None) => return None,
            Err(e) => {
                *problem = Some(format!("damaged: {}", describe(&e)));
                return None;
            }
        }
    }
}

/// A reader thread's time: demux is what `next_packet` took, decode the rest of the thread
/// (decoding, scaling, resampling, and waiting on its queue), added when it ends.
struct ReaderTime<'a> {
    stats: &'a Collector,
    _worker: (crate::stats::Entered<'a>, crate::stats::Entered<'a>),
    span: Span,
    demux: (u64, u64),
    frames: u64,
}

impl<'a> ReaderTime<'a> {
    fn new(stats: &'a Collector) -> Self {
        let workers = (stats.enter(Stage::Demux), stats.enter(Stage::Decode));
        ReaderTime { stats, _worker: workers, span: Span::start(), demux: (0, 0), frames: 0 }
    }

    /// Time one demuxer call.
    fn demux<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let s = Span::start();
        let r = f();
        let (c, w) = s.elapsed();
        self.demux = (self.demux.0 + c, self.demux.1 + w);
        r
    }
}

impl Drop for ReaderTime<'_> {
    fn drop(&mut self) {
        let (cpu, wall) = self.span.elapsed();
        self.stats.add(Stage::Demux, self.demux.0, self.demux.1);
        self.stats.add(Stage::Decode, cpu.saturating_sub(self.demux.0), wall.saturating_sub(self.demux.1));
        self.stats.add_items(Stage::Decode, self.frames);
    }
}

fn read_clip(path: &Path, offset: i64, fmt: OutputFormat, how: &ReadOptions, tx: &Sender<ClipEvent>) {
    let mut time = ReaderTime::new(&how.stats);
    let packets = &how.counters.packets;
    let end = |problem: String, fatal: bool| {
        let _ = tx.send(ClipEvent::End { problem: Some(problem), fatal });
    };
    let (format, mut dmx) = match time.demux(|| demux::open(path)) {
        Ok(d) => d,
        Err(e) => return end(describe(&e), true),
    };
    let streams = dmx.streams().to_vec();
    let mut notes = Vec::new();
    let vs = streams.iter().find(|s| s.kind == MediaKind::Video).cloned();
    let aus = streams.iter().find(|s| s.kind == MediaKind::Audio).cloned();
    // A stream whose codec the build cannot decode is left out with a note; the clip still
    // contributes its other stream.
    fn open_or_note<T>(
        s: &Option<StreamInfo>,
        what: &str,
        open: impl Fn(&StreamInfo) -> Result<T>,
        notes: &mut Vec<String>,
    ) -> Option<T> {
        let s = s.as_ref()?;
        open(s).map_err(|e| notes.push(format!("{what}: {e}"))).ok()
    }
    let mut vdec = open_or_note(&vs, "video", |s| decode::open_video(s, how.decoder), &mut notes);
    let mut adec = open_or_note(&aus, "audio", decode::open_audio, &mut notes);
    if vdec.is_none() && adec.is_none() {
        let why = if notes.is_empty() { "no audio or video stream".to_string() } else { notes.join("; ") };
        return end(why, true);
    }
    if tx.send(ClipEvent::Start { has_video: vdec.is_some(), has_audio: adec.is_some(), notes }).is_err() {
        return;
    }
    let vidx = vs.as_ref().map(|s| s.index);
    let aidx = aus.as_ref().map(|s| s.index);
    let vtb = vs.as_ref().map(|s| s.timebase).unwrap_or(VIDEO_HZ);
    let atb = aus.as_ref().map(|s| s.timebase).unwrap_or(VIDEO_HZ);
    let v_end = vs.as_ref().and_then(|s| s.presentation_end.map(|e| rescale(e, s.timebase, VIDEO_HZ)));
    let a_end = aus.as_ref().and_then(|s| s.presentation_end.map(|e| rescale(e, s.timebase, fmt.sample_rate)));

    // MPEG-TS carries absolute clocks: the clip's time zero is its earliest timestamp.
    // MP4 (after edit lists) and ADTS already start at zero.
    let mut buffered: Vec<Packet> = Vec::new();
    let mut problem: Option<String> = None;
    let mut origin = 0i64;
    if format == Format::Ts {
        let mut first_v: Option<i64> = None;
        let mut first_a: Option<i64> = None;
        while buffered.len() < 2000 && (first_v.is_none() && vdec.is_some() || first_a.is_none() && adec.is_some()) {
            match time.demux(|| dmx.next_packet()) {
                Ok(Some(p)) => {
                    packets.fetch_add(1, Ordering::Relaxed);
                    if Some(p.stream) == vidx && vdec.is_some() {
                        let t = rescale(p.pts, vtb, VIDEO_HZ);
                        first_v = Some(first_v.map_or(t, |v: i64| v.min(t)));
                    } else if Some(p.stream) == aidx && adec.is_some() {
                        let t = rescale(p.pts, atb, VIDEO_HZ);
                        first_a = Some(first_a.map_or(t, |v: i64| v.min(t)));
                    }
                    buffered.push(p);
                }
                Ok(None) => break,
                Err(e) => {
                    problem = Some(format!("damaged: {}", describe(&e)));
                    break;
                }
            }
        }
        // B-frames: the earliest pts may come a few packets after the first.
        for p in &buffered {
            if Some(p.stream) == vidx {
                let t = rescale(p.pts, vtb, VIDEO_HZ);
                first_v = Some(first_v.map_or(t, |v: i64| v.min(t)));
            }
        }
        origin = match (first_v, first_a) {
            (Some(v), Some(a)) => v.min(a),
            (Some(v), None) => v,
            (None, Some(a)) => a,
            (None, None) => 0,
        };
    }

    // A large offset: start reading shortly before it instead of decoding (and scaling)
    // everything it skips. The demuxer resumes video at the sync sample the picture at the
    // target needs and audio a few frames early; what precedes the offset is dropped by the
    // scheduler exactly as when reading from the start.
    let mut min_out = 0;
    let mut grid = None;
    if how.seek && offset > SEEK_MIN_OFFSET && problem.is_none() {
        // Where a read from the start lays its audio (resampler phase, see ClipAudio::grid).
        let first_audio = match (&aus, adec.is_some()) {
            (Some(info), true) => first_audio_frame(&mut *dmx, &mut buffered, info, &mut problem, packets),
            _ => None,
        };
        let target = origin + offset - SEEK_MARGIN;
        if problem.is_none() && dmx.seek(target, VIDEO_HZ) {
            how.counters.seeks.fetch_add(1, Ordering::Relaxed);
            buffered.clear();
            min_out = rescale(offset - SEEK_MARGIN, VIDEO_HZ, fmt.sample_rate);
            grid = first_audio.map(|(pts, rate)| (pts - rescale(origin, VIDEO_HZ, rate), rate));
        }
    }

    let mut audio = ClipAudio {
        out_rate: fmt.sample_rate,
        out_ch: fmt.channels,
        res: None,
        next_in: 0,
        out_pos: 0,
        seg_in: 0,
        end_out: a_end,
        min_out,
        grid,
    };
    let mut vframes: Vec<VideoFrame> = Vec::new();
    let mut aframes: Vec<AudioFrame> = Vec::new();
    let send_video = |frames: &mut Vec<VideoFrame>, produced: &mut u64| -> bool {
        for f in frames.drain(..) {
            let pts = f.pts - origin;
            if v_end.is_some_and(|e| f.pts >= e) {
                continue;
            }
            let picture = crate::compose::scale::fit(&f.picture, fmt.width, fmt.height);
            *produced += 1;
            if tx.send(ClipEvent::Video(VideoFrame { pts, picture })).is_err() {
                return false;
            }
        }
        true
    };
    let mut queue = buffered.into_iter();
    loop {
        let pkt = match queue.next() {
            Some(p) => p,
            None => {
                if problem.is_some() {
                    break;
                }
                match time.demux(|| dmx.next_packet()) {
                    Ok(Some(p)) => {
                        packets.fetch_add(1, Ordering::Relaxed);
                        p
                    }
                    Ok(None) => break,
                    Err(e) => {
                        problem = Some(format!("damaged: {}", describe(&e)));
                        break;
                    }
                }
            }
        };
        if Some(pkt.stream) == vidx {
            if let Some(d) = vdec.as_mut() {
                if let Err(e) = d.decode(&pkt, &mut vframes) {
                    problem.get_or_insert(format!("video decoding stopped: {e}"));
                    vdec = None;
                }
                if !send_video(&mut vframes, &mut time.frames) {
                    return;
                }
            }
        } else if Some(pkt.stream) == aidx {
            if let Some(d) = adec.as_mut() {
                if let Err(e) = d.decode(&pkt, &mut aframes) {
                    problem.get_or_insert(format!("audio decoding stopped: {e}"));
                    adec = None;
                }
                for f in aframes.drain(..) {
                    time.frames += 1;
                    if !audio.push(f, origin, tx) {
                        return;
                    }
                }
            }
        }
    }
    let mut errors = 0;
    if let Some(d) = vdec.as_mut() {
        let _ = d.flush(&mut vframes);
        errors += d.errors();
        if !send_video(&mut vframes, &mut time.frames) {
            return;
        }
    }
    if let Some(d) = adec.as_mut() {
        let _ = d.flush(&mut aframes);
        errors += d.errors();
        for f in aframes.drain(..) {
            if !audio.push(f, origin, tx) {
                return;
            }
        }
    }
    audio.finish(tx);
    if errors > 0 && problem.is_none() {
        problem = Some(format!("{errors} damaged access unit(s) skipped"));
    }
    let fatal = time.frames == 0;
    let problem = match (problem, fatal) {
        (None, true) => Some("no decodable audio or video".to_string()),
        (p, _) => p,
    };
    let _ = tx.send(ClipEvent::End { problem, fatal });
}

#[cfg(test)]
#[path = "tests/pipeline_stdout.rs"]
mod stdout_tests;
