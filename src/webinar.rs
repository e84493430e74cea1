//! `stitch webinar`: MTS Link link(s) -> API -> plan (manifest.json) -> resumable parallel
//! download -> compile (starting while chunks are still downloading) -> one file per record.
//!
//! Job folder: `<output-dir>/<name>_<date>/` (date of the record's first event, UTC; the
//! session id when the record has none), holding `manifest.json`, `flow.json`, the chunks
//! and the final `<name>.mp4|ts`. The folder name depends only on the record, so re-running
//! the same command after any interruption finds it again: complete chunks are never
//! downloaded twice, partial ones resume (see [`crate::download`]).

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use anyhow::{anyhow, bail, Context, Result};
use media::pipeline::{compile, CompileOptions, CompileReport};
use media::time::{hms, Ticks90k};
use media::Container;

use crate::download::{DownloadError, DownloadEvent, DownloadItem, DownloadOptions, Downloader};
use crate::exit::UsageError;
use crate::mtslink::api::safe_file_stem;
use crate::mtslink::{build_plan, parse_link, ApiClient, ApiOptions, Link, Plan};

/// Options of `stitch webinar`.
#[derive(Clone, Debug, Default)]
pub struct WebinarArgs {
    pub links: Vec<String>,
    /// `-i links.txt`: one link per line, optional name after it.
    pub links_file: Option<PathBuf>,
    pub session_id: Option<String>,
    pub cookies: Option<PathBuf>,
    pub password: Option<String>,
    pub output_dir: PathBuf,
    pub jobs: usize,
    pub api_host: Option<String>,
    pub keep_files: bool,
    pub start: Option<f64>,
    pub max_duration: Option<f64>,
    pub format: Container,
    pub dry_run: bool,
    pub debug: bool,
    pub quiet: bool,
    pub size: Option<(u32, u32)>,
    /// Composite layout (`None`: one layer, the later clip wins).
    pub layout: Option<media::compose::layout::LayoutKind>,
    /// `--export sources,audio`.
    pub export: crate::compile::Exports,
    /// `--hide-silent`.
    pub hide_silent: bool,
    /// `--chat-panel`.
    pub chat_panel: bool,
    /// `--normalize`.
    pub normalize: bool,
    /// `--switch-hold` seconds (`None`: 2 s).
    pub switch_hold: Option<f64>,
    /// `--decoder`: which library decodes H.264.
    pub decoder: media::decode::DecoderChoice,
    pub threads: Option<usize>,
    /// `--force`: compile again a record whose final file exists.
    pub force: bool,
    /// `--proxy`, `--limit-rate`.
    pub net: crate::net::NetOptions,
}

/// One record's result, for the batch table.
#[derive(Debug)]
pub struct RecordResult {
    pub link: String,
    pub name: String,
    pub output: Option<PathBuf>,
    pub error: Option<String>,
    pub summary: Option<String>,
    /// The final file existed from an earlier run (nothing was done).
    pub already_done: bool,
    /// The compile's report, when this run compiled.
    pub report: Option<CompileReport>,
    /// Every file the compile wrote (the final file first, then exports).
    pub outputs: Vec<PathBuf>,
}

/// What [`run_record`] produced.
struct RecordDone {
    name: String,
    output: Option<PathBuf>,
    summary: Option<String>,
    already_done: bool,
    report: Option<CompileReport>,
    outputs: Vec<PathBuf>,
}

impl RecordDone {
    /// Nothing compiled: the final file was already there (`output`), or a dry run.
    fn not_compiled(name: String, output: Option<PathBuf>, summary: Option<String>) -> RecordDone {
        let outputs = output.iter().cloned().collect();
        RecordDone { name, already_done: output.is_some(), output, summary, report: None, outputs }
    }
}

impl RecordResult {
    fn failed(link: String, name: Option<String>, error: String) -> RecordResult {
        RecordResult {
            link,
            name: name.unwrap_or_default(),
            output: None,
            error: Some(error),
            summary: None,
            already_done: false,
            report: None,
            outputs: Vec::new(),
        }
    }
}

/// Read `-i links.txt`: `LINK [name...]` per line; blank lines and `#` comments skipped.
pub fn read_links_file(path: &Path) -> Result<Vec<(String, Option<String>)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((link, name)) => (link.to_string(), Some(name.trim().to_string()).filter(|n| !n.is_empty())),
            None => (l.to_string(), None),
        })
        .collect())
}

/// Interactive mode: ask for link, session id and output folder (validated).
pub fn ask_interactively(args: &mut WebinarArgs) -> Result<()> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut ask = |prompt: &str| -> Result<String> {
        eprint!("{prompt}");
        std::io::stderr().flush().ok();
        Ok(lines.next().transpose()?.unwrap_or_default().trim().to_string())
    };
    loop {
        let l = ask("Record link (e.g. https://my.mts-link.ru/12345/67890/record-new/111/record-file/222): ")?;
        if l.is_empty() {
            bail!("no link given");
        }
        match parse_link(&l) {
            Ok(_) => {
                args.links.push(l);
                break;
            }
            Err(e) => eprintln!("  {e}"),
        }
    }
    // The session id is a credential: not echoed.
    let sid = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("sessionId cookie for private records (hidden; Enter to skip): ")?.trim().to_string()
    } else {
        ask("sessionId cookie for private records (Enter to skip): ")?
    };
    if !sid.is_empty() {
        args.session_id = Some(sid);
    }
    let dir = ask(&format!("Output folder [{}]: ", args.output_dir.display()))?;
    if !dir.is_empty() {
        args.output_dir = PathBuf::from(dir);
    }
    Ok(())
}

/// Date (YYYY-MM-DD, UTC) of the earliest epoch `time` in the record's events.
fn record_date(record: &serde_json::Value) -> Option<String> {
    let t = record
        .get("eventLogs")?
        .as_array()?
        .iter()
        .filter_map(|e| e.get("time").and_then(|t| t.as_f64()))
        .filter(|t| *t > 1e8)
        .fold(f64::INFINITY, f64::min);
    if !t.is_finite() {
        return None;
    }
    let (y, m, d) = crate::record::events::civil_from_days((t / 86400.0).floor() as i64);
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// Why a chunk has no file to compile (cheap to clone: every reader waiting for it gets it).
#[derive(Clone, Debug, thiserror::Error)]
enum ChunkError {
    /// The download task ended without reporting the chunk.
    #[error("not downloaded")]
    NotDownloaded,
    #[error("stopped by the user")]
    Stopped,
    #[error("download failed: {0}")]
    Download(Arc<DownloadError>),
    /// The HLS twin was recorded but left no file.
    #[error("{}: its HLS twin {url} gave no file", chunk.display())]
    TwinEmpty { chunk: PathBuf, url: String },
    /// Both the chunk's download and its HLS twin failed.
    #[error("download failed: {download}; HLS twin {url}: {twin}")]
    TwinFailed { download: Arc<DownloadError>, url: String, twin: Arc<crate::record::RecordError> },
}

/// Tracks which chunk files are complete; compile reader threads wait on it.
#[derive(Default)]
struct Readiness {
    /// Chunk path -> the file to read (the chunk, or its HLS twin) or why there is none.
    state: Mutex<HashMap<PathBuf, std::result::Result<PathBuf, ChunkError>>>,
    cv: Condvar,
    /// Set when the download task ended: anything not reported by then never will be.
    finished: AtomicBool,
    /// Ctrl-C: stop waiting.
    cancel: Arc<AtomicBool>,
}

impl Readiness {
    fn set(&self, path: PathBuf, r: std::result::Result<PathBuf, ChunkError>) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).insert(path, r);
        self.cv.notify_all();
    }
    fn finish(&self) {
        self.finished.store(true, Ordering::SeqCst);
        let _g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.cv.notify_all();
    }
    fn wait(&self, path: &Path) -> std::result::Result<PathBuf, ChunkError> {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = g.get(path) {
                return r.clone();
            }
            if self.finished.load(Ordering::SeqCst) {
                return Err(ChunkError::NotDownloaded);
            }
            if self.cancel.load(Ordering::SeqCst) {
                return Err(ChunkError::Stopped);
            }
            g = self
                .cv
                .wait_timeout(g, std::time::Duration::from_millis(500))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

/// Process every link; returns one result per record (a failure does not stop the rest).
pub fn run(args: &WebinarArgs, cancel: Arc<AtomicBool>) -> Result<Vec<RecordResult>> {
    let mut inputs: Vec<(String, Option<String>)> = args.links.iter().map(|l| (l.clone(), None)).collect();
    if let Some(f) = &args.links_file {
        inputs.extend(read_links_file(f)?);
    }
    if inputs.is_empty() {
        return Err(UsageError(
            "no link given (pass a link, -i links.txt, or run on a terminal for interactive mode)".into(),
        )
        .into());
    }
    args.net.validate()?;
    if args.threads == Some(0) {
        return Err(UsageError("--threads must be at least 1".into()).into());
    }
    crate::compile::secs_arg("--start", args.start)?;
    crate::compile::secs_arg("--max-duration", args.max_duration)?;
    std::fs::create_dir_all(&args.output_dir).with_context(|| format!("creating {}", args.output_dir.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let api = ApiClient::new(ApiOptions {
        api_host: args.api_host.clone(),
        session_id: args.session_id.clone(),
        cookies_file: args.cookies.clone(),
        password: args.password.clone(),
        debug_dir: if args.debug { Some(args.output_dir.clone()) } else { None },
        net: args.net.clone(),
    })
    .map_err(|e| anyhow!("{e}"))?;
    if let (Some(w), false) = (api.cookies_warning(), args.quiet) {
        eprintln!("warning: {w}");
    }
    let mut results = Vec::new();
    for (text, name) in inputs {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        let link = match parse_link(&text) {
            Ok(l) => l,
            Err(e) => {
                results.push(RecordResult::failed(text, name.clone(), e.to_string()));
                continue;
            }
        };
        let records = match &link {
            Link::Event { .. } => match rt.block_on(api.records_of(&link)) {
                Ok(r) if !r.is_empty() => r,
                Ok(_) => {
                    results.push(RecordResult::failed(text, name.clone(), "the event has no recorded sessions".into()));
                    continue;
                }
                Err(e) => {
                    results.push(RecordResult::failed(text, name.clone(), e.to_string()));
                    continue;
                }
            },
            Link::Record { .. } => vec![link.clone()],
        };
        for rec in records {
            let r = run_record(&rt, &api, &rec, name.as_deref(), args, &cancel);
            let link_s = rec.to_string();
            results.push(match r {
                Ok(d) => RecordResult {
                    link: link_s,
                    name: d.name,
                    output: d.output,
                    error: None,
                    summary: d.summary,
                    already_done: d.already_done,
                    report: d.report,
                    outputs: d.outputs,
                },
                Err(e) => RecordResult::failed(link_s, name.clone(), crate::exit::message(&e)),
            });
        }
    }
    Ok(results)
}

fn run_record(
    rt: &tokio::runtime::Runtime,
    api: &ApiClient,
    link: &Link,
    name_override: Option<&str>,
    args: &WebinarArgs,
    cancel: &Arc<AtomicBool>,
) -> Result<RecordDone> {
    let Job { plan, stem, dir: job, output } = open_job(rt, api, link, name_override, args)?;
    if !args.dry_run && !args.force && output.exists() {
        let summary = format!("already done: {}\n", output.display());
        return Ok(RecordDone::not_compiled(plan.name.clone(), Some(output), Some(summary)));
    }
    write_job_files(&plan, &job, &stem)?;
    // The clips of the flow: a non-zero length, in timeline order.
    let clips = plan.flow_clips();
    if !args.quiet || args.dry_run {
        announce(&plan, &clips, &job);
    }
    if args.dry_run {
        return Ok(RecordDone::not_compiled(plan.name.clone(), None, None));
    }
    if clips.is_empty() {
        bail!("the record has no media chunks");
    }
    // The flow the compiler runs (chunk files in the job folder), and flow.json for the user.
    let flow = plan.to_flow(&job).map_err(anyhow::Error::new)?;
    write_flow_json(&plan, &job)?;
    let items = download_items(&plan, &clips, &job);
    let ready = Arc::new(Readiness { cancel: cancel.clone(), ..Default::default() });
    // Checked before any download starts.
    let opts = compile_options(args, &output, &ready)?;
    let downloads = start_downloads(rt, args, &items, twins_of(&items, &clips, &job), &ready)?;

    // Compile on this thread while the downloads run.
    let total = crate::compile::total_frames(&flow, &opts);
    let bar = crate::progress::Bar::new("webinar", total, opts.fps_num as f64 / opts.fps_den as f64, args.quiet);
    let status_r = downloads.status.clone();
    let report: media::Result<CompileReport> = compile(
        &flow,
        &opts,
        &mut |p| {
            bar.update(p.frames_done, p.elapsed_secs);
            bar.set_status(&status_r.lock().unwrap_or_else(|e| e.into_inner()));
        },
        cancel,
    );
    bar.finish();
    let (failed, download_stats) = downloads.wait(rt, cancel);
    let mut report = report.map_err(anyhow::Error::new).with_context(|| format!("compiling {}", plan.name))?;
    if let Some((secs, o)) = download_stats {
        let files = o.files_done.saturating_sub(o.files_cached) as u64;
        report.stages =
            crate::stats::with_download(report.stages, secs, files, o.bytes_done, args.jobs.max(1) as u32, true);
    }
    let mut outputs = vec![output.clone()];
    outputs.extend(opts.export_audio.clone());
    if args.export.sources && !cancel.load(Ordering::SeqCst) {
        outputs.extend(crate::compile::export_sources(&flow, &opts, cancel, args.quiet)?);
    }
    let summary = record_summary(&report, &output, &failed);
    if !args.keep_files && failed.is_empty() {
        remove_downloads(&items);
    }
    let (name, output) = (plan.name.clone(), Some(output));
    Ok(RecordDone { name, output, summary: Some(summary), already_done: false, report: Some(report), outputs })
}

/// The job folder with the plan (`manifest.json`) and the chat export.
fn write_job_files(plan: &Plan, job: &Path, stem: &str) -> Result<()> {
    std::fs::create_dir_all(job).with_context(|| format!("creating {}", job.display()))?;
    plan.write_manifest(job).with_context(|| format!("writing {}/manifest.json", job.display()))?;
    crate::mtslink::chat::export(&plan.chat, job, stem)
        .with_context(|| format!("writing {}/{stem}.chat.srt", job.display()))?;
    Ok(())
}

/// The downloaded chunks, slides and HLS twins (the output is complete without them).
fn remove_downloads(items: &[DownloadItem]) {
    for i in items {
        let _ = std::fs::remove_file(&i.dest);
        let _ = std::fs::remove_file(twin_path(&i.dest));
    }
}

/// A record's plan and where its files go.
struct Job {
    plan: Plan,
    /// File-name-safe webinar name.
    stem: String,
    /// The job folder, and the final file in it.
    dir: PathBuf,
    output: PathBuf,
}

/// Fetch the record of `link` and plan it: the job folder is `<name>_<date or session id>`.
fn open_job(
    rt: &tokio::runtime::Runtime,
    api: &ApiClient,
    link: &Link,
    name_override: Option<&str>,
    args: &WebinarArgs,
) -> Result<Job> {
    tracing::info!(link = %link, "fetching the record from the API");
    let (record, host) = rt.block_on(api.fetch_record(link)).map_err(|e| anyhow!("{e}"))?;
    tracing::debug!(?host, "record fetched");
    let mut plan: Plan = build_plan(&record).map_err(|e| anyhow!("{e}"))?;
    if let Some(n) = name_override {
        plan.name = n.to_string();
    }
    let stem = safe_file_stem(&plan.name);
    let sid = match link {
        Link::Record { session_id, .. } => session_id.clone(),
        Link::Event { event_id, .. } => event_id.clone(),
    };
    let dir = args.output_dir.join(format!("{stem}_{}", record_date(&record).unwrap_or(sid)));
    let output = dir.join(format!("{stem}.{}", args.format.ext()));
    if let Some(c) = &args.cookies {
        crate::outpath::refuse_inputs(&output, [("cookies file", c.as_path())])?;
    }
    Ok(Job { plan, stem, dir, output })
}

/// What the record holds (standard error).
fn announce(plan: &Plan, clips: &[&crate::mtslink::PlanClip], job: &Path) {
    let count = |k: media::clip::SourceKind| clips.iter().filter(|c| c.kind == k).count();
    eprintln!(
        "{}: {} clips ({} cameras, {} screen, {} audio-only), {} participants, {} slides, {} chat messages, timeline {}",
        plan.name,
        clips.len(),
        count(media::clip::SourceKind::Camera),
        count(media::clip::SourceKind::Screen),
        count(media::clip::SourceKind::AudioOnly),
        plan.participants.len(),
        plan.slides.len(),
        plan.chat.len(),
        plan.duration.map(hms).unwrap_or_else(|| "unknown".into()),
    );
    let parts = clips.iter().filter(|c| c.chunk_id.is_some()).count();
    if !plan.cuts.is_empty() {
        eprintln!(
            "  {} cut(s) removed; {parts} of the clips are later parts of chunks recorded across a cut",
            plan.cuts.len()
        );
    }
    eprintln!("  job folder: {}", job.display());
}

/// Chunks and slides to download, in timeline order (so the compile can follow), each
/// file once.
fn download_items(plan: &Plan, sorted: &[&crate::mtslink::PlanClip], job: &Path) -> Vec<DownloadItem> {
    let mut wanted: Vec<(f64, String, PathBuf)> =
        sorted.iter().map(|c| (c.start, c.url.clone(), job.join(c.file_name()))).collect();
    wanted.extend(plan.slides.iter().enumerate().map(|(i, s)| (s.start, s.url.clone(), job.join(s.file_name(i)))));
    wanted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut seen = std::collections::HashSet::new();
    let mut items = Vec::new();
    for (_, url, dest) in wanted {
        if seen.insert(dest.clone()) {
            items.push(DownloadItem { url, dest, expected_size: None });
        }
    }
    items
}

/// Per download: the HLS twin to fall back on when the chunk should show video.
fn twins_of(items: &[DownloadItem], sorted: &[&crate::mtslink::PlanClip], job: &Path) -> Vec<Option<String>> {
    items
        .iter()
        .map(|i| {
            sorted
                .iter()
                .find(|c| job.join(c.file_name()) == i.dest)
                .filter(|c| c.kind != media::clip::SourceKind::AudioOnly && c.has_video != Some(false))
                .and_then(|c| c.hls_url.clone())
        })
        .collect()
}

/// The downloads running beside the compile.
struct Downloads {
    handle: tokio::task::JoinHandle<()>,
    watcher: tokio::task::JoinHandle<()>,
    /// The latest overall progress line (shown with the compile's bar).
    status: Arc<Mutex<String>>,
    /// When they started, and their last overall figures and when they came (for --stats).
    start: std::time::Instant,
    last: Arc<Mutex<Option<(crate::download::OverallProgress, std::time::Instant)>>>,
    /// Downloads that failed, with why.
    failures: Arc<Mutex<Vec<String>>>,
}

impl Downloads {
    /// Let the downloads finish (they are needed for --keep-files and resume anyway) unless
    /// the user asked to stop: the failures, and (seconds, last figures) for --stats.
    fn wait(
        self,
        rt: &tokio::runtime::Runtime,
        cancel: &AtomicBool,
    ) -> (Vec<String>, Option<(f64, crate::download::OverallProgress)>) {
        if cancel.load(Ordering::SeqCst) {
            self.handle.abort();
        }
        let _ = rt.block_on(async { tokio::join!(self.handle, self.watcher) });
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let stats = last.map(|(o, at)| (at.duration_since(self.start).as_secs_f64(), o));
        (self.failures.lock().unwrap_or_else(|e| e.into_inner()).clone(), stats)
    }
}

/// Start downloading `items`; each file is reported to `ready` when it is there (or its HLS
/// twin, `twins[i]`, when the chunk lacks its video), or why it never will be.
fn start_downloads(
    rt: &tokio::runtime::Runtime,
    args: &WebinarArgs,
    items: &[DownloadItem],
    twins: Vec<Option<String>>,
    ready: &Arc<Readiness>,
) -> Result<Downloads> {
    let dl =
        Downloader::new(DownloadOptions { concurrency: args.jobs.max(1), net: args.net.clone(), ..Default::default() })
            .map_err(|e| anyhow!("{e}"))?;
    let quiet = args.quiet;
    let status = Arc::new(Mutex::new(String::new()));
    let status_w = status.clone();
    let last: Arc<Mutex<Option<(crate::download::OverallProgress, std::time::Instant)>>> = Default::default();
    let last_w = last.clone();
    let start = std::time::Instant::now();
    let (handle, rx) = {
        let _g = rt.enter();
        dl.spawn(items.to_vec(), move |ev: &DownloadEvent| {
            if let Some(l) = ev.log_line() {
                if !quiet {
                    eprintln!("  {l}");
                }
            }
            if let DownloadEvent::Overall(o) = ev {
                *status_w.lock().unwrap_or_else(|e| e.into_inner()) = o.render();
                *last_w.lock().unwrap_or_else(|e| e.into_inner()) = Some((o.clone(), std::time::Instant::now()));
            }
        })
    };
    let paths: Vec<PathBuf> = items.iter().map(|i| i.dest.clone()).collect();
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let watch = Watch { ready: ready.clone(), failures: failures.clone(), net: args.net.clone() };
    let watcher = rt.spawn(watch.run(rx, paths, twins));
    Ok(Downloads { handle, watcher, status, start, last, failures })
}

/// Turns download results into [`Readiness`].
struct Watch {
    ready: Arc<Readiness>,
    failures: Arc<Mutex<Vec<String>>>,
    net: crate::net::NetOptions,
}

impl Watch {
    async fn run(
        self,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<crate::download::ItemResult>,
        paths: Vec<PathBuf>,
        twins: Vec<Option<String>>,
    ) {
        let mut twin_tasks = Vec::new();
        while let Some((i, r)) = rx.recv().await {
            let path = paths[i].clone();
            match (r, twins[i].clone()) {
                (Ok(_), None) => self.ready.set(path.clone(), Ok(path)),
                (r, Some(hls)) => {
                    // The chunk may lack the video its HLS twin has (or be missing): decided
                    // off the async threads, the twin recorded in-process.
                    let (ready_t, failures_t) = (self.ready.clone(), self.failures.clone());
                    let (stop, net) = (self.ready.cancel.clone(), self.net.clone());
                    twin_tasks.push(tokio::spawn(async move {
                        let outcome = resolve_with_twin(&path, r.map(|_| ()), &hls, &net, stop).await;
                        if let Err(e) = &outcome {
                            failures_t.lock().unwrap_or_else(|e| e.into_inner()).push(e.to_string());
                        }
                        ready_t.set(path, outcome);
                    }));
                }
                (Err(e), None) => {
                    self.failures.lock().unwrap_or_else(|e| e.into_inner()).push(e.to_string());
                    self.ready.set(path, Err(ChunkError::Download(Arc::new(e))));
                }
            }
        }
        for t in twin_tasks {
            let _ = t.await;
        }
        self.ready.finish();
    }
}

/// The compile's options from the command line; clips wait for their downloads.
fn compile_options(args: &WebinarArgs, output: &Path, ready: &Arc<Readiness>) -> Result<CompileOptions> {
    let waiter = ready.clone();
    let mut b = CompileOptions::builder(output)
        .container(args.format)
        .replace_existing(args.force)
        .layout(args.layout)
        .hide_silent(args.hide_silent)
        .chat_panel(args.chat_panel)
        .normalize(args.normalize)
        .switch_hold(crate::compile::switch_hold_ticks(args.switch_hold))
        .decoder(args.decoder)
        .export_audio(args.export.audio.then(|| crate::compile::audio_export_path(output)))
        .start(args.start.map(|s| Ticks90k::from_secs_f64(s.max(0.0))).unwrap_or_default())
        .max_duration(args.max_duration.map(|s| Ticks90k::from_secs_f64(s.max(0.0))))
        .wait_for_clip(Some(Arc::new(move |p: &Path| waiter.wait(p).map_err(|e| e.to_string()))));
    if let Some((w, h)) = args.size {
        b = b.size(w, h);
    }
    if let Some(t) = args.threads {
        b = b.threads(t.max(1));
    }
    Ok(b.build()?)
}

/// The compile's summary, and the downloads that failed.
fn record_summary(report: &CompileReport, output: &Path, failed: &[String]) -> String {
    let mut summary = crate::compile::summary(report, output);
    if !failed.is_empty() {
        summary.push_str(&format!("downloads failed: {}\n", failed.len()));
        for f in failed {
            summary.push_str(&format!("  {f}\n"));
        }
    }
    summary
}

/// `job/flow.json`: the plan's flow for the user to read (and to run again with `stitch
/// compile`); the webinar itself compiles [`Plan::to_flow`].
fn write_flow_json(plan: &Plan, job: &Path) -> Result<()> {
    let mut flow_json = plan.to_flow_json(|c| c.file_name());
    if let Some(logs) = flow_json.get_mut("eventLogs").and_then(|l| l.as_array_mut()) {
        logs.extend(plan.slide_flow_events(|i, s| s.file_name(i)));
        logs.extend(plan.chat_flow_events());
    }
    std::fs::write(job.join("flow.json"), serde_json::to_vec_pretty(&flow_json)?)?;
    Ok(())
}

/// Where a chunk's HLS twin goes: beside the chunk, `<chunk>.hls.mp4`.
pub fn twin_path(chunk: &Path) -> PathBuf {
    let mut name = chunk.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".hls.mp4");
    chunk.with_file_name(name)
}

/// Whether a downloaded chunk lacks video: it opens and has no video stream. (A chunk
/// that does not open at all is left to the compile, which reports it.)
fn lacks_video(path: &Path) -> bool {
    match media::demux::open(path) {
        Ok((_, d)) => !d.streams().iter().any(|s| s.kind == media::packet::MediaKind::Video),
        Err(_) => false,
    }
}

/// The file to compile for a chunk that has an HLS twin: the chunk itself when it has
/// video, else the twin (recorded once into [`twin_path`]; an existing twin is reused on a
/// re-run). A chunk whose download failed falls back to the twin too.
async fn resolve_with_twin(
    chunk: &Path,
    download: std::result::Result<(), DownloadError>,
    hls_url: &str,
    net: &crate::net::NetOptions,
    stop: Arc<AtomicBool>,
) -> std::result::Result<PathBuf, ChunkError> {
    let twin = twin_path(chunk);
    if let Ok(()) = &download {
        let c = chunk.to_path_buf();
        let lacks = tokio::task::spawn_blocking(move || lacks_video(&c)).await.unwrap_or(false);
        if !lacks {
            return Ok(chunk.to_path_buf());
        }
    }
    if twin.exists() {
        return Ok(twin);
    }
    let mut o = crate::record::RecordOptions::new(hls_url);
    o.output = Some(twin.clone());
    o.format = Container::Mp4;
    o.retries = Some(5);
    o.jobs = 2;
    o.quiet = true;
    o.net = net.clone();
    match crate::record::record_in_runtime(&o, stop).await {
        Ok(_) if twin.exists() => Ok(twin),
        Ok(_) => Err(ChunkError::TwinEmpty { chunk: chunk.to_path_buf(), url: hls_url.into() }),
        Err(e) => match download {
            // The chunk has audio at least: use it, and say why the picture is missing.
            Ok(()) => {
                eprintln!("  warning: {}: no video in the chunk and its HLS twin failed: {e}", chunk.display());
                Ok(chunk.to_path_buf())
            }
            Err(d) => Err(ChunkError::TwinFailed { download: Arc::new(d), url: hls_url.into(), twin: Arc::new(e) }),
        },
    }
}

/// The batch table printed at the end.
pub fn results_table(results: &[RecordResult]) -> String {
    let mut s = String::from("results:\n");
    for r in results {
        match (&r.output, &r.error) {
            (_, Some(e)) => s.push_str(&format!("  FAILED  {}  {}: {}\n", r.link, r.name, e)),
            (Some(o), None) => s.push_str(&format!("  OK      {}  -> {}\n", r.link, o.display())),
            (None, None) => s.push_str(&format!("  PLANNED {}  {}\n", r.link, r.name)),
        }
    }
    s
}

/// Whether interactive mode applies (no link and stdin is a terminal).
pub fn interactive_possible(args: &WebinarArgs) -> bool {
    args.links.is_empty() && args.links_file.is_none() && std::io::stdin().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_epoch() {
        let rec = serde_json::json!({"eventLogs": [{"time": 1700000000.5}, {"time": 1690000000}]});
        assert_eq!(record_date(&rec).as_deref(), Some("2023-07-22"));
        assert_eq!(record_date(&serde_json::json!({"eventLogs": []})), None);
    }

    #[test]
    fn links_file_lines() {
        let d = std::env::temp_dir().join(format!("stitch-links-{}", std::process::id()));
        std::fs::write(&d, "# list\nhttps://a/record-new/1 First lecture\n\n  https://b/record-new/2\n").unwrap();
        let l = read_links_file(&d).unwrap();
        assert_eq!(
            l,
            vec![
                ("https://a/record-new/1".to_string(), Some("First lecture".to_string())),
                ("https://b/record-new/2".to_string(), None)
            ]
        );
        let _ = std::fs::remove_file(d);
    }
}
