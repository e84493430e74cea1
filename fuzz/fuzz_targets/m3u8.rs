//! HLS playlist parser (`src/hls/playlist.rs`) on arbitrary bytes (decoded as lossy UTF-8),
//! plus variant/audio selection, IV derivation and DRM classification on every success.
//!
//! The parser module depends only on std, `url` and `thiserror`, so it is included by path
//! instead of depending on the whole `stitch` crate (which would drag reqwest, tokio and the
//! codec C libraries into sanitizer builds).
#![no_main]

use libfuzzer_sys::fuzz_target;
use url::Url;

#[allow(dead_code)]
#[path = "../../src/hls/playlist.rs"]
mod playlist;

use playlist::{Playlist, Quality};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let base = Url::parse("http://127.0.0.1:1/dir/index.m3u8").unwrap();
    let Ok(p) = playlist::parse(&text, &base) else { return };
    let drm = playlist::drm_signal(&p);
    let unsupported = playlist::unsupported_encryption(&p);
    match playlist::check_encryption(&p) {
        Ok(()) => assert!(drm.is_none() && unsupported.is_none()),
        Err(e) => assert!(drm.is_some() || unsupported.is_some(), "{e}"),
    }
    assert!(p.warnings().len() <= playlist::MAX_WARNINGS + 1);
    match &p {
        Playlist::Master(m) => {
            for q in [
                Quality::Best,
                Quality::Worst,
                Quality::Height(720),
                Quality::Height(0),
                Quality::MinBandwidth(1_500_000),
                Quality::MinBandwidth(u64::MAX),
            ] {
                if let Some(v) = playlist::select_variant(m, &q) {
                    assert!(!v.i_frame, "an I-frame variant was selected");
                    if let Some(r) = playlist::select_audio(m, v, Some("en")) {
                        assert!(r.uri.is_some());
                        assert_eq!(Some(&r.group_id), v.audio.as_ref());
                    }
                    let _ = playlist::select_audio(m, v, None);
                }
            }
        }
        Playlist::Media(m) => {
            assert!(m.segments.len() <= playlist::MAX_SEGMENTS);
            let mut prev: Option<u64> = None;
            for s in &m.segments {
                let _ = playlist::iv_for(s);
                assert!(s.duration >= 0.0 && s.duration.is_finite());
                if let Some(p) = prev {
                    assert!(s.sequence >= p, "sequence numbers went backwards");
                }
                prev = Some(s.sequence);
                if let Some(r) = s.byte_range {
                    let _ = r.http_range();
                }
            }
        }
    }
    // Any string is a valid input to Quality::parse.
    let _ = Quality::parse(&text);
});
