//! Test support only: `cfg(corpus_missing)` when the shared real-world corpus
//! (`../shared/corpus` beside the workspace) is absent, so the tests that read it are
//! reported as ignored instead of passing without checking anything.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(corpus_missing)");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let manifest = Path::new(&dir).join("../../shared/corpus/MANIFEST.tsv");
    println!("cargo::rerun-if-changed={}", manifest.display());
    println!("cargo::rerun-if-changed=build.rs");
    if !manifest.is_file() {
        println!("cargo::rustc-cfg=corpus_missing");
    }
}
