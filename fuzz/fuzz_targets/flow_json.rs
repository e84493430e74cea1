//! Flow JSON parser on arbitrary bytes.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use media::timeline::flow::{Flow, MAX_CLIPS};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Flow::parse(data, Path::new("/base")) {
        assert!(f.clips.len() <= MAX_CLIPS);
        if let Some(d) = f.duration {
            assert!(d >= 0, "negative flow duration {d}");
        }
        for c in &f.clips {
            assert!(!c.url.trim().is_empty(), "clip with an empty url");
            if let Some(m) = c.max_len {
                assert!(m >= 0, "negative clip length {m}");
            }
        }
    }
});
