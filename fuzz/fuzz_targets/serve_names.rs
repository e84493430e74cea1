//! `stitch serve` names on arbitrary input: a name either is refused or is one safe key
//! segment (no separator, no `..`, no leading dot, no control character), `safe_file_name`
//! always yields an accepted name, and an accepted input key splits into accepted names.
#![no_main]

#[path = "../../src/service/names.rs"]
mod names;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(n) = names::sanitize_name(&s) {
        assert_eq!(n, s);
        assert!(!n.is_empty() && n.len() <= 200);
        assert!(!n.contains('/') && !n.contains('\\') && !n.contains("..") && !n.starts_with('.'));
        assert!(n.bytes().all(|b| b.is_ascii_graphic()));
        let joined = std::path::Path::new("/base").join(&n);
        assert!(joined.starts_with("/base") && joined.components().count() == 3, "{n:?} escaped");
    }
    let safe = names::safe_file_name(&s);
    assert!(names::sanitize_name(&safe).is_ok(), "{s:?} -> {safe:?}");
    if let Ok((up, name)) = names::split_input_key(&s) {
        assert_eq!(s, format!("inputs/{up}/{name}"));
        assert!(names::sanitize_name(&up).is_ok() && names::sanitize_name(&name).is_ok());
    }
});
