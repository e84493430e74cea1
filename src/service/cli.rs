//! `stitch jobs submit|list|watch|cancel`: the API client.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

#[derive(clap::Args, Debug)]
pub struct JobsArgs {
    /// The server [env: STITCH_SERVER] [default: http://127.0.0.1:8080]
    #[arg(long, global = true)]
    pub server: Option<String>,
    /// API token [env: STITCH_API_TOKEN]
    #[arg(long, global = true)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub cmd: JobsCmd,
}

#[derive(clap::Subcommand, Debug)]
pub enum JobsCmd {
    /// Submit a job: `record URL`, `compile FLOW` (uploads the flow and its local clips),
    /// `webinar LINK`; prints the job id.
    Submit {
        /// webinar, record or compile.
        kind: String,
        /// The URL, flow file or link.
        target: String,
        /// More parameters, NAME=VALUE (the command's flag names, e.g. format=mp4 max_duration=60).
        #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Wait for the job and show its progress (exit 1 when it fails).
        #[arg(long)]
        wait: bool,
    },
    /// List jobs, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Follow a job's progress until it ends (exit 1 when it fails).
    Watch { id: String },
    /// Cancel a job.
    Cancel { id: String },
}

struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(m, format!("{}{path}", self.base)).bearer_auth(&self.token)
    }
}

async fn answer(r: reqwest::Response) -> Result<Value> {
    let status = r.status();
    let text = r.text().await?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    if !status.is_success() {
        let msg = v["error"]["message"].as_str().map(str::to_string).unwrap_or(text);
        bail!("server answered {status}: {msg}");
    }
    Ok(v)
}

fn param_value(v: &str) -> Value {
    serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()))
}

/// Upload a flow and the local files it names (relative to it) under one upload name.
async fn upload_flow(c: &Client, flow: &Path) -> Result<String> {
    let text = std::fs::read_to_string(flow).with_context(|| format!("reading {}", flow.display()))?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", flow.display()))?;
    let dir = flow.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = Vec::new();
    fn walk(v: &Value, dir: &Path, out: &mut Vec<PathBuf>) {
        match v {
            Value::String(s) if !s.contains("://") && !s.is_empty() => {
                let p = dir.join(s);
                if p.is_file() && !out.contains(&p) {
                    out.push(p);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, dir, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, dir, out)),
            _ => {}
        }
    }
    walk(&v, dir, &mut files);
    let up = uuid::Uuid::new_v4().simple().to_string();
    let name_of = |p: &Path| p.file_name().and_then(|n| n.to_str()).map(str::to_string).unwrap_or_default();
    for f in files.iter().chain(std::iter::once(&flow.to_path_buf())) {
        let body = tokio::fs::read(f).await.with_context(|| format!("reading {}", f.display()))?;
        let n = name_of(f);
        answer(c.req(reqwest::Method::PUT, &format!("/api/v1/inputs/{up}/{n}")).body(body).send().await?)
            .await
            .with_context(|| format!("uploading {}", f.display()))?;
    }
    Ok(format!("inputs/{up}/{}", name_of(flow)))
}

/// Follow the event stream; returns the final status.
async fn watch(c: &Client, id: &str) -> Result<String> {
    use futures_util::StreamExt;
    let r = c.req(reqwest::Method::GET, &format!("/api/v1/jobs/{id}/events")).send().await?;
    if !r.status().is_success() {
        answer(r).await?;
        bail!("no event stream");
    }
    let mut s = r.bytes_stream();
    let mut buf = String::new();
    let mut last_status = String::new();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    while let Some(chunk) = s.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(i) = buf.find("\n\n") {
            let ev: String = buf.drain(..i + 2).collect();
            let Some(data) = ev.lines().find_map(|l| l.strip_prefix("data:")) else { continue };
            let Ok(v) = serde_json::from_str::<Value>(data.trim()) else { continue };
            last_status = v["status"].as_str().unwrap_or("").to_string();
            let pct = v["progress"]["percent"].as_f64();
            let stage = v["progress"]["stage"].as_str().unwrap_or("");
            let bar = pct.map(|p| {
                let n = (p / 5.0).round() as usize;
                format!("[{}{}] {p:5.1}%", "#".repeat(n.min(20)), " ".repeat(20 - n.min(20)))
            });
            let line = format!("{id} {last_status} {} {stage}", bar.unwrap_or_default());
            if tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            if let Some(e) = v["error"]["message"].as_str() {
                if last_status == "failed" {
                    eprintln!("\nerror [{}]: {e}", v["error"]["id"].as_str().unwrap_or(""));
                }
            }
        }
    }
    if tty {
        eprintln!();
    }
    Ok(last_status)
}

/// Run `stitch jobs ...`; the process exit code.
pub fn run(a: JobsArgs) -> Result<u8> {
    let base = a
        .server
        .or_else(|| std::env::var("STITCH_SERVER").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8080".into())
        .trim_end_matches('/')
        .to_string();
    let token = a
        .token
        .or_else(|| std::env::var("STITCH_API_TOKEN").ok().and_then(|t| t.split(',').next().map(str::to_string)))
        .ok_or_else(|| anyhow!("--token (or STITCH_API_TOKEN) is required"))?;
    let http = reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(10)).build()?;
    let c = Client { base, token, http };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        match a.cmd {
            JobsCmd::Submit { kind, target, params, wait } => {
                let mut p = serde_json::Map::new();
                match kind.as_str() {
                    "record" => {
                        p.insert("url".into(), json!(target));
                    }
                    "webinar" => {
                        p.insert("link".into(), json!(target));
                    }
                    "compile" => {
                        let key = upload_flow(&c, Path::new(&target)).await?;
                        p.insert("flow".into(), json!(key));
                    }
                    other => bail!("unknown job kind {other:?}: webinar, record or compile"),
                }
                for kv in &params {
                    let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("--param {kv:?} is not NAME=VALUE"))?;
                    p.insert(k.trim().replace('-', "_"), param_value(v));
                }
                let v = answer(
                    c.req(reqwest::Method::POST, "/api/v1/jobs")
                        .json(&json!({"kind": kind, "params": p}))
                        .send()
                        .await?,
                )
                .await?;
                let id = v["id"].as_str().ok_or_else(|| anyhow!("no job id in {v}"))?.to_string();
                println!("{id}");
                if wait {
                    let st = watch(&c, &id).await?;
                    return Ok(if st == "succeeded" { 0 } else { 1 });
                }
                Ok(0)
            }
            JobsCmd::List { status, kind, limit } => {
                let mut q = vec![("limit", limit.to_string())];
                q.extend(status.map(|s| ("status", s)));
                q.extend(kind.map(|k| ("kind", k)));
                let qs: Vec<String> = q
                    .iter()
                    .map(|(k, v)| {
                        format!("{k}={}", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>())
                    })
                    .collect();
                let v = answer(c.req(reqwest::Method::GET, &format!("/api/v1/jobs?{}", qs.join("&"))).send().await?)
                    .await?;
                for j in v["jobs"].as_array().into_iter().flatten() {
                    println!(
                        "{}  {:8} {:10} {:>6} {}",
                        j["id"].as_str().unwrap_or(""),
                        j["kind"].as_str().unwrap_or(""),
                        j["status"].as_str().unwrap_or(""),
                        j["progress"]["percent"].as_f64().map(|p| format!("{p:.0}%")).unwrap_or_default(),
                        j["created_at"].as_str().unwrap_or("")
                    );
                }
                Ok(0)
            }
            JobsCmd::Watch { id } => {
                let st = watch(&c, &id).await?;
                Ok(if st == "succeeded" { 0 } else { 1 })
            }
            JobsCmd::Cancel { id } => {
                let v =
                    answer(c.req(reqwest::Method::POST, &format!("/api/v1/jobs/{id}/cancel")).send().await?).await?;
                println!("{} {}", v["id"].as_str().unwrap_or(""), v["status"].as_str().unwrap_or(""));
                Ok(0)
            }
        }
    })
}
