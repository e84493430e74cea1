//! The downloader against a fake storage server on 127.0.0.1 (see `fake_server`).

mod fake_server;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_server::{gen_bytes, hash, FakeServer, Faults, ResetStyle};
use stitch::download::{
    part_path, DownloadError, DownloadEvent, DownloadItem, DownloadOptions, DownloadOutcome, Downloader,
};

struct Fixture {
    srv: FakeServer,
    dir: PathBuf,
    files: Vec<(String, Vec<u8>)>,
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stitch-download-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `n` files of 100 kB – 2 MB (or all of `size` when given).
async fn fixture(name: &str, n: usize, size: Option<usize>) -> Fixture {
    let files: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let len = size.unwrap_or(100_000 + (i * 397_123 + 77_777 * (i % 3)) % 1_900_000);
            (format!("/chunks/{i}.mp4"), gen_bytes(i as u64 + 1, len))
        })
        .collect();
    let srv = FakeServer::start(files.clone()).await;
    Fixture { srv, dir: temp_dir(name), files }
}

impl Fixture {
    fn dest(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{i}.mp4"))
    }
    fn items(&self) -> Vec<DownloadItem> {
        (0..self.files.len())
            .map(|i| DownloadItem { url: self.srv.url(&self.files[i].0), dest: self.dest(i), expected_size: None })
            .collect()
    }
    fn path(&self, i: usize) -> &str {
        &self.files[i].0
    }
    fn len(&self, i: usize) -> u64 {
        self.files[i].1.len() as u64
    }
    /// Every file is on disk with the right bytes and no `.part` is left.
    fn check_exact(&self, results: &[Result<DownloadOutcome, DownloadError>]) {
        assert_eq!(results.len(), self.files.len());
        for (i, r) in results.iter().enumerate() {
            let o = r.as_ref().unwrap_or_else(|e| panic!("item {i}: {e}"));
            assert_eq!(o.path, self.dest(i));
            assert_eq!(o.bytes, self.len(i));
            self.check_file(i);
        }
    }
    fn check_file(&self, i: usize) {
        let got = std::fs::read(self.dest(i)).unwrap();
        assert_eq!(got.len(), self.files[i].1.len(), "length of file {i}");
        assert_eq!(hash(&got), hash(&self.files[i].1), "bytes of file {i}");
        assert!(!part_path(&self.dest(i)).exists(), ".part of file {i} left behind");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn opts(concurrency: usize) -> DownloadOptions {
    DownloadOptions {
        concurrency,
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(300),
        read_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        ..DownloadOptions::default()
    }
}

#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<DownloadEvent>>>);

impl Events {
    fn sink(&self) -> impl Fn(&DownloadEvent) + Send + Sync + 'static {
        let v = self.0.clone();
        move |e: &DownloadEvent| v.lock().unwrap().push(e.clone())
    }
    fn all(&self) -> Vec<DownloadEvent> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_downloads_are_exact_and_bounded() {
    let fx = fixture("basic", 20, None).await;
    fx.srv.set_faults(Faults { chunk_delay: Duration::from_millis(1), ..Faults::default() });
    let dl = Downloader::new(opts(3)).unwrap();
    let ev = Events::default();
    let results = dl.run(fx.items(), ev.sink()).await;
    fx.check_exact(&results);
    assert!(results.iter().all(|r| !r.as_ref().unwrap().from_cache));
    let max = fx.srv.max_in_flight();
    assert!(max <= 3, "server saw {max} requests in flight with concurrency 3");
    assert!(max >= 2, "transfers did not overlap (max in flight {max})");
    for i in 0..20 {
        let c = fx.srv.counters(fx.path(i));
        assert_eq!((c.gets, c.full_gets, c.heads), (1, 1, 0), "file {i}: {c:?}");
        assert_eq!(c.bytes_served, fx.len(i));
    }
    let events = ev.all();
    let done = events.iter().filter(|e| matches!(e, DownloadEvent::Done { .. })).count();
    assert_eq!(done, 20);
    assert!(events.iter().any(|e| matches!(e, DownloadEvent::Progress { .. })));
    let DownloadEvent::Overall(last) = events.last().unwrap() else { panic!("last event is not Overall") };
    let total: u64 = (0..20).map(|i| fx.len(i)).sum();
    assert_eq!((last.files_done, last.files_total, last.bytes_done), (20, 20, total));
    assert_eq!(last.bytes_total_estimate, Some(total));
    let line = last.render();
    assert!(line.starts_with("20/20 files"), "{line}");
}

/// `.part` files holding the first half of files 0..5, all of file 5, and more than
/// file 6; the rest absent.
fn prepare_parts(fx: &Fixture) -> Vec<u64> {
    let mut halves = Vec::new();
    for i in 0..5 {
        let half = fx.len(i) / 2;
        std::fs::write(part_path(&fx.dest(i)), &fx.files[i].1[..half as usize]).unwrap();
        halves.push(half);
    }
    std::fs::write(part_path(&fx.dest(5)), &fx.files[5].1).unwrap();
    let mut over = fx.files[6].1.clone();
    over.extend_from_slice(&[0xAB; 1000]);
    std::fs::write(part_path(&fx.dest(6)), over).unwrap();
    halves
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_files_resume_with_one_range_request() {
    for no_head in [false, true] {
        let fx = fixture(if no_head { "resume-nohead" } else { "resume-head" }, 10, None).await;
        fx.srv.set_faults(Faults { no_head, ..Faults::default() });
        let halves = prepare_parts(&fx);
        let dl = Downloader::new(opts(3)).unwrap();
        let results = dl.run(fx.items(), |_| {}).await;
        fx.check_exact(&results);
        for (i, half) in halves.iter().enumerate() {
            let c = fx.srv.counters(fx.path(i));
            assert_eq!((c.gets, c.range_gets, c.full_gets), (1, 1, 0), "file {i} (no_head {no_head}): {c:?}");
            assert_eq!(c.range_starts, vec![*half]);
            assert_eq!(c.bytes_served, fx.len(i) - half, "first half re-sent for file {i}");
        }
        let complete = fx.srv.counters(fx.path(5));
        let oversized = fx.srv.counters(fx.path(6));
        if no_head {
            // The Range GET gets 416 with the size: complete as it is / restart from 0.
            assert_eq!((complete.gets, complete.unsatisfiable, complete.bytes_served), (1, 1, 0));
            assert_eq!((oversized.unsatisfiable, oversized.full_gets), (1, 1));
        } else {
            assert_eq!((complete.heads, complete.gets), (1, 0));
            assert_eq!((oversized.heads, oversized.unsatisfiable, oversized.full_gets), (1, 0, 1));
        }
        for i in 7..10 {
            let c = fx.srv.counters(fx.path(i));
            assert_eq!((c.heads, c.full_gets, c.range_gets), (0, 1, 0), "file {i}: {c:?}");
        }
    }

    // A server that ignores Range: the 200 restarts the file from byte 0.
    let fx = fixture("resume-norange", 3, None).await;
    fx.srv.set_faults(Faults { ignore_range: true, ..Faults::default() });
    let half = fx.len(0) / 2;
    std::fs::write(part_path(&fx.dest(0)), &fx.files[0].1[..half as usize]).unwrap();
    let results = Downloader::new(opts(2)).unwrap().run(fx.items(), |_| {}).await;
    fx.check_exact(&results);
    assert_eq!(fx.srv.counters(fx.path(0)).bytes_served, fx.len(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_files_are_never_fetched_again() {
    let fx = fixture("cached", 8, None).await;
    let dl = Downloader::new(opts(3)).unwrap();
    let first = dl.run(fx.items(), |_| {}).await;
    fx.check_exact(&first);
    fx.srv.reset_counters();
    let ev = Events::default();
    let second = dl.run(fx.items(), ev.sink()).await;
    fx.check_exact(&second);
    assert!(second.iter().all(|r| r.as_ref().unwrap().from_cache));
    assert!(fx.srv.all_counters().is_empty(), "requests in the second run: {:?}", fx.srv.all_counters());
    let cached = ev.all().iter().filter(|e| matches!(e, DownloadEvent::Done { from_cache: true, .. })).count();
    assert_eq!(cached, 8);

    // A dest with a size other than the expected one is not complete: fetched again.
    std::fs::write(fx.dest(0), b"stale").unwrap();
    let mut items = fx.items();
    items[0].expected_size = Some(fx.len(0));
    items[1].expected_size = Some(fx.len(1));
    let third = dl.run(items, |_| {}).await;
    fx.check_exact(&third);
    assert!(!third[0].as_ref().unwrap().from_cache);
    assert!(third[1].as_ref().unwrap().from_cache);
    assert_eq!(fx.srv.counters(fx.path(0)).full_gets, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_lower_the_concurrency() {
    for style in [ResetStyle::NoResponse, ResetStyle::MidBody] {
        let fx = fixture(&format!("resets-{style:?}"), 12, None).await;
        fx.srv.set_faults(Faults {
            reset_above: Some(2),
            reset_style: style,
            chunk_delay: Duration::from_millis(2),
            ..Faults::default()
        });
        let dl = Downloader::new(opts(4)).unwrap();
        let ev = Events::default();
        let results = dl.run(fx.items(), ev.sink()).await;
        fx.check_exact(&results);
        let events = ev.all();
        for line in events.iter().filter_map(DownloadEvent::log_line) {
            eprintln!("{style:?}: {line}");
        }
        let drops: Vec<(usize, usize)> = events
            .iter()
            .filter_map(|e| match e {
                DownloadEvent::ConcurrencyReduced { from, to, .. } => Some((*from, *to)),
                _ => None,
            })
            .collect();
        assert!(!drops.is_empty(), "{style:?}: no reduction");
        assert_eq!(drops[0].0, 4);
        for w in drops.windows(2) {
            assert_eq!(w[1].0, w[0].1, "reductions go one at a time: {drops:?}");
        }
        assert!(drops.iter().all(|(f, t)| t + 1 == *f && *t >= 1), "{drops:?}");
        let last = drops.last().unwrap().1;
        assert!(last <= 2, "{style:?}: limit still {last}: {drops:?}");
        let resets = fx.srv.total(|c| c.resets as u64);
        assert!(resets > 0 && resets < 12, "{style:?}: {resets} resets: the limit did not adapt");
        let DownloadEvent::Overall(o) = events.last().unwrap() else { panic!() };
        assert!(o.concurrency <= 2);
        assert!(events.iter().any(|e| e.log_line().is_some_and(|l| l.contains("parallel downloads 4 -> 3"))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bursts_and_truncated_bodies() {
    let fx = fixture("bursts", 8, None).await;
    fx.srv.set_faults(Faults { fail_first: 2, truncate_first: 2, ..Faults::default() });
    let ev = Events::default();
    let results = Downloader::new(opts(3)).unwrap().run(fx.items(), ev.sink()).await;
    fx.check_exact(&results);
    for i in 0..8 {
        let c = fx.srv.counters(fx.path(i));
        assert_eq!((c.injected_errors, c.truncated), (2, 2), "file {i}: {c:?}");
        // Never restarted: one transfer from 0, then resumes at increasing offsets.
        assert_eq!(c.full_gets, 1, "file {i}: {c:?}");
        assert_eq!(c.range_starts.len(), 2, "file {i}: {c:?}");
        assert!(c.range_starts.windows(2).all(|w| w[0] < w[1]) && c.range_starts[0] > 0, "{c:?}");
    }
    let reasons: Vec<String> = ev
        .all()
        .iter()
        .filter_map(|e| match e {
            DownloadEvent::Retrying { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert!(reasons.iter().any(|r| r.contains("503")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("body interrupted") || r.contains("truncated")), "{reasons:?}");

    // Retry-After: 1 is honoured (the backoff alone would be ~20 ms); slow answers are fine.
    let fx = fixture("retry-after", 1, Some(150_000)).await;
    fx.srv.set_faults(Faults {
        fail_first: 1,
        retry_after: Some("1".into()),
        delay: Duration::from_millis(100),
        ..Faults::default()
    });
    let t = Instant::now();
    let results = Downloader::new(opts(3)).unwrap().run(fx.items(), |_| {}).await;
    fx.check_exact(&results);
    assert!(t.elapsed() >= Duration::from_millis(950), "Retry-After ignored: {:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_name_the_url() {
    let fx = fixture("permanent", 5, Some(120_000)).await;
    let mut status = HashMap::new();
    status.insert(fx.path(1).to_string(), 403);
    fx.srv.set_faults(Faults { status, ..Faults::default() });
    let mut items = fx.items();
    items[3].url = fx.srv.url("/chunks/missing.mp4");
    let ev = Events::default();
    let results = Downloader::new(opts(3)).unwrap().run(items.clone(), ev.sink()).await;
    for i in [0, 2, 4] {
        assert!(results[i].is_ok(), "item {i}: {:?}", results[i]);
        fx.check_file(i);
    }
    let e403 = results[1].as_ref().unwrap_err().to_string();
    assert!(e403.contains("403 Forbidden") && e403.contains("expired") && e403.contains(&items[1].url), "{e403}");
    let e404 = results[3].as_ref().unwrap_err().to_string();
    assert!(e404.contains("404 Not Found") && e404.contains(&items[3].url), "{e404}");
    assert_eq!(fx.srv.counters(fx.path(1)).requests, 1, "a 403 is not retried");
    assert!(!fx.dest(1).exists() && !fx.dest(3).exists());
    let failed = ev.all().iter().filter(|e| matches!(e, DownloadEvent::Failed { .. })).count();
    assert_eq!(failed, 2);

    // Size mismatch against expected_size is permanent too.
    let mut items = fx.items();
    items[0].dest = fx.dir.join("mismatch.mp4");
    items[0].expected_size = Some(fx.len(0) + 1);
    let results = Downloader::new(opts(3)).unwrap().run(items[..1].to_vec(), |_| {}).await;
    assert!(matches!(results[0], Err(DownloadError::SizeMismatch { .. })), "{:?}", results[0]);
    assert!(!fx.dir.join("mismatch.mp4").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_run_resumes_without_refetching() {
    let fx = fixture("kill", 8, Some(1_500_000)).await;
    fx.srv.set_faults(Faults { chunk_delay: Duration::from_millis(15), ..Faults::default() });
    let dl = Downloader::new(opts(3)).unwrap();
    let ev = Events::default();
    let (handle, mut rx) = dl.spawn(fx.items(), ev.sink());
    // Kill once two files are complete and an unfinished one has a good part on disk.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let events = ev.all();
        let done: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                DownloadEvent::Done { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        // A partial file well past the write buffer, far from its end.
        let far = (0..8).any(|i| {
            !done.contains(&i)
                && std::fs::metadata(part_path(&fx.dest(i))).is_ok_and(|m| (300_000..1_000_000).contains(&m.len()))
        });
        if done.len() >= 2 && far {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not progress");
    }
    handle.abort();
    assert!(handle.await.unwrap_err().is_cancelled());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Completions were streamed as they happened.
    let mut streamed = Vec::new();
    while let Ok((i, r)) = rx.try_recv() {
        assert!(r.is_ok());
        streamed.push(i);
    }
    let complete: Vec<usize> = (0..8).filter(|i| fx.dest(*i).exists()).collect();
    let parts: Vec<(usize, u64)> = (0..8)
        .filter_map(|i| std::fs::metadata(part_path(&fx.dest(i))).ok().map(|m| (i, m.len())))
        .filter(|(_, len)| *len > 0)
        .collect();
    // Reported completions are on disk (a file renamed just before the abort may be
    // complete without having been reported).
    assert!(streamed.len() >= 2 && streamed.iter().all(|i| complete.contains(i)), "{streamed:?} vs {complete:?}");
    assert!(complete.len() >= 2 && complete.len() < 8, "complete: {complete:?}");
    let all_parts: Vec<(usize, Option<u64>)> =
        (0..8).map(|i| (i, std::fs::metadata(part_path(&fx.dest(i))).ok().map(|m| m.len()))).collect();
    assert!(
        !parts.is_empty(),
        "no partial file after the kill: complete {complete:?}, parts {all_parts:?}, events {:?}",
        ev.all().iter().filter(|e| !matches!(e, DownloadEvent::Overall(_))).collect::<Vec<_>>()
    );
    for i in &complete {
        fx.check_file(*i);
    }

    fx.srv.reset_counters();
    let results = dl.run(fx.items(), |_| {}).await;
    fx.check_exact(&results);
    for i in &complete {
        assert!(results[*i].as_ref().unwrap().from_cache);
        assert_eq!(fx.srv.counters(fx.path(*i)).requests, 0, "complete file {i} fetched again");
    }
    for (i, len) in &parts {
        let c = fx.srv.counters(fx.path(*i));
        assert_eq!(c.full_gets, 0, "partial file {i} restarted: {c:?}");
        assert_eq!(c.range_starts, vec![*len], "partial file {i} not resumed at {len}: {c:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_server_hits_the_read_timeout() {
    let fx = fixture("stall", 1, Some(100_000)).await;
    fx.srv.set_faults(Faults { delay: Duration::from_millis(600), ..Faults::default() });
    let o = DownloadOptions { read_timeout: Duration::from_millis(150), retries: 1, ..opts(1) };
    let ev = Events::default();
    let results = Downloader::new(o).unwrap().run(fx.items(), ev.sink()).await;
    let e = results[0].as_ref().unwrap_err();
    assert!(matches!(e, DownloadError::RetriesExhausted { attempts: 2, .. }), "{e}");
    assert!(e.to_string().contains("timed out") && e.to_string().contains(&fx.items()[0].url), "{e}");
    assert_eq!(fx.srv.counters(fx.path(0)).gets, 2);
    assert!(!fx.dest(0).exists());
}
