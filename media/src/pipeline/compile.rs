//! `compile`: the wiring of the stages, threads and bounded queues (see the diagram in
//! [`super`]). Nothing here looks inside a container or a codec.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use crossbeam_channel::{bounded, select, Receiver, Sender};

use super::program::{Look, Program};
use super::reader::{spawn_reader, ReadCounters, ReadOptions};
use super::{CompileOptions, CompileReport, Progress, EXPORT_AUDIO_RATE, STDOUT_NAME};
use crate::decode::resample::Resampler;
use crate::encode::{AacEncoder, ChunkEncoder, EncodedChunk, H264Settings, VideoChunk};
use crate::frame::Picture;
use crate::mux::wav::WavWriter;
use crate::mux::Muxer;
use crate::packet::{Codec, MediaKind, Packet, StreamInfo};
use crate::stats::{Collector, Span, Stage};
use crate::time::{rescale, Samples, Ticks90k, VIDEO_HZ};
use crate::timeline::{ClipEvent, ClipOpener, ClipOutcome, ClipSpec, ClipStatus, Flow, OutputFormat, SlideSpec};
use crate::{Error, Result};

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

/// What the mux loop wrote.
struct Muxed {
    frames: u64,
    audio_samples: u64,
    /// Frames the encoder wrote as skip frames (repeats).
    skipped_frames: u64,
}

/// What the timeline thread made of the flow.
struct Timelined {
    clips: Vec<ClipOutcome>,
    /// Composite only: (frames drawn, frames that reused the previous canvas).
    composite_frames: Option<(u64, u64)>,
    slide_problems: Vec<String>,
}

/// The queues between the threads of one compile.
struct Queues {
    chunk_tx: Sender<VideoChunk>,
    chunk_rx: Receiver<VideoChunk>,
    enc_tx: Sender<Result<EncodedChunk>>,
    enc_rx: Receiver<Result<EncodedChunk>>,
    aud_tx: Sender<Vec<Packet>>,
    aud_rx: Receiver<Vec<Packet>>,
}

impl Queues {
    fn new(threads: usize) -> Queues {
        // Rendezvous: a chunk is handed over (and only then produced) when a worker is free,
        // so at most `threads` chunks are in flight, each at most one GOP of pictures.
        let (chunk_tx, chunk_rx) = bounded::<VideoChunk>(0);
        let (enc_tx, enc_rx) = bounded::<Result<EncodedChunk>>(threads + 1);
        let (aud_tx, aud_rx) = bounded::<Vec<Packet>>(64);
        Queues { chunk_tx, chunk_rx, enc_tx, enc_rx, aud_tx, aud_rx }
    }
}

/// [`compile`], the container going to `stream` (named [`STDOUT_NAME`]) when it is given.
pub(super) fn compile_to(
    flow: &Flow,
    opts: &CompileOptions,
    stream: Option<Box<dyn std::io::Write + Send>>,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<CompileReport> {
    let to_file = stream.is_none();
    let t0 = Instant::now();
    opts.validate()?;
    let (fmt, settings) = formats(opts);
    let threads = opts.threads.max(1);
    let stats = Arc::new(Collector::default());
    let encoder = ChunkEncoder::new(settings, threads)?.with_stats(stats.clone());
    let aac = AacEncoder::new(opts.sample_rate, opts.channels, opts.audio_bitrate)?;
    let mut muxer = open_muxer(opts, stream, &aac)?;
    let q = Queues::new(threads);
    let cancel_flag = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(ReadCounters::default());
    let reading =
        ReadOptions { seek: opts.seek_clips, counters: counters.clone(), stats: stats.clone(), decoder: opts.decoder };
    let wav = wav_tap(opts)?;
    // The mixed audio of each output frame, to the AAC encoder's thread.
    let (pcm_tx, pcm_rx) = bounded::<Vec<f32>>(64);
    let out = TimelineOut { gop: settings.gop, chunk_tx: q.chunk_tx, pcm_tx, wav };
    let job = (flow.clone(), opts.clone(), fmt, reading, cancel_flag.clone(), stats.clone());
    let timeline = spawn("timeline", move || run_timeline(job, out))?;
    let (aud_tx, aac_stats) = (q.aud_tx, stats.clone());
    let audio_encoder = spawn("aac", move || encode_audio(aac, pcm_rx, aud_tx, &aac_stats))?;
    let (chunk_rx, enc_tx) = (q.chunk_rx, q.enc_tx);
    let encoder_thread = spawn("encoder", move || encoder.run(chunk_rx, enc_tx))?;

    // Mux on this thread: chunks in index order, audio interleaved by time.
    let mux_worker = stats.enter(Stage::Mux);
    let mux_span = Span::start();
    let queues = (q.enc_rx, q.aud_rx);
    let result = mux_loop(&mut muxer, queues, &settings, opts.sample_rate, progress, (cancel, &cancel_flag), t0);
    if result.is_err() {
        cancel_flag.store(true, Ordering::Relaxed);
    }
    let _ = encoder_thread.join();
    // A panicked thread is an error like any other: it goes through the cleanup below.
    let made = timeline.join().unwrap_or_else(|_| Err(Error::Encode("the timeline thread panicked".into())));
    let audio_done =
        audio_encoder.join().unwrap_or_else(|_| Err(Error::Encode("the audio encoder thread panicked".into())));
    // The encoder's own error first: the timeline then only saw its queue close.
    let made = audio_done.and(made);
    let (muxed, made) = match result.and_then(|r| made.map(|s| (r, s))).and_then(|(r, s)| usable(s).map(|s| (r, s))) {
        Ok(v) => v,
        Err(e) => {
            drop(muxer); // the MP4 writer removes its temporary files on drop
            if to_file {
                let _ = std::fs::remove_file(crate::mux::part_path(&opts.output));
            }
            return Err(e);
        }
    };
    let bytes = muxer.finish()?;
    stats.add_span(Stage::Mux, mux_span);
    stats.add_items(Stage::Mux, muxed.frames);
    stats.add_bytes(Stage::Mux, bytes);
    stats.add_items(Stage::Demux, counters.packets.load(Ordering::Relaxed));
    drop(mux_worker);
    Ok(CompileReport {
        frames: muxed.frames,
        audio_samples: Samples(muxed.audio_samples),
        duration_secs: muxed.frames as f64 * opts.fps_den as f64 / opts.fps_num as f64,
        bytes,
        clips: made.clips,
        elapsed_secs: t0.elapsed().as_secs_f64(),
        composite_frames: made.composite_frames,
        slide_problems: made.slide_problems,
        skipped_frames: muxed.skipped_frames,
        packets_read: counters.packets.load(Ordering::Relaxed),
        clips_seeked: counters.seeks.load(Ordering::Relaxed),
        stages: stats.snapshot(),
    })
}

/// Start a thread named `name`.
fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| Error::Encode(format!("cannot start the {name} thread: {e}")))
}

/// The output format and the H.264 settings of checked options
/// ([`CompileOptions::validate`]).
fn formats(opts: &CompileOptions) -> (OutputFormat, H264Settings) {
    let (w, h) = (opts.width, opts.height);
    let fmt = OutputFormat {
        width: w,
        height: h,
        fps_num: opts.fps_num,
        fps_den: opts.fps_den,
        sample_rate: opts.sample_rate,
        channels: opts.channels,
    };
    let gop = ((opts.gop_secs.max(1) as u64 * opts.fps_num as u64) / opts.fps_den as u64).max(1) as u32;
    let bitrate = opts.video_bitrate.unwrap_or_else(|| H264Settings::default_bitrate(w, h, opts.fps_num, opts.fps_den));
    let settings = H264Settings::new(w, h, opts.fps_num, opts.fps_den).with_bitrate(bitrate).with_gop(gop);
    (fmt, settings)
}

/// The muxer for the output (a file, or `stream`), with its video and audio streams.
fn open_muxer(
    opts: &CompileOptions,
    stream: Option<Box<dyn std::io::Write + Send>>,
    aac: &AacEncoder,
) -> Result<Muxer> {
    let mut vinfo = StreamInfo::new(0, MediaKind::Video, Codec::H264, VIDEO_HZ);
    vinfo.width = opts.width;
    vinfo.height = opts.height;
    let mut ainfo = StreamInfo::new(1, MediaKind::Audio, Codec::Aac, opts.sample_rate);
    ainfo.sample_rate = opts.sample_rate;
    ainfo.channels = opts.channels;
    ainfo.config = Bytes::from(aac.config.clone());
    let to_file = stream.is_none();
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
    Ok(muxer)
}

/// Nothing usable is a failure, not a black file: no clip was used (all skipped, or none
/// inside the compiled window).
fn usable(made: Timelined) -> Result<Timelined> {
    if made.clips.iter().any(|c| matches!(c.status, ClipStatus::Used | ClipStatus::Damaged(_))) {
        return Ok(made);
    }
    let why: Vec<String> = made
        .clips
        .iter()
        .filter_map(|c| match &c.status {
            ClipStatus::Skipped(w) if c.spec.remote.is_some() => Some(format!("{}: {w}", c.spec.url)),
            ClipStatus::Skipped(w) => Some(format!("{}: {w}", c.spec.path.display())),
            _ => None,
        })
        .collect();
    Err(Error::NoMedia(if why.is_empty() {
        ": no clip lies inside the compiled part of the timeline".to_string()
    } else {
        format!(": no clip could be used ({})", why.join("; "))
    }))
}

/// The mixed audio as 16 kHz mono WAV (`--export audio`): writer, resampler, samples in.
type WavTap = (WavWriter, Resampler, u64);

fn wav_tap(opts: &CompileOptions) -> Result<Option<WavTap>> {
    Ok(match &opts.export_audio {
        Some(p) => Some((
            WavWriter::create(p, EXPORT_AUDIO_RATE, 1)?,
            Resampler::new(opts.sample_rate, EXPORT_AUDIO_RATE, 1),
            0,
        )),
        None => None,
    })
}

/// Where the timeline thread's output goes.
struct TimelineOut {
    gop: u32,
    chunk_tx: Sender<VideoChunk>,
    pcm_tx: Sender<Vec<f32>>,
    wav: Option<WavTap>,
}

/// What the timeline thread needs: the flow, the options, the output format, how readers
/// read, the cancel flag and the statistics.
type TimelineJob = (Flow, CompileOptions, OutputFormat, ReadOptions, Arc<AtomicBool>, Arc<Collector>);

/// The timeline thread: timeline, mix and compose per output frame ([`Program`]); pictures
/// to the encoder in GOP chunks, audio to the AAC encoder's thread and the WAV tap.
fn run_timeline((flow, opts, fmt, reading, cancel, stats): TimelineJob, out: TimelineOut) -> Result<Timelined> {
    // Compose: this thread's time (timeline, mix and compose).
    let _worker = stats.enter(Stage::Compose);
    let span = Span::start();
    let mut program = program(&flow, &opts, fmt, reading);
    let mut video = ChunkFeeder { gop: out.gop, tx: out.chunk_tx, cur: None, in_chunk: 0, index: 0 };
    let ch_out = (opts.channels as usize).max(1);
    let mut audio = AudioOut { tx: out.pcm_tx, wav: out.wav, ch_out };
    let mut frames_made = 0u64;
    while let Some(f) = program.next() {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        video.push(f.index, f.picture)?;
        frames_made += 1;
        audio.push(f.audio)?;
    }
    drop(video);
    audio.finish()?;
    stats.add_span(Stage::Compose, span);
    stats.add_items(Stage::Compose, frames_made);
    Ok(Timelined {
        clips: program.outcomes().to_vec(),
        composite_frames: program.compose_stats(),
        slide_problems: program.slide_problems().to_vec(),
    })
}

/// The stages of the timeline thread for `flow`: clips opened by reader threads, the look
/// from the options, slides read through the clip waiter.
fn program(flow: &Flow, opts: &CompileOptions, fmt: OutputFormat, reading: ReadOptions) -> Program {
    let waiter = opts.wait_for_clip.clone();
    let opener: ClipOpener = Box::new(move |spec: &ClipSpec| match &spec.remote {
        // A url the application did not download: skipped with the reason.
        Some(r) => {
            let (tx, rx) = bounded(1);
            let _ = tx.send(ClipEvent::End { problem: Some(r.reason(&spec.url)), fatal: true });
            rx
        }
        None => spawn_reader(spec.path.clone(), spec.offset.ticks(), fmt, waiter.clone(), reading.clone()),
    });
    let slides = (!flow.slides.is_empty()).then(|| {
        let wait = opts.wait_for_clip.clone();
        let load: crate::compose::SlideLoader = Box::new(move |spec: &SlideSpec| {
            if let Some(r) = &spec.remote {
                return Err(r.reason(&spec.url));
            }
            let path = match &wait {
                Some(w) => w(&spec.path)?,
                None => spec.path.clone(),
            };
            std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
        });
        (flow.slides.clone(), load)
    });
    let look = Look {
        layout: opts.layout,
        normalize: opts.normalize,
        hide_silent: opts.hide_silent,
        switch_hold: opts.switch_hold.ticks(),
        on_layout: opts.on_layout.clone(),
        chat: opts.chat_panel.then(|| flow.chat.clone()),
        slides,
    };
    let cut = (flow.duration.map(Ticks90k::ticks), opts.start.ticks(), opts.max_duration.map(Ticks90k::ticks));
    Program::new(fmt, flow.clips.clone(), cut, opener, look)
}

/// Pictures to the encoder workers, one GOP per chunk.
struct ChunkFeeder {
    gop: u32,
    tx: Sender<VideoChunk>,
    /// The chunk being produced: its pictures go straight to the worker encoding it.
    cur: Option<Sender<Arc<Picture>>>,
    in_chunk: u32,
    index: u64,
}

impl ChunkFeeder {
    fn push(&mut self, frame: u64, picture: Arc<Picture>) -> Result<()> {
        let tx = match &self.cur {
            Some(tx) => tx,
            None => {
                // Blocks until a worker is free (rendezvous).
                let (tx, rx) = bounded(self.gop as usize);
                if self.tx.send(VideoChunk { index: self.index, first_frame: frame, pictures: rx }).is_err() {
                    return Err(Error::Cancelled);
                }
                self.index += 1;
                self.in_chunk = 0;
                self.cur.insert(tx)
            }
        };
        if tx.send(picture).is_err() {
            return Err(Error::Cancelled); // the worker failed; its error reaches the muxer
        }
        self.in_chunk += 1;
        if self.in_chunk == self.gop {
            self.cur = None;
        }
        Ok(())
    }
}

/// The mixed audio to the AAC encoder's thread and the WAV tap.
struct AudioOut {
    tx: Sender<Vec<f32>>,
    wav: Option<WavTap>,
    ch_out: usize,
}

impl AudioOut {
    fn push(&mut self, audio: Vec<f32>) -> Result<()> {
        if let Some((w, r, n)) = self.wav.as_mut() {
            let ch = self.ch_out;
            let mono: Vec<f32> = audio.chunks(ch).map(|c| c.iter().sum::<f32>() / ch as f32).collect();
            *n += mono.len() as u64;
            w.write(&r.process(&mono))?;
        }
        // The encoder thread failed: its error ends the compile.
        self.tx.send(audio).map_err(|_| Error::Cancelled)
    }

    fn finish(mut self) -> Result<()> {
        if let Some((mut w, mut r, n)) = self.wav.take() {
            w.write(&r.finish(n))?;
            w.finish()?;
        }
        Ok(())
    }
}

/// The audio encoder's thread (encode stage): each output frame's mixed audio into AAC
/// packets for the muxer, until the timeline closes its queue.
fn encode_audio(mut aac: AacEncoder, rx: Receiver<Vec<f32>>, tx: Sender<Vec<Packet>>, stats: &Collector) -> Result<()> {
    let mut packets = Vec::new();
    let (mut cpu, mut wall) = (0u64, 0u64);
    for audio in rx {
        let a = Span::start();
        aac.push(&audio, &mut packets)?;
        let (c, w) = a.elapsed();
        (cpu, wall) = (cpu + c, wall + w);
        if !packets.is_empty() && tx.send(std::mem::take(&mut packets)).is_err() {
            return Err(Error::Cancelled);
        }
    }
    stats.time(Stage::Encode, || aac.finish(&mut packets))?;
    stats.add(Stage::Encode, cpu, wall);
    if !packets.is_empty() {
        let _ = tx.send(packets);
    }
    Ok(())
}

/// Writes encoded chunks in index order and the audio packets interleaved by time.
struct Interleaver<'m> {
    muxer: &'m mut Muxer,
    sample_rate: u32,
    /// Chunks that arrived ahead of their turn, the next chunk and packet to write.
    pending: BTreeMap<u64, EncodedChunk>,
    next_chunk: u64,
    next_packet: usize,
    /// Audio packets received, and the time (90 kHz) up to which audio has arrived.
    audio: VecDeque<Packet>,
    audio_until: i64,
    /// Audio packets before this pts are encoder priming the container cannot hide.
    drop_priming_before: Option<i64>,
    done: Muxed,
}

impl Interleaver<'_> {
    fn add_audio(&mut self, pkts: Vec<Packet>) {
        if let Some(l) = pkts.last() {
            self.audio_until = rescale(l.pts + l.duration, self.sample_rate, VIDEO_HZ);
        }
        self.audio.extend(pkts)
    }

    /// Audio packets up to `t90` (all of them: `None`).
    fn write_audio_until(&mut self, t90: Option<i64>) -> Result<()> {
        while let Some(p) = self.audio.front() {
            if t90.is_some_and(|t| rescale(p.dts, self.sample_rate, VIDEO_HZ) > t) {
                break;
            }
            let mut p = self.audio.pop_front().unwrap_or_else(|| unreachable!());
            p.stream = 1;
            // Without an edit list (MPEG-TS): keep one frame of encoder priming (the MDCT
            // overlap the first real frame needs) and drop the rest, so the audio stream
            // does not outlast the timeline by more than a frame.
            if self.drop_priming_before.is_some_and(|lim| p.pts < lim) {
                continue;
            }
            self.done.audio_samples += p.duration.max(0) as u64;
            self.muxer.write(&p)?;
        }
        Ok(())
    }

    /// Write what can be written deterministically: a video packet only once the audio up
    /// to its time has arrived (or the audio has ended), so the file's layout does not
    /// depend on thread timing.
    fn write_ready(&mut self, audio_open: bool) -> Result<()> {
        while let Some(c) = self.pending.remove(&self.next_chunk) {
            while self.next_packet < c.packets.len() {
                let dts = c.packets[self.next_packet].dts;
                if audio_open && self.audio_until <= dts {
                    self.pending.insert(c.index, c);
                    return Ok(());
                }
                self.write_audio_until(Some(dts))?;
                self.muxer.write(&c.packets[self.next_packet])?;
                self.next_packet += 1;
                self.done.frames += 1;
            }
            self.done.skipped_frames += c.skipped;
            self.next_chunk += 1;
            self.next_packet = 0;
        }
        Ok(())
    }
}

/// The progress report after `frames` frames.
fn progress_at(frames: u64, done: bool, settings: &H264Settings, t0: Instant) -> Progress {
    Progress {
        frames_done: frames,
        frames_total: done.then_some(frames),
        media_secs: settings.frame_pts(frames).secs_f64(),
        elapsed_secs: t0.elapsed().as_secs_f64(),
    }
}

/// The mux thread (the caller's): encoded chunks and audio packets into the muxer until
/// both queues close. `cancel`: the caller's flag, and the one that stops the other threads.
fn mux_loop(
    muxer: &mut Muxer,
    (enc_rx, aud_rx): (Receiver<Result<EncodedChunk>>, Receiver<Vec<Packet>>),
    settings: &H264Settings,
    sample_rate: u32,
    progress: &mut dyn FnMut(&Progress),
    (cancel, cancel_flag): (&AtomicBool, &AtomicBool),
    t0: Instant,
) -> Result<Muxed> {
    let drop_priming_before = (!muxer.keeps_priming()).then_some(-(crate::codec::aac::FRAME_SAMPLES as i64));
    let mut m = Interleaver {
        muxer,
        sample_rate,
        pending: BTreeMap::new(),
        next_chunk: 0,
        next_packet: 0,
        audio: VecDeque::new(),
        audio_until: i64::MIN,
        drop_priming_before,
        done: Muxed { frames: 0, audio_samples: 0, skipped_frames: 0 },
    };
    let (mut enc_open, mut aud_open) = (true, true);
    let mut last_report = Instant::now();
    let (never_enc, never_aud) = (crossbeam_channel::never(), crossbeam_channel::never());
    while enc_open || aud_open {
        if cancel.load(Ordering::Relaxed) {
            cancel_flag.store(true, Ordering::Relaxed);
            return Err(Error::Cancelled);
        }
        select! {
            recv(if enc_open { &enc_rx } else { &never_enc }) -> c => match c {
                Ok(chunk) => { let c = chunk?; m.pending.insert(c.index, c); }
                Err(_) => enc_open = false,
            },
            recv(if aud_open { &aud_rx } else { &never_aud }) -> p => match p {
                Ok(pkts) => m.add_audio(pkts),
                Err(_) => aud_open = false,
            },
            default(std::time::Duration::from_millis(100)) => {}
        }
        m.write_ready(aud_open)?;
        if last_report.elapsed().as_millis() >= 100 {
            last_report = Instant::now();
            progress(&progress_at(m.done.frames, false, settings, t0));
        }
    }
    if !m.pending.is_empty() {
        return Err(Error::Encode(format!("encoded chunk {} never arrived", m.next_chunk)));
    }
    m.write_audio_until(None)?;
    progress(&progress_at(m.done.frames, true, settings, t0));
    Ok(m.done)
}
