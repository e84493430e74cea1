//! Flow JSON parser on arbitrary bytes. Besides the bounds: a clip or slide is remote
//! (`Remote::Pending`, empty path) exactly when its url is http(s); otherwise it has a path.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use media::time::Ticks90k;
use media::timeline::flow::{is_http_url, Flow, Remote, MAX_CLIPS};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Flow::parse(data, Path::new("/base")) {
        assert!(f.clips.len() <= MAX_CLIPS);
        if let Some(d) = f.duration {
            assert!(d >= Ticks90k::ZERO, "negative flow duration {d}");
        }
        for c in &f.clips {
            assert!(!c.url.trim().is_empty(), "clip with an empty url");
            if let Some(m) = c.max_len {
                assert!(m >= Ticks90k::ZERO, "negative clip length {m}");
            }
            assert_eq!(is_http_url(&c.url), c.remote == Some(Remote::Pending), "{c:?}");
            assert_eq!(c.remote.is_some(), c.path.as_os_str().is_empty(), "{c:?}");
        }
        for s in &f.slides {
            assert_eq!(is_http_url(&s.url), s.remote == Some(Remote::Pending), "{s:?}");
            assert_eq!(s.remote.is_some(), s.path.as_os_str().is_empty(), "{s:?}");
        }
    }
});
