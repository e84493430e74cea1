//! `stitch compile`: flow JSON -> one MP4 or MPEG-TS.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use media::pipeline::{compile, CompileOptions, CompileReport};
use media::time::{hms, rescale_ceil, Ticks90k, VIDEO_HZ};
use media::timeline::{ClipStatus, Flow};
use media::Container;

use crate::exit::UsageError;
use crate::outpath;
use crate::progress::Bar;

/// Options of `stitch compile`, as parsed from the command line.
#[derive(Clone, Debug)]
pub struct CompileArgs {
    pub flow: PathBuf,
    pub output: PathBuf,
    pub format: Option<Container>,
    pub size: Option<(u32, u32)>,
    pub fps: Option<(u32, u32)>,
    pub start: Option<f64>,
    pub max_duration: Option<f64>,
    pub threads: Option<usize>,
    /// Webinar composite layout; `None`: one layer.
    pub layout: Option<media::compose::layout::LayoutKind>,
    /// Extra outputs beside the main one.
    pub export: Exports,
    /// Composite: no tile for black, silent cameras.
    pub hide_silent: bool,
    /// Composite: the chat in a side panel.
    pub chat_panel: bool,
    /// Loudness normalisation of the mix.
    pub normalize: bool,
    /// Composite (sidebar, pip): `--switch-hold` seconds; `None`: the default (2 s).
    pub switch_hold: Option<f64>,
    /// `--decoder`: which library decodes H.264.
    pub decoder: media::decode::DecoderChoice,
    pub quiet: bool,
    /// `--force`/`-y`: replace existing outputs.
    pub force: bool,
    /// Keep the downloaded http(s) clips (`<stem>.clips/`) after a successful compile.
    pub keep_files: bool,
    /// `--proxy`, `--limit-rate` for http(s) clips.
    pub net: crate::net::NetOptions,
}

/// `--export sources,audio`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exports {
    /// Every camera / screen share / voice as its own file on the common timeline.
    pub sources: bool,
    /// The mixed audio as `<stem>.audio.wav`, 16 kHz mono.
    pub audio: bool,
}

/// A command-line value of `compile`/`webinar` that cannot be used (`--export`, `--size`,
/// `--fps`, `--decoder`, `--switch-hold`): what was given and what is accepted.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ArgError {
    #[error("unknown export '{0}' (choose: sources, audio)")]
    UnknownExport(String),
    #[error("'{0}' is not WxH (example: 1280x720)")]
    NotSize(String),
    #[error("bad width in '{0}'")]
    Width(String),
    #[error("bad height in '{0}'")]
    Height(String),
    #[error("size {0}x{1} must be even, from 16x16 up to 3840x2160")]
    SizeRange(u32, u32),
    /// A `N/D` rate with a part that is not a number.
    #[error("bad frame rate '{0}'")]
    Ratio(String),
    #[error("bad frame rate '{0}' (examples: 25, 30000/1001)")]
    Fps(String),
    #[error("frame rate {0} is out of range: it must be above 0 and at most 120 frames per second")]
    FpsRange(String),
    /// Not a decoder name (the message of [`media::decode::DecoderChoice`]'s parser).
    #[error("{0}")]
    Decoder(String),
    #[error(
        "'{0}' (libavcodec) is not in this build of stitch: it was built without the `ffmpeg` feature \
         (cargo build --features ffmpeg); use auto or openh264"
    )]
    DecoderMissing(media::decode::DecoderChoice),
    #[error("'{0}' is not a hold in seconds from 0 to 3600")]
    SwitchHold(String),
}

/// Parse `--export` values: `sources`, `audio`, comma-separated.
pub fn parse_exports(s: &str) -> std::result::Result<Exports, ArgError> {
    let mut e = Exports::default();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "sources" => e.sources = true,
            "audio" => e.audio = true,
            other => return Err(ArgError::UnknownExport(other.into())),
        }
    }
    Ok(e)
}

impl Exports {
    pub fn merge(self, o: Exports) -> Exports {
        Exports { sources: self.sources || o.sources, audio: self.audio || o.audio }
    }
}

/// `<dir>/<stem>.audio.wav` for `--export audio`.
pub fn audio_export_path(output: &Path) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    output.with_file_name(format!("{stem}.audio.wav"))
}

/// `--export sources`: the groups of clips, one per participant and kind (camera, screen
/// share, voice), in order of first appearance, labelled `<kind>-<name>`.
pub fn source_groups(flow: &Flow) -> Vec<(String, Vec<media::timeline::ClipSpec>)> {
    use media::timeline::SourceKind;
    let mut groups: Vec<(String, Vec<media::timeline::ClipSpec>)> = Vec::new();
    for c in &flow.clips {
        let kind = match c.source.kind {
            SourceKind::Screen => "screen",
            SourceKind::AudioOnly => "voice",
            // Camera, Unknown, and any kind a later `media` adds: shown like a camera.
            _ => "camera",
        };
        let who = c
            .source
            .name
            .clone()
            .or_else(|| c.source.participant.clone())
            .unwrap_or_else(|| format!("clip{}", c.index));
        let label = format!("{kind}-{}", crate::mtslink::api::safe_file_stem(&who));
        match groups.iter_mut().find(|g| g.0 == label) {
            Some(g) => g.1.push(c.clone()),
            None => groups.push((label, vec![c.clone()])),
        }
    }
    groups
}

/// Where `--export sources` writes the group `label`: `<stem>.<label>.<ext>` beside `output`.
pub fn source_export_path(output: &Path, label: &str) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let ext = output.extension().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "mp4".into());
    output.with_file_name(format!("{stem}.{label}.{ext}"))
}

/// Every file a compile of `flow` with these exports writes: the output first.
pub fn planned_outputs(flow: &Flow, output: &Path, export: Exports) -> Vec<PathBuf> {
    let mut v = vec![output.to_path_buf()];
    if export.audio {
        v.push(audio_export_path(output));
    }
    if export.sources {
        v.extend(source_groups(flow).iter().map(|(label, _)| source_export_path(output, label)));
    }
    v
}

/// The inputs of a flow that no output may be: the flow file, its clips and its slides.
pub fn flow_inputs<'a>(flow_path: &'a Path, flow: &'a Flow) -> Vec<(&'static str, &'a Path)> {
    let mut v = vec![("flow", flow_path)];
    // Remote clips and slides (not yet downloaded) have no path.
    v.extend(flow.clips.iter().filter(|c| c.remote.is_none()).map(|c| ("clip", c.path.as_path())));
    v.extend(flow.slides.iter().filter(|s| s.remote.is_none()).map(|s| ("slide", s.path.as_path())));
    v
}

/// `--export sources`: one single-layer file per participant and kind (camera, screen
/// share, voice) on the common timeline (same length as the main output; black and
/// silence where that source is absent), named `<stem>.<kind>-<name>.<ext>`. `base` gives
/// the canvas, encoder and cut settings (its layout and audio export are not used).
pub fn export_sources(flow: &Flow, base: &CompileOptions, cancel: &AtomicBool, quiet: bool) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (label, clips) in source_groups(flow) {
        let path = source_export_path(&base.output, &label);
        let f = Flow { name: label.clone(), duration: flow.duration, clips, slides: Vec::new(), chat: Vec::new() };
        let o = base.to_builder().output(&path).layout(None).export_audio(None).build()?;
        if !quiet {
            eprintln!("export: {}", path.display());
        }
        match compile(&f, &o, &mut |_| {}, cancel) {
            Ok(_) => files.push(path),
            // A participant who is not inside the compiled window has nothing to export.
            Err(media::Error::NoMedia(why)) if !quiet => eprintln!("export: {label} not written{why}"),
            Err(media::Error::NoMedia(_)) => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("exporting {label}"))),
        }
    }
    Ok(files)
}

/// Parse `WxH` (also `720p`/`1080p`).
pub fn parse_size(s: &str) -> std::result::Result<(u32, u32), ArgError> {
    let s = s.trim().to_ascii_lowercase();
    let (w, h) = match s.as_str() {
        "480p" => (854, 480),
        "720p" => (1280, 720),
        "1080p" => (1920, 1080),
        _ => {
            let (w, h) = s.split_once('x').ok_or_else(|| ArgError::NotSize(s.clone()))?;
            let w: u32 = w.parse().map_err(|_| ArgError::Width(s.clone()))?;
            let h: u32 = h.parse().map_err(|_| ArgError::Height(s.clone()))?;
            (w, h)
        }
    };
    if w < 16 || h < 16 || w > 3840 || h > 2160 || w % 2 != 0 || h % 2 != 0 {
        return Err(ArgError::SizeRange(w, h));
    }
    Ok((w, h))
}

/// Parse a frame rate: `25`, `29.97`, `30000/1001`.
pub fn parse_fps(s: &str) -> std::result::Result<(u32, u32), ArgError> {
    let s = s.trim();
    let (n, d) = if let Some((n, d)) = s.split_once('/') {
        (
            n.trim().parse::<u32>().map_err(|_| ArgError::Ratio(s.into()))?,
            d.trim().parse::<u32>().map_err(|_| ArgError::Ratio(s.into()))?,
        )
    } else {
        match s {
            "29.97" => (30000, 1001),
            "23.976" => (24000, 1001),
            "59.94" => (60000, 1001),
            _ => {
                let f: f64 = s.parse().map_err(|_| ArgError::Fps(s.into()))?;
                if f.fract() == 0.0 {
                    (f as u32, 1)
                } else {
                    ((f * 1000.0).round() as u32, 1000)
                }
            }
        }
    };
    if d == 0 || n == 0 || n as u64 > 120 * d as u64 {
        return Err(ArgError::FpsRange(s.into()));
    }
    Ok((n, d))
}

/// A `--start`/`--max-duration` value on the 90 kHz clock.
pub fn secs_arg(name: &str, v: Option<f64>) -> Result<Option<Ticks90k>, UsageError> {
    match v {
        None => Ok(None),
        Some(x) if !x.is_finite() || x < 0.0 => {
            Err(UsageError(format!("{name} must be a non-negative number of seconds, not {x}")))
        }
        Some(x) => Ok(Some(Ticks90k::from_secs_f64(x))),
    }
}

/// Parse `--decoder`: auto, openh264 or ffmpeg; `ffmpeg` only in a build that has it
/// (a usage error otherwise, exit 2).
pub fn parse_decoder(s: &str) -> std::result::Result<media::decode::DecoderChoice, ArgError> {
    let d: media::decode::DecoderChoice = s.parse().map_err(ArgError::Decoder)?;
    if !d.available() {
        return Err(ArgError::DecoderMissing(d));
    }
    Ok(d)
}

/// Parse `--switch-hold`: seconds, from 0 to 3600.
pub fn parse_switch_hold(s: &str) -> std::result::Result<f64, ArgError> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(ArgError::SwitchHold(s.into())),
    }
}

/// `--switch-hold` seconds on the 90 kHz clock (the default when not given).
pub fn switch_hold_ticks(v: Option<f64>) -> Ticks90k {
    match v {
        Some(s) => Ticks90k::from_secs_f64(s.clamp(0.0, 3600.0)),
        None => media::compose::main_area::DEFAULT_HOLD,
    }
}

/// Check the command line against the flow before anything is written: the container from
/// the output's name, outputs that would destroy an input or an existing file, numbers in
/// range. Returns the options for [`compile`].
pub fn prepare(args: &CompileArgs, flow: &Flow) -> Result<CompileOptions> {
    let kind = outpath::container_for(&args.output, args.format)?;
    args.net.validate()?;
    let to_stdout = outpath::is_stdout(&args.output);
    if to_stdout && (args.export.audio || args.export.sources) {
        return Err(UsageError("--export names its files after the output: give -o a file name, not -".into()).into());
    }
    if flow.clips.is_empty() {
        bail!("{}: the flow has no clips (no eventLogs entry with data.url)", args.flow.display());
    }
    let outputs = planned_outputs(flow, &args.output, args.export);
    let inputs = flow_inputs(&args.flow, flow);
    for o in &outputs {
        outpath::refuse_inputs(o, inputs.iter().copied())?;
        outpath::refuse_existing(o, args.force)?;
    }
    if args.threads == Some(0) {
        return Err(UsageError("--threads must be at least 1".into()).into());
    }
    let start = secs_arg("--start", args.start)?.unwrap_or_default();
    let max_duration = secs_arg("--max-duration", args.max_duration)?;
    if let (Some(d), true) = (flow.duration, start > Ticks90k::ZERO) {
        if start >= d {
            return Err(UsageError(format!(
                "--start {} is beyond the end of the timeline ({})",
                hms(start.secs_f64()),
                hms(d.secs_f64())
            ))
            .into());
        }
    }
    let mut b = CompileOptions::builder(&args.output)
        .container(kind)
        .to_stdout(to_stdout)
        .replace_existing(args.force)
        .layout(args.layout)
        .hide_silent(args.hide_silent)
        .chat_panel(args.chat_panel)
        .normalize(args.normalize)
        .switch_hold(switch_hold_ticks(args.switch_hold))
        .decoder(args.decoder)
        .export_audio(args.export.audio.then(|| audio_export_path(&args.output)))
        .start(start)
        .max_duration(max_duration);
    if let Some((w, h)) = args.size {
        b = b.size(w, h);
    }
    if let Some((n, d)) = args.fps {
        b = b.fps(n, d);
    }
    if let Some(t) = args.threads {
        b = b.threads(t);
    }
    // The arguments were checked above and by their parsers: an error here is a usage error.
    b.build().map_err(|e| UsageError(e.to_string()).into())
}

/// Output frames of a compile of `flow` with `opts` (for progress), when the flow's length
/// is known: its part from `start`, at most `max_duration`, in whole frames (rounded up).
pub fn total_frames(flow: &Flow, opts: &CompileOptions) -> Option<u64> {
    flow.duration.map(|d| {
        let mut len = (d - opts.start).ticks().max(0);
        if let Some(m) = opts.max_duration.map(Ticks90k::ticks) {
            len = len.min(m);
        }
        rescale_ceil(len * opts.fps_num as i64, VIDEO_HZ * opts.fps_den, 1) as u64
    })
}

/// What a successful `stitch compile` did.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub report: CompileReport,
    /// Every file written: the output first, then the exports.
    pub outputs: Vec<PathBuf>,
}

/// Run the command; returns the report for the caller to print.
pub fn run(args: &CompileArgs, cancel: Arc<AtomicBool>) -> Result<Compiled> {
    let mut flow = crate::mtslink::flow::load(&args.flow).map_err(anyhow::Error::new)?;
    let opts = prepare(args, &flow)?;
    let fetch_start = std::time::Instant::now();
    let remote = crate::remote::fetch_remote(
        &mut flow,
        &crate::remote::cache_dir_for(&args.output),
        crate::remote::DEFAULT_JOBS,
        &args.net,
        args.quiet,
        &cancel,
    )?;
    let fetch_wall = fetch_start.elapsed().as_secs_f64();
    tracing::info!(
        flow = %args.flow.display(),
        clips = flow.clips.len(),
        slides = flow.slides.len(),
        output = %args.output.display(),
        container = ?opts.kind,
        "compile"
    );
    for c in &flow.clips {
        tracing::debug!(index = c.index, path = %c.path.display(), start = c.start.ticks(), offset = c.offset.ticks(), "clip");
    }
    let total = total_frames(&flow, &opts);
    let fps = opts.fps_num as f64 / opts.fps_den as f64;
    let bar = Bar::new("compile", total, fps, args.quiet);
    let report = compile(&flow, &opts, &mut |p| bar.update(p.frames_done, p.elapsed_secs), &cancel)
        .map_err(anyhow::Error::new)
        .with_context(|| format!("compiling {} into {}", args.flow.display(), args.output.display()));
    bar.finish();
    let mut report = report?;
    if remote.urls > 0 {
        report.stages = crate::stats::with_download(
            report.stages,
            fetch_wall,
            remote.downloaded as u64,
            remote.bytes,
            crate::remote::DEFAULT_JOBS as u32,
            false,
        );
    }
    let mut outputs = vec![args.output.clone()];
    outputs.extend(opts.export_audio.clone());
    if args.export.sources {
        outputs.extend(export_sources(&flow, &opts, &cancel, args.quiet)?);
    }
    remote.finish(args.keep_files, args.quiet)?;
    Ok(Compiled { report, outputs })
}

/// The final summary: duration, clips used, clips damaged or skipped and why.
pub fn summary(report: &CompileReport, output: &Path) -> String {
    let mut s = String::new();
    let used = report.clips.iter().filter(|c| matches!(c.status, ClipStatus::Used | ClipStatus::Damaged(_))).count();
    let x = if report.elapsed_secs > 0.0 { report.duration_secs / report.elapsed_secs } else { 0.0 };
    s.push_str(&format!(
        "wrote {} ({:.1} MB): {} long, {} frames, {:.1}x realtime in {:.1} s\n",
        if outpath::is_stdout(output) { "standard output".into() } else { output.display().to_string() },
        report.bytes as f64 / 1e6,
        hms(report.duration_secs),
        report.frames,
        x,
        report.elapsed_secs
    ));
    s.push_str(&format!("clips: {} used of {}\n", used, report.clips.len()));
    if let Some((drawn, reused)) = report.composite_frames {
        s.push_str(&format!("composite: {drawn} frames drawn, {reused} unchanged (previous canvas reused)\n"));
    }
    if report.skipped_frames > 0 {
        s.push_str(&format!(
            "repeats: {} frames repeated the picture before them and were stored as skip frames (not encoded)\n",
            report.skipped_frames
        ));
    }
    for p in &report.slide_problems {
        s.push_str(&format!("  slide    {p}\n"));
    }
    for c in &report.clips {
        match &c.status {
            ClipStatus::Damaged(w) => {
                s.push_str(&format!("  damaged  {} (at {}): {w}\n", c.spec.url, hms(c.spec.start.secs_f64())))
            }
            ClipStatus::Skipped(w) => {
                s.push_str(&format!("  skipped  {} (at {}): {w}\n", c.spec.url, hms(c.spec.start.secs_f64())))
            }
            _ => {}
        }
        for n in &c.notes {
            s.push_str(&format!("  note     {}: {n}\n", c.spec.url));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value parsers' messages (clap prints them after "invalid value ... for ...").
    #[test]
    fn argument_errors_say_what_is_accepted() {
        let e = |r: std::result::Result<(u32, u32), ArgError>| r.unwrap_err().to_string();
        assert_eq!(e(parse_size("big")), "'big' is not WxH (example: 1280x720)");
        assert_eq!(e(parse_size("axb")), "bad width in 'axb'");
        assert_eq!(e(parse_size("64xb")), "bad height in '64xb'");
        assert_eq!(e(parse_size("17x9")), "size 17x9 must be even, from 16x16 up to 3840x2160");
        assert_eq!(parse_size("720P"), Ok((1280, 720)));
        assert_eq!(e(parse_fps("a/2")), "bad frame rate 'a/2'");
        assert_eq!(e(parse_fps("fast")), "bad frame rate 'fast' (examples: 25, 30000/1001)");
        assert_eq!(
            e(parse_fps("500")),
            "frame rate 500 is out of range: it must be above 0 and at most 120 frames per second"
        );
        assert_eq!(parse_fps("29.97"), Ok((30000, 1001)));
        assert_eq!(parse_exports("audio,x").unwrap_err().to_string(), "unknown export 'x' (choose: sources, audio)");
        assert_eq!(parse_switch_hold("-1").unwrap_err(), ArgError::SwitchHold("-1".into()));
        assert_eq!(parse_switch_hold("-1").unwrap_err().to_string(), "'-1' is not a hold in seconds from 0 to 3600");
        assert!(parse_decoder("x264").unwrap_err().to_string().contains("auto|openh264|ffmpeg"));
    }
}
