//! Helpers of the `stitch serve` tests: raw HTTP/1.1 requests, service processes with their
//! JSON logs in files, job polling.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const TOKEN: &str = "test-token-1";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A raw HTTP/1.1 request; (status, body).
pub fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or(b"");
    req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").expect("http head") + 4;
    let head = String::from_utf8_lossy(&out[..head_end]).to_string();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = out[head_end..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, body)
}

/// A raw HTTP/1.1 request with extra headers; (status, JSON body or Null).
pub fn http_json(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut r =
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(r.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let i = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&out[..i]).to_string();
    let st = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut b = out[i..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        b = dechunk(&b);
    }
    (st, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

pub fn dechunk(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(nl) = b[i..].windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[i..i + nl]).trim(), 16).unwrap_or(0);
        i += nl + 2;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[i..i + n]);
        i += n + 2;
    }
    out
}

pub fn json_of(port: u16, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let b = body.map(|v| v.to_string().into_bytes());
    let (st, out) = http(port, method, path, Some(TOKEN), b.as_deref());
    (st, serde_json::from_slice(&out).unwrap_or(Value::Null))
}

/// A `stitch serve|worker` process; killed on drop. Its stderr (JSON logs) goes to a file.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn start(cmd: &str, data: &Path, extra: &[&str], log_name: &str) -> Proc {
        Proc::start_env(cmd, data, extra, log_name, &[])
    }

    /// With extra environment variables (AWS_*).
    pub fn start_env(cmd: &str, data: &Path, extra: &[&str], log_name: &str, env: &[(&str, &str)]) -> Proc {
        let log = data.parent().unwrap().join(log_name);
        let mut c = Command::new(env!("CARGO_BIN_EXE_stitch"));
        c.arg(cmd)
            .arg("--data-dir")
            .arg(data)
            .args(["--api-token", TOKEN])
            .args(extra)
            .env_remove("DATABASE_URL")
            .env_remove("STITCH_STORAGE")
            .envs(env.iter().copied())
            .env("RUST_LOG", "stitch=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        Proc { child: c.spawn().unwrap(), log }
    }
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

pub fn serve(data: &Path, extra: &[&str]) -> (Proc, u16) {
    serve_env(data, extra, &[], 200)
}

/// `stitch serve` with `env`, once `/health` answers `health`.
pub fn serve_env(data: &Path, extra: &[&str], env: &[(&str, &str)], health: u16) -> (Proc, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["--listen", listen.as_str()];
    args.extend_from_slice(extra);
    let p = Proc::start_env("serve", data, &args, &format!("serve-{port}.log"), env);
    let t0 = Instant::now();
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() && http(port, "GET", "/health", None, None).0 == health {
            return (p, port);
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "serve did not start: {}", p.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn wait_job(port: u16, id: &str, limit: Duration, until: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let (st, j) = json_of(port, "GET", &format!("/api/v1/jobs/{id}"), None);
        assert_eq!(st, 200, "{j}");
        if until(&j) {
            return j;
        }
        assert!(t0.elapsed() < limit, "job {id} not there in {limit:?}: {j}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn sha256_of(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

pub fn jobs_cli(port: u16, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stitch"))
        .arg("jobs")
        .args(["--server", &format!("http://127.0.0.1:{port}"), "--token", TOKEN])
        .args(args)
        .output()
        .unwrap()
}

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// `PG_BIN/<tool> args`, as the `postgres` user when running as root (initdb refuses root).
pub fn pg_cmd(tool: &str, args: &[&str]) -> Command {
    let exe = format!("{PG_BIN}/{tool}");
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &exe]).args(args);
        c
    } else {
        let mut c = Command::new(exe);
        c.args(args);
        c
    }
}

/// A throw-away PostgreSQL 15 cluster; stopped (immediate) and removed on drop.
pub struct Pg {
    pub dir: PathBuf,
    pub port: u16,
}

impl Pg {
    pub fn start() -> Option<Pg> {
        if !Path::new(PG_BIN).join("initdb").exists() {
            return None;
        }
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("stitch-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            assert!(Command::new("chown").args(["-R", "postgres"]).arg(&dir).status().unwrap().success());
        }
        let data = dir.join("data");
        let st = pg_cmd(
            "initdb",
            &["-D", data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        )
        .stdout(Stdio::null())
        .status()
        .unwrap();
        assert!(st.success(), "initdb failed");
        let port = free_port();
        let opts =
            format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", dir.display());
        let log = dir.join("pg.log");
        let st =
            pg_cmd("pg_ctl", &["-D", data.to_str().unwrap(), "-o", &opts, "-l", log.to_str().unwrap(), "-w", "start"])
                .stdout(Stdio::null())
                .status()
                .unwrap();
        assert!(st.success(), "postgres did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
        Some(Pg { dir, port })
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ =
            pg_cmd("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]).stdout(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// s3s-fs (SigV4-verifying S3 server over a folder): PATH or ~/.cargo/bin.
pub fn s3s_fs() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let mut cands: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("s3s-fs")).collect())
        .unwrap_or_default();
    cands.push(home.join(".cargo/bin/s3s-fs"));
    cands.into_iter().find(|p| p.is_file())
}

pub struct S3 {
    pub child: Child,
    pub root: PathBuf,
    pub port: u16,
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const AK: &str = "stitchtestaccess";
pub const SK: &str = "stitch-test-secret-key";

impl S3 {
    pub fn start(bin: &Path, root: &Path, bucket: &str) -> S3 {
        S3::start_on(bin, root, bucket, free_port())
    }

    /// On a given port (a restart after [`S3::stop`]: the same endpoint, the same objects).
    pub fn start_on(bin: &Path, root: &Path, bucket: &str, port: u16) -> S3 {
        std::fs::create_dir_all(root.join(bucket)).unwrap();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", AK, "--secret-key", SK])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(20), "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        S3 { child, root: root.to_path_buf(), port }
    }

    /// S3 goes down (the process is killed; its folder stays).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn env(&self, secret: &'static str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", AK.to_string()),
            ("AWS_SECRET_ACCESS_KEY", secret.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", self.port)),
        ]
    }
}

pub fn files_under(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A missing tool: a loud note, and a failure in CI (the test command installs them).
pub fn skipped(why: &str) {
    assert!(std::env::var_os("CI").is_none(), "{why}: CI requires it");
    eprintln!("{why}");
}
