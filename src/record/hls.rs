//! HLS recording (VOD, live, fMP4), one engine for all three.
//!
//! - **Selection.** A master playlist gives the variant ([`select_variant`] by
//!   `--quality`) and the alternative audio rendition ([`select_audio`] by `--audio`).
//!   Both are recorded concurrently and the rendition's audio replaces the variant's own
//!   in every output section (each section takes the rendition's audio of its own span of
//!   recorded time).
//! - **Order.** Segments are fetched with at most `jobs` transfers at once (RFC 8216 §10:
//!   about four) but written strictly in playlist order (`buffered`).
//! - **Live** (no `EXT-X-ENDLIST`, RFC 8216 §6.3.4): the first segment is the one 3 target
//!   durations before the live edge (or the window start with `--live-from-start`); the
//!   next segment is always the lowest media sequence number above the last one written;
//!   reloads wait one target duration after the start of the previous load when it
//!   changed, half a target duration when it did not; sequence gaps (segments expired
//!   before we got them) are warned about and counted; outages are retried with backoff
//!   (forever with `retries: None`).
//! - **403** on a segment or playlist: the original URL (master) is fetched again, the same
//!   variant / rendition re-resolved, and recording continues after the last sequence
//!   number written (expired signed URLs). Three 403s in a row without progress fail with
//!   error id `forbidden`.
//! - **Encryption.** AES-128 (identity key format): keys fetched once per URI, AES-128-CBC
//!   with PKCS7, IV from the key or the media sequence number; `--key` overrides the key
//!   bytes. Any DRM signal (SAMPLE-AES, FairPlay/Widevine/PlayReady key formats, session
//!   keys, and `encv`/`enca`/`sinf`/`pssh` in an fMP4 init section) stops with
//!   `drm_protected` before anything is written.
//! - **GAP** segments are skipped (counted); the next segment is marked discontinuous.
//! - **Resume** (VOD only): after every segment the state beside the output is updated
//!   (`resume.rs`); a rerun continues at the first segment not written. Ctrl-C or an error
//!   keeps the temporaries and the state for that; the end of the stream finalizes them.
//! - **Feedback**: the chosen variant is printed once (a warning when `--quality` matched
//!   no variant exactly), then a progress line on a terminal (`ui.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use url::Url;

use super::events::{EventSink, RecordEvent, StopReason};
use super::http::{FetchErr, Http, Resp};
use super::output::{finalize, Committed, Naming, Sections};
use super::resume::{self, State, StateKey, TrackState};
use super::ui::{mb, Ui};
use super::{Container, RecordError, RecordOptions, RecordSummary};
use crate::hls::playlist::{
    check_encryption, drm_signal, iv_for, parse, select_audio, select_variant, KeyMethod, MasterPlaylist,
    MediaPlaylist, Playlist, PlaylistError, Quality, Rendition, Segment, Variant,
};

/// How to find a track's media playlist again (after a 403).
#[derive(Clone, Debug)]
enum Source {
    Media(Url),
    Variant { master: Url, index: usize },
    Rendition { master: Url, group: String, name: String },
}

pub(crate) fn is_playlist(resp: &Resp) -> bool {
    let ct = resp.content_type.as_deref().unwrap_or("");
    ct.contains("mpegurl") || {
        let b = resp.body.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&resp.body);
        b.trim_ascii_start().starts_with(b"#EXTM3U")
    }
}

fn playlist_err(e: PlaylistError) -> RecordError {
    match e {
        PlaylistError::DrmProtected(m) => RecordError::Drm(m),
        other => RecordError::Failure(other.to_string()),
    }
}

fn fetch_err(e: FetchErr) -> RecordError {
    match e {
        FetchErr::Forbidden(m) => RecordError::Forbidden(m),
        FetchErr::Fatal(m) => RecordError::Failure(m),
        FetchErr::Timeout(m) => RecordError::Timeout(m),
        FetchErr::Stopped => RecordError::Failure("stopped".into()),
    }
}

fn parse_resp(resp: &Resp) -> Result<Playlist, RecordError> {
    let text = String::from_utf8_lossy(&resp.body);
    parse(&text, &resp.url).map_err(|e| RecordError::Failure(format!("{}: {e}", resp.url)))
}

fn check_media(pl: &MediaPlaylist) -> Result<(), RecordError> {
    check_encryption(&Playlist::Media(pl.clone())).map_err(playlist_err)
}

/// Encrypted sample entries or protection boxes in an fMP4 init section.
pub(crate) fn init_drm(init: &[u8]) -> Option<String> {
    for (tag, what) in [
        (&b"encv"[..], "encrypted video sample entry (encv)"),
        (b"enca", "encrypted audio sample entry (enca)"),
        (b"sinf", "protection scheme info (sinf)"),
        (b"pssh", "DRM system header (pssh)"),
    ] {
        if init.windows(4).any(|w| w == tag) {
            return Some(format!("fMP4 init section with an {what}"));
        }
    }
    None
}

struct Fetcher {
    http: Arc<Http>,
    key_override: Option<[u8; 16]>,
    keys: tokio::sync::Mutex<HashMap<String, [u8; 16]>>,
    inits: tokio::sync::Mutex<HashMap<String, Arc<Vec<u8>>>>,
    cap: Duration,
}

enum SegErr {
    Fetch(FetchErr),
    Drm(String),
    Bad(String),
}

struct Fetched {
    seg: Segment,
    data: Vec<u8>,
    init: Option<(Arc<Vec<u8>>, String)>,
}

/// AES-128-CBC with PKCS#7 padding failed to decrypt a segment.
#[derive(Debug, thiserror::Error)]
#[error("AES-128 decryption failed (bad padding: wrong key or IV?)")]
struct DecryptError;

fn decrypt(data: &[u8], key: &[u8; 16], iv: &[u8; 16]) -> Result<Vec<u8>, DecryptError> {
    use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
    cbc::Decryptor::<aes::Aes128>::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(data)
        .map_err(|_| DecryptError)
}

/// Why an earlier run's state cannot be continued.
#[derive(Debug, thiserror::Error)]
enum ResumeError {
    #[error("unknown raw kind {0:?}")]
    RawContainer(String),
    #[error("segment {0} is not in the playlist any more")]
    Gone(u64),
    /// The raw file does not match the state (from the output sections).
    #[error("{0}")]
    Sections(#[from] super::output::OutputError),
}

impl Fetcher {
    async fn key(&self, key: &crate::hls::playlist::Key) -> Result<[u8; 16], SegErr> {
        if let Some(k) = self.key_override {
            return Ok(k);
        }
        let uri = key.uri.as_ref().ok_or_else(|| SegErr::Bad("EXT-X-KEY METHOD=AES-128 without a URI".into()))?;
        let mut cache = self.keys.lock().await;
        if let Some(k) = cache.get(uri.as_str()) {
            return Ok(*k);
        }
        let r = self.http.get(uri, None, self.cap).await.map_err(SegErr::Fetch)?;
        let k: [u8; 16] = r.body.as_slice().try_into().map_err(|_| {
            SegErr::Bad(format!("key {uri} has {} bytes, AES-128 needs 16 (use --key HEX)", r.body.len()))
        })?;
        cache.insert(uri.to_string(), k);
        Ok(k)
    }

    async fn fetch(&self, seg: Segment) -> Result<Option<Fetched>, SegErr> {
        if seg.gap {
            return Ok(None);
        }
        let range = seg.byte_range.as_ref().and_then(|b| b.http_range());
        let r = self.http.get(&seg.uri, range.as_deref(), self.cap).await.map_err(SegErr::Fetch)?;
        let mut data = r.body;
        if let Some(k) = seg.key.as_ref().filter(|k| k.method == KeyMethod::Aes128) {
            let key = self.key(k).await?;
            data = decrypt(&data, &key, &iv_for(&seg)).map_err(|e| SegErr::Bad(format!("{}: {e}", seg.uri)))?;
        }
        let init = match &seg.map {
            Some(m) => {
                let id = format!("{}|{:?}", m.uri, m.byte_range.as_ref().map(|b| (b.offset, b.length)));
                let mut cache = self.inits.lock().await;
                let bytes = match cache.get(&id) {
                    Some(b) => b.clone(),
                    None => {
                        let range = m.byte_range.as_ref().and_then(|b| b.http_range());
                        let r = self.http.get(&m.uri, range.as_deref(), self.cap).await.map_err(SegErr::Fetch)?;
                        let mut b = r.body;
                        if let Some(k) = m.key.as_ref().filter(|k| k.method == KeyMethod::Aes128) {
                            let key = self.key(k).await?;
                            let iv = k.iv.unwrap_or_else(|| (seg.sequence as u128).to_be_bytes());
                            b = decrypt(&b, &key, &iv).map_err(|e| SegErr::Bad(format!("{}: {e}", m.uri)))?;
                        }
                        if let Some(why) = init_drm(&b) {
                            return Err(SegErr::Drm(why));
                        }
                        let b = Arc::new(b);
                        cache.insert(id.clone(), b.clone());
                        b
                    }
                };
                Some((bytes, id))
            }
            None => None,
        };
        Ok(Some(Fetched { seg, data, init }))
    }
}

/// Per-track counters.
#[derive(Default, Clone, Debug)]
pub(crate) struct Stats {
    pub segments: u64,
    pub bytes: u64,
    pub recorded: f64,
    pub gaps: u64,
    pub missed: u64,
    pub warnings: Vec<String>,
}

struct Track {
    main: bool,
    source: Source,
    media_url: Url,
    playlist: MediaPlaylist,
    last_seq: Option<u64>,
    pending_disc: bool,
    sections: Sections,
    stats: Stats,
    started: bool,
    /// Sequence numbers written (tests / diagnostics).
    written: Vec<u64>,
    /// Index in the resume state's `tracks`.
    index: usize,
    /// Segments and bytes taken over from an interrupted run.
    resumed: u64,
    resumed_bytes: u64,
}

enum End {
    Complete,
    User,
    Limit,
}

struct Ctx<'a> {
    opts: &'a RecordOptions,
    events: &'a EventSink,
    fetcher: Fetcher,
    kind: &'static str,
    t0: Instant,
    main_done: AtomicBool,
    ui: Arc<Ui>,
    /// Resume state (HLS VOD into a file), rewritten after every segment.
    state: Mutex<Option<(std::path::PathBuf, State)>>,
}

impl Ctx<'_> {
    fn stopped(&self) -> bool {
        self.fetcher.http.stopped()
    }

    fn warn(&self, t: &mut Track, msg: String) {
        self.ui.warn(&msg);
        if t.stats.warnings.len() < 100 {
            t.stats.warnings.push(msg);
        }
    }

    /// Fetch a media playlist for `source` (re-reading the master for variants/renditions).
    async fn resolve(&self, source: &Source) -> Result<(Url, MediaPlaylist), RecordError> {
        let cap = self.fetcher.cap;
        let http = &self.fetcher.http;
        let media_url = match source {
            Source::Media(u) => u.clone(),
            Source::Variant { master, index } => {
                let m = self.master(master).await?;
                m.variants
                    .get(*index)
                    .or_else(|| select_variant(&m, &self.opts.quality))
                    .map(|v| v.uri.clone())
                    .ok_or_else(|| RecordError::Failure("the master playlist has no variant any more".into()))?
            }
            Source::Rendition { master, group, name } => {
                let m = self.master(master).await?;
                m.renditions
                    .iter()
                    .find(|r| &r.group_id == group && &r.name == name)
                    .and_then(|r| r.uri.clone())
                    .ok_or_else(|| RecordError::Failure(format!("audio rendition {name:?} disappeared")))?
            }
        };
        let r = http.get(&media_url, None, cap).await.map_err(fetch_err)?;
        match parse_resp(&r)? {
            Playlist::Media(m) => {
                check_media(&m)?;
                Ok((r.url, m))
            }
            Playlist::Master(_) => {
                Err(RecordError::Failure(format!("{media_url}: expected a media playlist, got a master")))
            }
        }
    }

    async fn master(&self, url: &Url) -> Result<MasterPlaylist, RecordError> {
        let r = self.fetcher.http.get(url, None, self.fetcher.cap).await.map_err(fetch_err)?;
        match parse_resp(&r)? {
            Playlist::Master(m) => Ok(m),
            Playlist::Media(_) => Err(RecordError::Failure(format!("{url}: expected a master playlist"))),
        }
    }

    fn emit_progress(&self, t: &Track) {
        let secs = self.t0.elapsed().as_secs_f64().max(1e-3);
        let speed = (t.stats.bytes - t.resumed_bytes) as f64 / secs;
        let live = t.playlist.is_live();
        let total = (!live).then_some(t.playlist.segments.len() as u64);
        // No `progress` before `start`.
        if t.started {
            self.events.emit(&RecordEvent::Progress {
                segments: t.stats.segments,
                segments_total: total,
                bytes: t.stats.bytes,
                bytes_total: if live { None } else { bytes_total(&t.playlist) },
                speed_bps: speed,
                recorded_secs: t.stats.recorded,
            });
        }
        if live {
            let behind: f64 = t
                .playlist
                .segments
                .iter()
                .filter(|s| t.last_seq.is_none_or(|l| s.sequence > l))
                .map(|s| s.duration)
                .sum();
            self.ui.live(t.stats.recorded, t.stats.segments, behind, t.stats.gaps + t.stats.missed, speed);
        } else {
            self.ui.vod(t.stats.segments, total.unwrap_or(0), t.stats.bytes, speed);
        }
    }

    /// `start` (once, main track): the final output path and the totals when known.
    fn emit_start(&self, t: &mut Track) {
        if !t.started && t.main {
            t.started = true;
            self.events.emit(&start_event(&t.sections.final_path(), self.kind, &t.playlist));
        }
    }

    /// Record that the segments written so far are in the raw file (VOD resume).
    fn commit(&self, t: &mut Track) -> Result<(), RecordError> {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some((path, state)) = g.as_mut() else { return Ok(()) };
        match t.sections.commit().map_err(RecordError::from)? {
            Some(c) => {
                state.tracks[t.index] = Some(TrackState {
                    raw: c.raw,
                    raw_kind: c.raw_kind.ext().into(),
                    segments: t.stats.segments + t.stats.gaps,
                    last_seq: t.last_seq.unwrap_or(0),
                    raw_len: c.raw_len,
                    last_start: c.last_start,
                    map_id: c.map_id,
                    bytes: t.stats.bytes,
                    recorded_secs: t.stats.recorded,
                    gaps: t.stats.gaps,
                });
                if let Err(e) = resume::save(path, state) {
                    let msg = format!("{}: {e}: this recording cannot be resumed", path.display());
                    drop(g);
                    self.warn(t, msg);
                    *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
                }
            }
            None => {
                // A second section (format change): not resumable.
                resume::remove(path);
                *g = None;
            }
        }
        Ok(())
    }

    fn should_stop(&self, t: &Track) -> bool {
        self.stopped() || (!t.main && t.playlist.is_live() && self.main_done.load(Ordering::Relaxed))
    }

    /// Record one track until its end, the stop flag or the duration limit.
    async fn run(&self, t: &mut Track) -> Result<End, RecordError> {
        let mut st = RunState {
            load_started: Instant::now(),
            changed: true,
            forbidden: 0,
            reload_failures: 0,
            live_seg_failures: 0,
            stalled_reloads: 0,
        };
        loop {
            if self.should_stop(t) {
                return Ok(End::User);
            }
            let start = self.batch_start(t);
            let batch = match self.fetch_batch(t, &mut st, start).await? {
                Step::Go(b) => b,
                Step::End(end) => return Ok(end),
            };
            if let Some(end) = self.after_batch(t, &mut st, &batch)? {
                return Ok(end);
            }
            if let Step::End(end) = self.reload(t, &mut st, batch.forbidden).await? {
                return Ok(end);
            }
        }
    }

    /// Index of the first segment of the playlist to fetch now; warns about segments that
    /// expired before they could be fetched.
    fn batch_start(&self, t: &mut Track) -> usize {
        let Some(last) = t.last_seq else {
            return if t.playlist.is_live() && !self.opts.live_from_start { live_start(&t.playlist) } else { 0 };
        };
        if let Some(first) = t.playlist.segments.first().map(|s| s.sequence).filter(|&f| f > last + 1) {
            let n = first - last - 1;
            t.stats.missed += n;
            t.pending_disc = true;
            let msg =
                format!("{n} segment(s) expired before they could be fetched (sequence {} to {})", last + 1, first - 1);
            self.warn(t, msg);
        }
        t.playlist.segments.iter().position(|s| s.sequence > last).unwrap_or(t.playlist.segments.len())
    }

    /// Fetch the playlist's segments from `start` (`--jobs` in parallel, stored in order).
    async fn fetch_batch(&self, t: &mut Track, st: &mut RunState, start: usize) -> Result<Step<Batch>, RecordError> {
        let batch: Vec<Segment> = t.playlist.segments[start..].to_vec();
        let fetcher = &self.fetcher;
        let mut stream =
            futures_util::stream::iter(batch.into_iter().map(|s| fetcher.fetch(s))).buffered(self.opts.jobs.max(1));
        let mut out = Batch::default();
        let mut next_expected = t.playlist.segments.get(start).map(|s| s.sequence);
        while let Some(r) = stream.next().await {
            let seq = next_expected.unwrap_or(0);
            next_expected = Some(seq + 1);
            let step = match r {
                Ok(None) => {
                    t.stats.gaps += 1;
                    t.pending_disc = true;
                    t.last_seq = Some(seq);
                    out.progressed = true;
                    if !t.playlist.is_live() {
                        self.commit(t)?;
                    }
                    Step::Go(())
                }
                Ok(Some(f)) => {
                    out.progressed = true;
                    self.store(t, st, f)?
                }
                Err(e) => self.segment_failed(t, st, e, seq, &mut out)?,
            };
            if let Step::End(end) = step {
                return Ok(Step::End(end));
            }
            if out.forbidden {
                break;
            }
        }
        Ok(Step::Go(out))
    }

    /// Store a fetched segment; ends at the duration limit or the stop flag.
    fn store(&self, t: &mut Track, st: &mut RunState, f: Fetched) -> Result<Step<()>, RecordError> {
        let disc = f.seg.discontinuity || t.pending_disc;
        let init = f.init.as_ref().map(|(b, id)| (b.as_slice(), id.clone()));
        let new_section = t.sections.push(&f.data, disc, init, t.stats.recorded).map_err(RecordError::from)?;
        if t.playlist.is_live() {
            t.sections.flush();
        }
        t.stats.segments += 1;
        t.stats.bytes += f.data.len() as u64;
        t.stats.recorded += f.seg.duration;
        t.last_seq = Some(f.seg.sequence);
        if new_section {
            let msg = format!(
                "format change at sequence {}: new section {}",
                f.seg.sequence,
                t.sections.final_path().display()
            );
            self.warn(t, msg);
        }
        t.pending_disc = false;
        (st.live_seg_failures, st.stalled_reloads, st.forbidden) = (0, 0, 0);
        t.written.push(f.seg.sequence);
        if !t.playlist.is_live() {
            self.commit(t)?;
        }
        if t.main {
            // Live: the output can be played after `buffering` segments; a VOD says what it
            // records from the first segment on.
            if !t.playlist.is_live() || t.stats.segments >= self.opts.buffering.max(1) as u64 {
                self.emit_start(t);
            }
            self.emit_progress(t);
        }
        if self.opts.max_duration.is_some_and(|m| t.stats.recorded >= m) {
            return Ok(Step::End(End::Limit));
        }
        if self.should_stop(t) {
            return Ok(Step::End(End::User));
        }
        Ok(Step::Go(()))
    }

    /// A segment `seq` could not be had: reload on `403`, skip it when live (within the retry
    /// budget), else fail.
    fn segment_failed(
        &self,
        t: &mut Track,
        st: &mut RunState,
        e: SegErr,
        seq: u64,
        out: &mut Batch,
    ) -> Result<Step<()>, RecordError> {
        match e {
            SegErr::Fetch(FetchErr::Stopped) => Ok(Step::End(End::User)),
            SegErr::Fetch(FetchErr::Forbidden(m)) => {
                st.forbidden += 1;
                if st.forbidden > 3 {
                    return Err(RecordError::Forbidden(m));
                }
                self.warn(t, format!("{m}: reloading the playlist"));
                out.forbidden = true;
                Ok(Step::Go(()))
            }
            SegErr::Fetch(e) if t.playlist.is_live() => {
                // A live segment that cannot be had (expired, 404): skip it, unless every
                // segment keeps failing beyond the retry budget. (Each fetch already used its
                // own retries; before anything was recorded a failure means the stream is
                // unusable.)
                st.live_seg_failures += 1;
                let limit = self.fetcher.http.retry_limit();
                if limit.is_some_and(|m| st.live_seg_failures > m.max(1) || t.stats.segments == 0) {
                    return Err(fetch_err(e));
                }
                self.warn(t, format!("segment {seq} skipped: {e}"));
                t.stats.missed += 1;
                t.pending_disc = true;
                t.last_seq = Some(seq);
                Ok(Step::Go(()))
            }
            SegErr::Fetch(e) => Err(fetch_err(e)),
            SegErr::Drm(m) => Err(RecordError::Drm(m)),
            SegErr::Bad(m) => Err(RecordError::Failure(m)),
        }
    }

    /// After a batch: the end of a VOD, or a live playlist that stalled beyond the budget.
    fn after_batch(&self, t: &Track, st: &mut RunState, batch: &Batch) -> Result<Option<End>, RecordError> {
        let at_end = !t.playlist.is_live()
            && t.playlist.segments.last().is_none_or(|s| t.last_seq.is_some_and(|l| l >= s.sequence));
        let nothing = t.stats.segments == 0 && t.stats.gaps == 0;
        if (at_end && !batch.forbidden) || (t.playlist.end_list && t.playlist.segments.is_empty()) {
            if nothing && t.main {
                return Err(RecordError::Failure(format!("{}: the playlist has no segments", t.media_url)));
            }
            return Ok(Some(End::Complete));
        }
        if t.playlist.is_live() && !batch.forbidden {
            st.stalled_reloads = if batch.progressed { 0 } else { st.stalled_reloads + 1 };
            if let Some(m) = self.fetcher.http.retry_limit() {
                if st.stalled_reloads > m.max(1) + 2 {
                    return Err(RecordError::Failure(format!(
                        "{}: live playlist stalled: no new segment after {} reloads",
                        t.media_url, st.stalled_reloads
                    )));
                }
            }
        }
        Ok(None)
    }

    /// Wait (live: a target duration after the last load, half of it when nothing changed),
    /// then reload the playlist (from the original URL after a `403`).
    async fn reload(&self, t: &mut Track, st: &mut RunState, got_forbidden: bool) -> Result<Step<()>, RecordError> {
        if !got_forbidden && t.playlist.is_live() {
            let td = t.playlist.target_duration.max(0.1);
            let wait = if st.changed { td } else { td / 2.0 };
            let until = st.load_started + Duration::from_secs_f64(wait);
            let now = Instant::now();
            if until > now && self.fetcher.http.sleep(until - now).await.is_err() {
                return Ok(Step::End(End::User));
            }
            if self.should_stop(t) {
                return Ok(Step::End(End::User));
            }
        }
        st.load_started = Instant::now();
        let source = t.source.clone();
        let res = if got_forbidden {
            // Re-read the original URL (a fresh token) and re-resolve the same track.
            self.resolve(&source).await
        } else {
            self.resolve(&Source::Media(t.media_url.clone())).await
        };
        match res {
            Ok((url, pl)) => {
                st.reload_failures = 0;
                t.media_url = url;
                let old_last = t.playlist.segments.last().map(|s| s.sequence);
                st.changed = pl.segments.last().map(|s| s.sequence) != old_last || pl.end_list != t.playlist.end_list;
                if got_forbidden {
                    t.source = source;
                }
                t.playlist = pl;
                Ok(Step::Go(()))
            }
            Err(e) => self.reload_failed(t, st, e, got_forbidden).await,
        }
    }

    /// A playlist reload failed: back to the original URL on `403`, retry a live one within
    /// the budget, else fail.
    async fn reload_failed(
        &self,
        t: &mut Track,
        st: &mut RunState,
        e: RecordError,
        got_forbidden: bool,
    ) -> Result<Step<()>, RecordError> {
        match e {
            RecordError::Drm(m) => Err(RecordError::Drm(m)),
            RecordError::Forbidden(m) if !got_forbidden => {
                // The media playlist itself expired: go back to the original URL.
                st.forbidden += 1;
                if st.forbidden > 3 {
                    return Err(RecordError::Forbidden(m));
                }
                let (url, pl) = self.resolve(&t.source.clone()).await?;
                t.media_url = url;
                t.playlist = pl;
                Ok(Step::Go(()))
            }
            e => {
                if self.stopped() {
                    return Ok(Step::End(End::User));
                }
                st.reload_failures += 1;
                if self.fetcher.http.retry_limit().is_some_and(|m| st.reload_failures > m) || !t.playlist.is_live() {
                    return Err(e);
                }
                self.warn(t, format!("playlist reload failed ({e}); retrying"));
                st.changed = false;
                let cap = Duration::from_secs_f64((t.playlist.target_duration * 2.0).clamp(1.0, 10.0));
                if self.fetcher.http.sleep(Http::backoff(st.reload_failures, cap)).await.is_err() {
                    return Ok(Step::End(End::User));
                }
                Ok(Step::Go(()))
            }
        }
    }
}

/// What [`Ctx::run`] carries from one playlist load to the next.
struct RunState {
    load_started: Instant,
    /// The last reload brought a change (the next wait is a whole target duration).
    changed: bool,
    /// `403`s in a row.
    forbidden: u32,
    reload_failures: u32,
    /// Live: consecutive segments that could not be fetched, and consecutive reloads that
    /// brought no new segment. With a finite --retries both end the recording with an error
    /// instead of waiting forever; with `inf` the recorder rides out any outage.
    live_seg_failures: u32,
    stalled_reloads: u32,
}

/// What a batch of segments did.
#[derive(Default)]
struct Batch {
    /// A segment answered `403`: reload from the original URL.
    forbidden: bool,
    /// A segment (or a gap) was recorded.
    progressed: bool,
}

/// Go on (with a value), or end the recording.
enum Step<T> {
    Go(T),
    End(End),
}

/// Index of the first segment to record in a live window: 3 target durations from the end.
pub(crate) fn live_start(pl: &MediaPlaylist) -> usize {
    let want = 3.0 * pl.target_duration - 1e-6;
    let mut acc = 0.0;
    for i in (0..pl.segments.len()).rev() {
        acc += pl.segments[i].duration;
        if acc >= want {
            return i;
        }
    }
    0
}

/// Sum of the EXT-X-BYTERANGE lengths when every segment has one (else unknown).
fn bytes_total(pl: &MediaPlaylist) -> Option<u64> {
    pl.segments.iter().map(|s| s.byte_range.as_ref().map(|b| b.length)).sum()
}

fn start_event(path: &std::path::Path, kind: &str, pl: &MediaPlaylist) -> RecordEvent {
    let vod = !pl.is_live();
    RecordEvent::Start {
        path: path.display().to_string(),
        kind: kind.to_string(),
        segments_total: vod.then_some(pl.segments.len() as u64),
        bytes_total: if vod { bytes_total(pl) } else { None },
        duration_total_secs: vod.then(|| pl.segments.iter().map(|s| s.duration).sum()),
    }
}

/// `1280x720, 1.5 Mbit/s, avc1.64001f,mp4a.40.2, 25 fps`
pub(crate) fn describe_variant(v: &Variant) -> String {
    let mut parts = Vec::new();
    if let Some(r) = v.resolution {
        parts.push(format!("{}x{}", r.width, r.height));
    }
    if v.bandwidth > 0 {
        parts.push(format!("{:.2} Mbit/s", v.bandwidth as f64 / 1e6));
    }
    if let Some(c) = &v.codecs {
        parts.push(c.clone());
    }
    if let Some(f) = v.frame_rate {
        parts.push(format!("{f:.3} fps").replace(".000 fps", " fps"));
    }
    if parts.is_empty() {
        parts.push("no attributes".into());
    }
    parts.join(", ")
}

pub(crate) fn describe_rendition(r: &Rendition) -> String {
    let mut s = format!("{:?}", r.name);
    if let Some(l) = &r.language {
        s.push_str(&format!(" ({l})"));
    }
    if let Some(c) = &r.channels {
        s.push_str(&format!(", {c} channels"));
    }
    s
}

/// Why `chosen` is not what `--quality` asked for, if it is not.
fn quality_mismatch(m: &MasterPlaylist, q: &Quality, chosen: &Variant) -> Option<String> {
    match *q {
        Quality::Best | Quality::Worst => None,
        Quality::Height(h) => {
            let has = m.variants.iter().any(|v| !v.i_frame && v.resolution.is_some_and(|r| r.height == h));
            let heights: Vec<String> = m
                .variants
                .iter()
                .filter(|v| !v.i_frame)
                .filter_map(|v| v.resolution.map(|r| format!("{}p", r.height)))
                .collect();
            (!has).then(|| {
                format!(
                    "--quality {h}p: no variant is {h}p (available: {}); took {}",
                    if heights.is_empty() { "no RESOLUTION given".to_string() } else { heights.join(", ") },
                    describe_variant(chosen)
                )
            })
        }
        Quality::MinBandwidth(b) => (chosen.bandwidth < b).then(|| {
            format!("--quality {b}: no variant has that much bandwidth; took the highest, {}", describe_variant(chosen))
        }),
    }
}

/// The options that must be the same for a rerun to continue a recording.
fn state_key(opts: &RecordOptions) -> StateKey {
    StateKey {
        url: opts.url.trim().to_string(),
        format: format!("{:?}", opts.format),
        quality: format!("{:?}", opts.quality),
        audio: opts.audio_lang.clone(),
        kind: format!("{:?}", opts.kind),
        key_hash: opts.key_hex.as_ref().map(resume::key_hash),
    }
}

/// Continue `t` from its entry in an earlier run's state; false when that is not possible.
fn resume_track(t: &mut Track, ts: &TrackState) -> Result<(), ResumeError> {
    let kind = Container::from_ext(&ts.raw_kind).ok_or_else(|| ResumeError::RawContainer(ts.raw_kind.clone()))?;
    let pos =
        t.playlist.segments.iter().position(|s| s.sequence == ts.last_seq).ok_or(ResumeError::Gone(ts.last_seq))?;
    let seqs: Vec<u64> = t.playlist.segments[..=pos].iter().filter(|s| !s.gap).map(|s| s.sequence).collect();
    t.sections
        .resume(&Committed {
            raw: ts.raw.clone(),
            raw_kind: kind,
            raw_len: ts.raw_len,
            last_start: ts.last_start,
            map_id: ts.map_id.clone(),
        })
        .map_err(ResumeError::Sections)?;
    t.last_seq = Some(ts.last_seq);
    t.stats.segments = ts.segments.saturating_sub(ts.gaps);
    t.stats.gaps = ts.gaps;
    t.stats.bytes = ts.bytes;
    t.stats.recorded = ts.recorded_secs;
    t.resumed = t.stats.segments;
    t.resumed_bytes = ts.bytes;
    t.written = seqs;
    Ok(())
}

/// Record an HLS stream whose first playlist (master or media) is `first`.
/// A main or audio track before its first segment.
fn new_track(main: bool, source: Source, media_url: Url, playlist: MediaPlaylist, sections: Sections) -> Track {
    Track {
        main,
        source,
        media_url,
        playlist,
        last_seq: None,
        pending_disc: false,
        sections,
        stats: Stats::default(),
        started: false,
        written: Vec::new(),
        index: if main { 0 } else { 1 },
        resumed: 0,
        resumed_bytes: 0,
    }
}

/// A track's source, media playlist URL and playlist.
type Opened = (Source, Url, MediaPlaylist);

/// The main track and the separate audio rendition (if any) of the first playlist: a master
/// playlist's chosen variant, or the media playlist itself.
async fn open_tracks(ctx: &Ctx<'_>, first: &Resp, stdout: bool) -> Result<(Opened, Option<Opened>), RecordError> {
    let (opts, ui) = (ctx.opts, &ctx.ui);
    let m = match parse_resp(first)? {
        Playlist::Media(m) => {
            check_media(&m)?;
            return Ok(((Source::Media(first.url.clone()), first.url.clone(), m), None));
        }
        Playlist::Master(m) => m,
    };
    if let Some(r) = drm_signal(&Playlist::Master(m.clone())) {
        return Err(RecordError::Drm(r));
    }
    let v = select_variant(&m, &opts.quality)
        .ok_or_else(|| RecordError::Failure("the master playlist lists no playable variant".into()))?;
    let index = m.variants.iter().position(|x| std::ptr::eq(x, v)).unwrap_or(0);
    let (url, pl) = ctx.resolve(&Source::Media(v.uri.clone())).await?;
    let rendition = select_audio(&m, v, opts.audio_lang.as_deref());
    ui.line(&format!(
        "variant: {}{}",
        describe_variant(v),
        rendition.map(|r| format!("; audio: {}", describe_rendition(r))).unwrap_or_default()
    ));
    if let Some(w) = quality_mismatch(&m, &opts.quality, v) {
        ui.warn(&w);
    }
    let audio = match rendition {
        Some(r) if stdout => {
            ui.warn(&format!(
                "-o -: the separate audio rendition {} is not included (it cannot be merged while streaming)",
                describe_rendition(r)
            ));
            None
        }
        Some(r) => {
            let src = Source::Rendition { master: first.url.clone(), group: r.group_id.clone(), name: r.name.clone() };
            let (aurl, apl) = ctx.resolve(&Source::Media(r.uri.clone().expect("rendition uri"))).await?;
            Some((src, aurl, apl))
        }
        None => None,
    };
    Ok(((Source::Variant { master: first.url.clone(), index }, url, pl), audio))
}

/// Load the resume state of a VOD recording into `ctx` and continue the tracks from it
/// (fresh tracks and state when it does not fit).
fn load_resume_state(ctx: &Ctx<'_>, naming: &Naming, main: &mut Track, audio: &mut Option<Track>, force_temp: bool) {
    let ui = &ctx.ui;
    let path = resume::state_path(&naming.path(0));
    let key = state_key(ctx.opts);
    let n_tracks = 1 + audio.is_some() as usize;
    let fresh = State { version: resume::VERSION, key: key.clone(), tracks: vec![None; n_tracks] };
    let state = match resume::load(&path) {
        Some(old) if old.key == key && old.tracks.len() == n_tracks => {
            let mut ok = Ok(());
            for (i, t) in std::iter::once(&mut *main).chain(audio.as_mut()).enumerate() {
                if let (Some(ts), Ok(())) = (&old.tracks[i], &ok) {
                    ok = resume_track(t, ts);
                }
            }
            match ok {
                Ok(()) => {
                    if main.resumed > 0 {
                        ui.line(&format!(
                            "resuming: {} of {} segments ({}) already recorded",
                            main.resumed,
                            main.playlist.segments.len(),
                            mb(main.stats.bytes as f64)
                        ));
                    }
                    old
                }
                Err(e) => {
                    ui.warn(&format!("cannot resume the interrupted recording ({e}); starting over"));
                    let sections = Sections::new(naming.clone(), force_temp);
                    *main =
                        new_track(true, main.source.clone(), main.media_url.clone(), main.playlist.clone(), sections);
                    *audio = audio
                        .take()
                        .map(|a| new_track(false, a.source, a.media_url, a.playlist, Sections::audio(naming.clone())));
                    fresh
                }
            }
        }
        Some(_) => {
            ui.warn(&format!(
                "{} belongs to a recording with another URL or other options; starting over",
                path.display()
            ));
            fresh
        }
        None => fresh,
    };
    *ctx.state.lock().unwrap_or_else(|e| e.into_inner()) = Some((path, state));
}

pub(crate) async fn record_hls(
    opts: &RecordOptions,
    events: &EventSink,
    http: Arc<Http>,
    first: Resp,
    naming: Naming,
) -> Result<RecordSummary, RecordError> {
    let ui = http.ui.clone();
    let fetcher = Fetcher {
        http,
        key_override: opts.key_hex,
        keys: Default::default(),
        inits: Default::default(),
        cap: Duration::from_secs(10),
    };
    let mut ctx = Ctx {
        opts,
        events,
        fetcher,
        kind: "hls_basic",
        t0: Instant::now(),
        main_done: AtomicBool::new(false),
        ui: ui.clone(),
        state: Mutex::new(None),
    };
    let stdout = naming.is_stdout();
    let ((main_src, main_url, main_pl), audio) = open_tracks(&ctx, &first, stdout).await?;
    let live = main_pl.is_live();
    if live {
        // An outage of a live stream is ridden out (unless --retries says otherwise).
        ctx.fetcher.http.set_live();
    }
    ctx.kind = if main_pl.segments.iter().any(|s| s.map.is_some()) {
        "hls_m4s"
    } else if live {
        "hls_live"
    } else {
        "hls_basic"
    };
    // A VOD is written into temporaries (resumable); a live TS recording into the output.
    let force_temp = audio.is_some() || !live;
    let mut main = new_track(true, main_src, main_url, main_pl, Sections::new(naming.clone(), force_temp));
    let mut audio = audio.map(|(s, u, p)| new_track(false, s, u, p, Sections::audio(naming.clone())));
    if live && !stdout {
        for p in super::output::keep_stale_temps(&naming) {
            ui.warn(&format!("kept the recording of an interrupted run as {}", p.display()));
        }
    }
    // --- Resume state (VOD into a file).
    if !live && !stdout {
        load_resume_state(&ctx, &naming, &mut main, &mut audio, force_temp);
    }
    let ctx = ctx;
    let main_fut = async {
        let r = ctx.run(&mut main).await;
        ctx.main_done.store(true, Ordering::Relaxed);
        r
    };
    let audio_fut = async {
        match audio.as_mut() {
            Some(a) => Some(ctx.run(a).await),
            None => None,
        }
    };
    let (mr, ar) = tokio::join!(main_fut, audio_fut);
    finish(&ctx, main, audio, mr, ar, live)
}

/// After the tracks ended: keep an unfinished VOD for a rerun, or make the final files.
fn finish(
    ctx: &Ctx<'_>,
    mut main: Track,
    mut audio: Option<Track>,
    mr: Result<End, RecordError>,
    ar: Option<Result<End, RecordError>>,
    live: bool,
) -> Result<RecordSummary, RecordError> {
    if let Some(Err(e)) = &ar {
        let msg = format!("audio rendition: {e}");
        ctx.warn(&mut main, msg);
        if matches!(e, RecordError::Drm(_)) && main.stats.segments == 0 {
            main.sections.discard();
        }
    }
    let drm = matches!(&mr, Err(RecordError::Drm(_))) || matches!(&ar, Some(Err(RecordError::Drm(_))));
    if drm && main.stats.segments == 0 {
        main.sections.discard();
        if let Some(a) = audio.as_mut() {
            a.sections.discard();
        }
    }
    let state = ctx.state.lock().unwrap_or_else(|e| e.into_inner()).take();
    // An interrupted or failed VOD keeps its temporaries and state for a rerun.
    // (A failed audio rendition alone does not: the output keeps the variant's own audio, as
    // before, with a warning.)
    let unfinished = matches!(&mr, Ok(End::User) | Err(_));
    if state.is_some() && unfinished && !drm && main.stats.segments > 0 {
        return keep_unfinished(ctx, main, audio, mr);
    }
    let files = finalize(&mut main.sections, audio.as_mut().map(|a| &mut a.sections), ctx.opts.format)
        .map_err(RecordError::from);
    // The resume state goes only once the files are final: a failed remux (a full disk)
    // keeps the downloaded segments resumable.
    if let (Some((path, _)), true) = (&state, files.is_ok()) {
        resume::remove(path);
    }
    if !main.started && main.stats.segments > 0 && files.is_ok() {
        main.started = true;
        ctx.events.emit(&start_event(&main.sections.final_path(), ctx.kind, &main.playlist));
    }
    let end = mr?;
    if let Some(Err(e)) = ar {
        if matches!(e, RecordError::Drm(_)) {
            return Err(e);
        }
    }
    let files = files?;
    let a_stats = audio.as_ref().map(|a| a.stats.clone()).unwrap_or_default();
    Ok(RecordSummary {
        kind: ctx.kind.to_string(),
        files,
        segments: main.stats.segments,
        segments_total: (!live).then_some(main.playlist.segments.len() as u64),
        bytes: main.stats.bytes + a_stats.bytes,
        recorded_secs: main.stats.recorded,
        reason: match end {
            End::Complete | End::Limit => StopReason::Complete,
            End::User => StopReason::User,
        },
        missed_segments: main.stats.missed,
        gap_segments: main.stats.gaps,
        sequences: main.written,
        warnings: main.stats.warnings,
        resumed_segments: main.resumed,
        resumable: false,
    })
}

/// An interrupted or failed VOD: keep its temporaries (and the state) for a rerun.
fn keep_unfinished(
    ctx: &Ctx<'_>,
    mut main: Track,
    mut audio: Option<Track>,
    mr: Result<End, RecordError>,
) -> Result<RecordSummary, RecordError> {
    main.sections.keep().map_err(RecordError::from)?;
    if let Some(a) = audio.as_mut() {
        a.sections.keep().map_err(RecordError::from)?;
    }
    let kept = format!(
        "{} of {} segments are kept: run the same command again to resume",
        main.stats.segments,
        main.playlist.segments.len()
    );
    if let Err(e) = mr {
        ctx.ui.line(&kept);
        return Err(e);
    }
    let a_bytes = audio.as_ref().map(|a| a.stats.bytes).unwrap_or(0);
    Ok(RecordSummary {
        kind: ctx.kind.to_string(),
        files: Vec::new(),
        segments: main.stats.segments,
        segments_total: Some(main.playlist.segments.len() as u64),
        bytes: main.stats.bytes + a_bytes,
        recorded_secs: main.stats.recorded,
        reason: StopReason::User,
        missed_segments: main.stats.missed,
        gap_segments: main.stats.gaps,
        sequences: main.written,
        warnings: main.stats.warnings,
        resumed_segments: main.resumed,
        resumable: true,
    })
}
