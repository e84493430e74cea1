//! Direct MP4 recording: `HEAD` for the size, then `GET` into `<target>.part`, resuming
//! with `Range: bytes=N-` after a failure (or a previous run), renamed when complete.
//! `start` at the first chunk (the final path and the size when known), `progress` every
//! 2 % (size known) or 3 s, a progress bar with bytes/total and speed on a terminal. With
//! TS output the downloaded MP4 is a hidden temporary remuxed to TS at the end. Each retry
//! prints one line with the root cause (`http.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use url::Url;

use super::events::{EventSink, RecordEvent, StopReason};
use super::http::{Http, Retry};
use super::output::{remux, Naming, RawKind};
use super::{OutputKind, RecordError, RecordOptions, RecordSummary};

fn part(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// The longest stream duration the MP4 declares (seconds).
fn mp4_duration(p: &Path) -> f64 {
    use media::packet::Demuxer;
    match media::demux::mp4::Mp4Demuxer::open(p) {
        Ok(d) => d
            .streams()
            .iter()
            .filter_map(|s| s.declared_duration.map(|t| t as f64 / s.timebase.max(1) as f64))
            .fold(0.0, f64::max),
        Err(_) => 0.0,
    }
}

fn user_stop(received: u64) -> RecordSummary {
    RecordSummary {
        kind: "mp4".into(),
        reason: StopReason::User,
        bytes: received,
        resumable: true,
        ..Default::default()
    }
}

fn start(path: &Path, total: Option<u64>) -> RecordEvent {
    RecordEvent::Start {
        path: path.display().to_string(),
        kind: "mp4".into(),
        segments_total: None,
        bytes_total: total,
        duration_total_secs: None,
    }
}

fn content_range_total(v: &str) -> Option<u64> {
    v.rsplit('/').next().and_then(|t| t.trim().parse().ok())
}

pub(crate) async fn record_mp4(
    opts: &RecordOptions,
    events: &EventSink,
    http: &Http,
    url: &Url,
    naming: &Naming,
) -> Result<RecordSummary, RecordError> {
    let final_path = naming.path(0);
    let target = match opts.format {
        // `-o -`: the file is downloaded (resumable, named by its URL in the temporary
        // folder) and remuxed to stdout when complete.
        _ if naming.is_stdout() => std::env::temp_dir()
            .join(format!("stitch-stdout-{:016x}.rec.mp4", crate::remote::fnv1a64(url.as_str().as_bytes()))),
        OutputKind::Mp4 => final_path.clone(),
        OutputKind::Ts => {
            let name = final_path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            final_path.with_file_name(format!(".{name}.rec.mp4"))
        }
    };
    if let Some(d) = target.parent() {
        if !d.as_os_str().is_empty() {
            std::fs::create_dir_all(d).map_err(|e| RecordError::Failure(format!("{}: {e}", d.display())))?;
        }
    }
    let part = part(&target);
    let ioe = |e: std::io::Error| RecordError::Failure(format!("{}: {e}", part.display()));
    // Size from HEAD (optional).
    let mut total: Option<u64> = match http.request(reqwest::Method::HEAD, url, None).send().await {
        Ok(r) if r.status().is_success() => {
            r.headers().get(reqwest::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
        }
        Ok(r) if r.status().as_u16() == 403 => {
            return Err(RecordError::Forbidden(format!("403 Forbidden ({url})")));
        }
        _ => None,
    };
    let t0 = Instant::now();
    let mut started = false;
    let mut failures = 0u32;
    let mut received = 0u64;
    let mut last_report = (Instant::now(), 0u64);
    loop {
        if http.stopped() {
            return Ok(user_stop(received));
        }
        let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if total.is_some_and(|t| have == t && t > 0) {
            break;
        }
        if total.is_some_and(|t| have > t) {
            let _ = std::fs::remove_file(&part);
            continue;
        }
        let range = (have > 0).then(|| format!("bytes={have}-"));
        let mut retry_after = None;
        let reason: String = match http.request(reqwest::Method::GET, url, range.as_deref()).send().await {
            Ok(mut resp) => {
                let st = resp.status().as_u16();
                let mut append = false;
                let mut bad_range = None;
                match st {
                    206 => {
                        // Append only where the server says this part starts (RFC 9110
                        // §14.4): a part at another offset would corrupt the file.
                        let cr = resp.headers().get(reqwest::header::CONTENT_RANGE).and_then(|v| v.to_str().ok());
                        match cr.and_then(crate::download::parse_content_range_str) {
                            Some(crate::download::ContentRange::Bytes { first, complete, .. }) if first == have => {
                                append = true;
                                if complete.is_some() {
                                    total = complete;
                                }
                            }
                            _ => {
                                let _ = std::fs::remove_file(&part);
                                bad_range = Some(format!(
                                    "206 with Content-Range {cr:?} for a request from byte {have}; starting over"
                                ));
                            }
                        }
                    }
                    200 => {
                        if let Some(t) = resp.content_length() {
                            total = Some(t);
                        }
                    }
                    416 => {
                        let t = resp
                            .headers()
                            .get(reqwest::header::CONTENT_RANGE)
                            .and_then(|v| v.to_str().ok())
                            .and_then(content_range_total);
                        if t == Some(have) {
                            break;
                        }
                        let _ = std::fs::remove_file(&part);
                        continue;
                    }
                    403 => return Err(RecordError::Forbidden(format!("403 Forbidden ({url})"))),
                    s if (400..500).contains(&s) && s != 408 && s != 429 => {
                        return Err(RecordError::Failure(format!("{} ({url})", resp.status())));
                    }
                    _ => {}
                }
                if let Some(r) = bad_range {
                    r
                } else if st == 200 || st == 206 {
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .write(true)
                        .append(append)
                        .truncate(!append)
                        .open(&part)
                        .map_err(ioe)?;
                    let mut err = None;
                    loop {
                        if http.stopped() {
                            let _ = f.flush();
                            return Ok(user_stop(received));
                        }
                        match resp.chunk().await {
                            Ok(Some(c)) => {
                                http.pace(c.len()).await;
                                f.write_all(&c).map_err(ioe)?;
                                received += c.len() as u64;
                                failures = 0;
                                if !started {
                                    started = true;
                                    events.emit(&start(&final_path, total));
                                }
                                let pos = f.metadata().map(|m| m.len()).unwrap_or(0);
                                http.ui.download(pos, total);
                                let step = total.map(|t| t / 50).unwrap_or(u64::MAX).max(1);
                                if pos - last_report.1.min(pos) >= step
                                    || last_report.0.elapsed() >= Duration::from_secs(3)
                                {
                                    last_report = (Instant::now(), pos);
                                    events.emit(&RecordEvent::Progress {
                                        segments: 0,
                                        segments_total: None,
                                        bytes: pos,
                                        bytes_total: total,
                                        speed_bps: received as f64 / t0.elapsed().as_secs_f64().max(1e-3),
                                        recorded_secs: 0.0,
                                    });
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                err = Some(format!("body interrupted: {}", crate::download::root_cause(&e)));
                                break;
                            }
                        }
                    }
                    f.flush().map_err(ioe)?;
                    drop(f);
                    match err {
                        None => {
                            let len = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
                            if total.is_none_or(|t| len >= t) {
                                break;
                            }
                            format!("body ended at {len} of {} bytes", total.unwrap_or(0))
                        }
                        Some(e) => e,
                    }
                } else {
                    retry_after = super::http::retry_after_of(&resp);
                    resp.status().to_string()
                }
            }
            Err(e) => crate::download::root_cause(&e),
        };
        match http.retry(&mut failures, &reason, url, retry_after, Duration::from_secs(10)).await {
            Retry::Again => {}
            Retry::Stopped => return Ok(user_stop(received)),
            Retry::GiveUp(m) => return Err(RecordError::Failure(m)),
        }
    }
    std::fs::rename(&part, &target).map_err(|e| RecordError::Failure(format!("{}: {e}", target.display())))?;
    let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
    if !started {
        events.emit(&start(&final_path, Some(size)));
    }
    let duration = mp4_duration(&target);
    if target != final_path {
        remux((&target, RawKind::Fmp4), None, &final_path, opts.format).map_err(RecordError::Failure)?;
        let _ = std::fs::remove_file(&target);
    }
    events.emit(&RecordEvent::Progress {
        segments: 0,
        segments_total: None,
        bytes: size,
        bytes_total: Some(size),
        speed_bps: received as f64 / t0.elapsed().as_secs_f64().max(1e-3),
        recorded_secs: duration,
    });
    Ok(RecordSummary {
        kind: "mp4".into(),
        files: vec![final_path],
        segments: 0,
        bytes: size,
        recorded_secs: duration,
        reason: StopReason::Complete,
        ..Default::default()
    })
}
