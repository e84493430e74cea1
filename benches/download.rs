//! Download throughput on loopback: 500 chunks of ~1 MB from a local HTTP server, fetched
//! by stitch's downloader (3 parallel), by `curl -o` one file after another, and by
//! `xargs -P 3 curl`, in one run. Run: `cargo bench --bench download` (needs curl).
//! Reports MB/s and the ratio stitch / parallel curl (target >= 1.0).

#[path = "../tests/fake_server/mod.rs"]
#[allow(dead_code)]
mod fake_server;

use std::process::Command;
use std::time::Instant;

use stitch::download::{DownloadItem, DownloadOptions, Downloader};

const FILES: usize = 500;

fn main() {
    let n: usize = std::env::var("BENCH_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(FILES);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| (format!("/chunks/c{i:04}.mp4"), fake_server::gen_bytes(i as u64, 900_000 + (i * 7919) % 200_000)))
        .collect();
    let total: usize = files.iter().map(|f| f.1.len()).sum();
    let server = rt.block_on(fake_server::FakeServer::start(files.clone()));
    let base = std::env::temp_dir().join(format!("stitch-dl-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let urls: Vec<String> = files.iter().map(|(p, _)| server.url(p)).collect();

    // stitch
    let d1 = base.join("stitch");
    std::fs::create_dir_all(&d1).unwrap();
    let items: Vec<DownloadItem> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| DownloadItem { url: u.clone(), dest: d1.join(format!("c{i:04}.mp4")), expected_size: None })
        .collect();
    let dl = Downloader::new(DownloadOptions { concurrency: 3, ..Default::default() }).unwrap();
    let t = Instant::now();
    let res = rt.block_on(dl.run(items, |_| {}));
    let stitch_s = t.elapsed().as_secs_f64();
    assert!(res.iter().all(|r| r.is_ok()), "stitch download failed");

    // curl, sequential
    let d2 = base.join("curl-seq");
    std::fs::create_dir_all(&d2).unwrap();
    let t = Instant::now();
    for (i, u) in urls.iter().enumerate() {
        let st = Command::new("curl")
            .args(["-s", "-f", "-o"])
            .arg(d2.join(format!("c{i:04}.mp4")))
            .arg(u)
            .status()
            .expect("curl");
        assert!(st.success());
    }
    let seq_s = t.elapsed().as_secs_f64();

    // xargs -P 3 curl
    let d3 = base.join("curl-par");
    std::fs::create_dir_all(&d3).unwrap();
    let list = base.join("urls.txt");
    std::fs::write(&list, urls.join("\n")).unwrap();
    let t = Instant::now();
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("cd '{}' && xargs -P 3 -n 1 curl -s -f -O < '{}'", d3.display(), list.display()))
        .status()
        .expect("xargs curl");
    assert!(st.success());
    let par_s = t.elapsed().as_secs_f64();

    let mb = total as f64 / 1e6;
    println!("{n} files, {mb:.0} MB on loopback");
    println!("  stitch downloader (3 parallel): {stitch_s:6.2} s  {:7.1} MB/s", mb / stitch_s);
    println!("  curl -o, sequential           : {seq_s:6.2} s  {:7.1} MB/s", mb / seq_s);
    println!("  xargs -P 3 curl               : {par_s:6.2} s  {:7.1} MB/s", mb / par_s);
    println!("RATIO stitch / parallel curl (speed) = {:.2}", par_s / stitch_s);
    println!("RATIO stitch / sequential curl (speed) = {:.2}", seq_s / stitch_s);
    let _ = std::fs::remove_dir_all(&base);
}
