//! Resume state of an HLS VOD recording: `.NAME.stitch-state.json` beside the output
//! `NAME` (and its hidden raw temporaries).
//!
//! Segments are written strictly in playlist order, so "the first N segments are in the raw
//! file, which was L bytes long after the N-th" describes the work done exactly. After every
//! segment is flushed to its raw file the state is rewritten atomically (temporary file +
//! rename, so a `kill -9` leaves either the old or the new state, never half of one). A rerun
//! with the same URL, output and options truncates each raw file to its committed length
//! and continues at segment N+1; anything else starts over. A raw file shorter than its
//! committed length (the system crashed before the data reached the disk) starts over too.
//! The state and the temporaries are removed when the output is complete.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What must be equal for a rerun to continue an earlier one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateKey {
    pub url: String,
    pub format: String,
    pub quality: String,
    pub audio: Option<String>,
    pub kind: String,
    /// Hash of `--key` (the bytes themselves are not stored).
    pub key_hash: Option<u64>,
}

/// One track (the variant, or its separate audio rendition).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackState {
    /// The raw file and its container (`ts`, `mp4`, `aac`).
    pub raw: PathBuf,
    pub raw_kind: String,
    /// Segments of the playlist written (the first `segments` ones).
    pub segments: u64,
    /// Media sequence number of the last one.
    pub last_seq: u64,
    /// Raw file length after them.
    pub raw_len: u64,
    /// Where the last segment starts in the raw file (TS: the joiner's state is rebuilt
    /// from it).
    pub last_start: u64,
    /// The EXT-X-MAP identity of the open fMP4 section.
    pub map_id: Option<String>,
    /// Media bytes downloaded, seconds recorded, EXT-X-GAP segments skipped.
    pub bytes: u64,
    pub recorded_secs: f64,
    pub gaps: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub key: StateKey,
    /// `[main]` or `[main, audio]`; `None` until the track wrote its first segment.
    pub tracks: Vec<Option<TrackState>>,
}

pub const VERSION: u32 = 1;

/// `DIR/.NAME.stitch-state.json` for the output `DIR/NAME`.
pub fn state_path(output: &Path) -> PathBuf {
    let name = output.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "stream".into());
    output.with_file_name(format!(".{name}.stitch-state.json"))
}

/// The state at `path`; `None` when there is none or it cannot be read (then it is
/// ignored: the recording starts over).
pub fn load(path: &Path) -> Option<State> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice::<State>(&text).ok().filter(|s| s.version == VERSION)
}

/// Write `state` to `path` atomically.
pub fn save(path: &Path, state: &State) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let body = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path)
}

pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// A stable 64-bit hash (FNV-1a) of `--key`, so a different key starts over.
pub fn key_hash(k: &[u8; 16]) -> u64 {
    crate::remote::fnv1a64(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State {
            version: VERSION,
            key: StateKey {
                url: "http://h/x.m3u8".into(),
                format: "ts".into(),
                quality: "Best".into(),
                audio: None,
                kind: "Auto".into(),
                key_hash: None,
            },
            tracks: vec![Some(TrackState {
                raw: "/tmp/.a.ts.rec.ts".into(),
                raw_kind: "ts".into(),
                segments: 3,
                last_seq: 2,
                raw_len: 188 * 10,
                last_start: 188 * 7,
                map_id: None,
                bytes: 2000,
                recorded_secs: 6.0,
                gaps: 0,
            })],
        }
    }

    #[test]
    fn round_trip_and_atomic_write() {
        let d = std::env::temp_dir().join(format!("stitch-resume-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = state_path(&d.join("out.mp4"));
        assert_eq!(p, d.join(".out.mp4.stitch-state.json"));
        save(&p, &state()).unwrap();
        assert_eq!(load(&p), Some(state()));
        assert!(!d.join(".out.mp4.stitch-state.json.tmp").exists());
        // Corrupted or foreign state: ignored.
        std::fs::write(&p, b"{\"version\": 1, \"key\": 3").unwrap();
        assert_eq!(load(&p), None);
        let mut s = state();
        s.version = 99;
        save(&p, &s).unwrap();
        assert_eq!(load(&p), None);
        remove(&p);
        assert!(!p.exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn key_hash_differs() {
        assert_ne!(key_hash(&[0; 16]), key_hash(&[1; 16]));
    }
}
