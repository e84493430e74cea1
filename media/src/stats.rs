//! Per-stage accounting of a compile, for benchmark-driven tuning (`stitch --stats`).
//!
//! Each stage runs on its own threads (see `pipeline`): demux and decode on the clip reader
//! threads, compose (placement, mixing, compositing) on the timeline thread, encode on the
//! H.264 worker pool (plus the AAC encoder on the timeline thread), mux on the calling
//! thread. A stage's threads add up:
//! - `cpu`: CPU time of those threads spent in the stage (`CLOCK_THREAD_CPUTIME_ID`, read
//!   around the stage's work, so a thread shared by two stages is split between them);
//! - `wall`: wall-clock time the stage's threads existed for it;
//! - `wait` = `wall - cpu`: time blocked on its queues (a full queue downstream, an empty one
//!   upstream, a clip still downloading) or preempted;
//! - `items`: packets (demux), decoded frames (decode), output frames (compose, encode),
//!   packets written (mux);
//! - `workers`: how many threads ran the stage at once, at most.
//!
//! The stage that bounded throughput is the one with the highest *busy share*:
//! `cpu / (elapsed * workers)` (a stage whose every worker is always busy cannot go faster;
//! the others wait on it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The pipeline stages, in data order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Demux = 0,
    Decode = 1,
    Compose = 2,
    Encode = 3,
    Mux = 4,
}

impl Stage {
    pub const ALL: [Stage; 5] = [Stage::Demux, Stage::Decode, Stage::Compose, Stage::Encode, Stage::Mux];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Demux => "demux",
            Stage::Decode => "decode",
            Stage::Compose => "compose",
            Stage::Encode => "encode",
            Stage::Mux => "mux",
        }
    }
}

/// CPU time of the calling thread, nanoseconds (0 where the platform has no such clock).
pub(crate) fn thread_cpu_ns() -> u64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec through a valid pointer.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        }
    }
    0
}

#[derive(Debug, Default)]
struct Counter {
    cpu_ns: AtomicU64,
    wall_ns: AtomicU64,
    items: AtomicU64,
    bytes: AtomicU64,
    active: AtomicU64,
    workers: AtomicU64,
}

/// Shared by every thread of one compile.
#[derive(Debug)]
pub(crate) struct Collector {
    stages: [Counter; 5],
    started: Instant,
}

impl Default for Collector {
    fn default() -> Self {
        Collector { stages: Default::default(), started: Instant::now() }
    }
}

impl Collector {
    fn c(&self, s: Stage) -> &Counter {
        &self.stages[s as usize]
    }

    /// Add CPU and wall time to a stage.
    pub fn add(&self, s: Stage, cpu_ns: u64, wall_ns: u64) {
        let c = self.c(s);
        c.cpu_ns.fetch_add(cpu_ns, Ordering::Relaxed);
        c.wall_ns.fetch_add(wall_ns, Ordering::Relaxed);
    }

    /// Add the time of a finished span to a stage.
    pub fn add_span(&self, s: Stage, span: Span) {
        let (cpu, wall) = span.elapsed();
        self.add(s, cpu, wall);
    }

    pub fn add_items(&self, s: Stage, n: u64) {
        self.c(s).items.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_bytes(&self, s: Stage, n: u64) {
        self.c(s).bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// A thread starts working for `s`: counts towards the stage's `workers` until the
    /// returned guard is dropped.
    pub fn enter(&self, s: Stage) -> Entered<'_> {
        let c = self.c(s);
        let now = c.active.fetch_add(1, Ordering::Relaxed) + 1;
        c.workers.fetch_max(now, Ordering::Relaxed);
        Entered { collector: self, stage: s }
    }

    /// The CPU and wall time of `f` on this thread, added to `s`.
    pub fn time<T>(&self, s: Stage, f: impl FnOnce() -> T) -> T {
        let span = Span::start();
        let r = f();
        self.add_span(s, span);
        r
    }

    /// The figures so far.
    pub fn snapshot(&self) -> StageStats {
        let elapsed = self.started.elapsed().as_secs_f64();
        let stages: Vec<StageFigures> = Stage::ALL
            .iter()
            .map(|&s| {
                let c = self.c(s);
                let cpu = c.cpu_ns.load(Ordering::Relaxed) as f64 / 1e9;
                let wall = c.wall_ns.load(Ordering::Relaxed) as f64 / 1e9;
                let workers = c.workers.load(Ordering::Relaxed) as u32;
                StageFigures {
                    name: s.name(),
                    wall_secs: wall,
                    cpu_secs: cpu,
                    wait_secs: (wall - cpu).max(0.0),
                    items: c.items.load(Ordering::Relaxed),
                    workers,
                    busy_share: if elapsed > 0.0 && workers > 0 { cpu / (elapsed * workers as f64) } else { 0.0 },
                    bytes: c.bytes.load(Ordering::Relaxed),
                }
            })
            .collect();
        let mut s = StageStats { elapsed_secs: elapsed, stages, bound: None };
        s.bound = s.bounding();
        s
    }
}

/// A thread working for a stage (see [`Collector::enter`]).
pub(crate) struct Entered<'a> {
    collector: &'a Collector,
    stage: Stage,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.collector.c(self.stage).active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// CPU (this thread's) and wall time since [`Span::start`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    cpu: u64,
    wall: Instant,
}

impl Span {
    pub fn start() -> Span {
        Span { cpu: thread_cpu_ns(), wall: Instant::now() }
    }

    /// (CPU ns, wall ns) since the start.
    pub fn elapsed(&self) -> (u64, u64) {
        (thread_cpu_ns().saturating_sub(self.cpu), self.wall.elapsed().as_nanos() as u64)
    }
}

/// One stage's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageFigures {
    /// The stage: "demux", "decode", "compose", "encode", "mux" (or one an application adds,
    /// such as "download").
    pub name: &'static str,
    /// Wall-clock seconds the stage's threads existed for it, summed over its threads.
    pub wall_secs: f64,
    /// CPU seconds the stage's threads spent in it, summed over its threads.
    pub cpu_secs: f64,
    /// `wall - cpu`: blocked on queues (or preempted).
    pub wait_secs: f64,
    /// Units of work done: packets (demux, mux), decoded frames (decode), output frames
    /// (compose, encode).
    pub items: u64,
    /// Threads that ran this stage at once, at most.
    pub workers: u32,
    /// `cpu / (elapsed * workers)`.
    pub busy_share: f64,
    /// Bytes the stage moved, where that is its measure (mux: written; download: received).
    pub bytes: u64,
}

/// Every stage of one compile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageStats {
    /// Wall-clock seconds from the start of the compile to this snapshot.
    pub elapsed_secs: f64,
    /// One entry per stage, in data order.
    pub stages: Vec<StageFigures>,
    /// The stage with the highest busy share: the one that bounded throughput.
    pub bound: Option<&'static str>,
}

impl StageStats {
    /// The stage with the highest busy share (among those that did any work).
    pub fn bounding(&self) -> Option<&'static str> {
        self.stages
            .iter()
            .filter(|f| f.cpu_secs > 0.0 || f.busy_share > 0.0)
            .max_by(|a, b| a.busy_share.total_cmp(&b.busy_share))
            .map(|f| f.name)
    }

    /// Add a stage measured outside the pipeline (the application's downloads) in front,
    /// and choose the bounding stage again.
    pub fn with_stage_first(mut self, f: StageFigures) -> StageStats {
        self.stages.insert(0, f);
        self.bound = self.bounding();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Burn `ms` of this thread's CPU time (not wall time: the machine may be loaded).
    fn spin(ms: u64) {
        let start = thread_cpu_ns();
        let t = Instant::now();
        let mut x = 0u64;
        while thread_cpu_ns().saturating_sub(start) < ms * 1_000_000 && t.elapsed().as_secs() < 10 {
            for _ in 0..1000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
    }

    #[test]
    fn busy_stage_is_the_bound_and_waits_are_wall_minus_cpu() {
        let c = Collector::default();
        {
            let _e = c.enter(Stage::Encode);
            c.time(Stage::Encode, || spin(60));
        }
        {
            let _m = c.enter(Stage::Mux);
            c.time(Stage::Mux, || {
                spin(5);
                std::thread::sleep(std::time::Duration::from_millis(50))
            });
        }
        c.add_items(Stage::Mux, 7);
        let s = c.snapshot();
        let enc = &s.stages[Stage::Encode as usize];
        let mux = &s.stages[Stage::Mux as usize];
        if thread_cpu_ns() > 0 {
            assert!(enc.cpu_secs >= 0.04, "{enc:?}");
            assert!(mux.wait_secs >= 0.04, "{mux:?}");
            assert_eq!(s.bound, Some("encode"));
        }
        assert_eq!(mux.items, 7);
        assert_eq!(enc.workers, 1);
        assert_eq!(s.stages.len(), 5);
    }
}
