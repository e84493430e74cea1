//! Build information for `stitch --version`: the git commit (read from `.git` directly; no
//! process is started) and the cargo features built in.

use std::fs;
use std::path::{Path, PathBuf};

/// The `.git` directory of this checkout (a worktree's `.git` file points to it).
fn git_dir(root: &Path) -> Option<PathBuf> {
    let dot = root.join(".git");
    if dot.is_dir() {
        return Some(dot);
    }
    let text = fs::read_to_string(&dot).ok()?;
    let p = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
    Some(if p.is_absolute() { p } else { root.join(p) })
}

fn commit(git: &Path) -> Option<String> {
    let head = fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(r) = head.strip_prefix("ref:") else {
        return Some(head.to_string());
    };
    let r = r.trim();
    println!("cargo:rerun-if-changed={}", git.join(r).display());
    // Worktrees keep refs in the common dir.
    let common =
        fs::read_to_string(git.join("commondir")).ok().map(|c| git.join(c.trim())).unwrap_or_else(|| git.to_path_buf());
    for base in [git, common.as_path()] {
        if let Ok(h) = fs::read_to_string(base.join(r)) {
            return Some(h.trim().to_string());
        }
        if let Ok(packed) = fs::read_to_string(base.join("packed-refs")) {
            if let Some(line) = packed.lines().find(|l| l.ends_with(&format!(" {r}"))) {
                return line.split_whitespace().next().map(str::to_string);
            }
        }
    }
    None
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    // Tests only: `cfg(corpus_missing)` when ../shared/corpus is absent, so the corpus
    // tests are reported ignored instead of passing without checking anything.
    println!("cargo::rustc-check-cfg=cfg(corpus_missing)");
    let manifest = root.join("../shared/corpus/MANIFEST.tsv");
    println!("cargo:rerun-if-changed={}", manifest.display());
    if !manifest.is_file() {
        println!("cargo:rustc-cfg=corpus_missing");
    }
    let hash = git_dir(&root).and_then(|g| {
        println!("cargo:rerun-if-changed={}", g.join("HEAD").display());
        commit(&g)
    });
    let short = hash.as_deref().map(|h| h.chars().take(12).collect::<String>()).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=STITCH_GIT_COMMIT={short}");
    let ffmpeg = std::env::var_os("CARGO_FEATURE_FFMPEG").is_some();
    println!("cargo:rustc-env=STITCH_FEATURE_FFMPEG={}", if ffmpeg { "yes" } else { "no" });
    println!(
        "cargo:rustc-env=STITCH_DECODERS={}",
        if ffmpeg {
            "H.264 (OpenH264), AAC (FDK), and every codec of the linked libavcodec"
        } else {
            "H.264 (OpenH264), AAC (FDK)"
        }
    );
    println!("cargo:rerun-if-changed=build.rs");
}
