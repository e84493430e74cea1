//! Output files: which container a name asks for, and the rules that keep a user's files
//! safe.
//!
//! - [`container_for`]: `.mp4 .m4v .mov` are MP4, `.ts .m2ts .mts` are MPEG-TS; `--format`
//!   must agree with the extension, and a name with any other extension (or none) needs
//!   `--format`. `-` (standard output) takes `--format`, TS by default.
//! - [`refuse_inputs`]: an output may not be one of the command's inputs. Paths are compared
//!   canonically (symlinks, `..`, relative forms) and, when the output exists, by (device,
//!   inode), which also catches hard links.
//! - [`refuse_existing`]: an existing output is replaced only with `--force`/`-y`.
//!
//! Every refusal is a [`UsageError`] (exit code 2), raised before anything is written.
//! Writers put their data in a temporary file beside the target and rename it at the end
//! (see `media::mux`), so a killed run never leaves a half file under the final name; its
//! temporaries are overwritten by the next run of the same command.

use std::path::{Path, PathBuf};

use media::Container;

use crate::exit::UsageError;

/// Extensions of each container, lower case, first = canonical.
pub const MP4_EXTS: [&str; 3] = ["mp4", "m4v", "mov"];
pub const TS_EXTS: [&str; 3] = ["ts", "m2ts", "mts"];

/// Is this output `-` (standard output)?
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The container an output name asks for, checked against `--format`.
pub fn container_for(path: &Path, format: Option<Container>) -> Result<Container, UsageError> {
    if is_stdout(path) {
        return Ok(format.unwrap_or(Container::Ts));
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let from_ext = match ext.as_deref() {
        Some(e) if MP4_EXTS.contains(&e) => Some(Container::Mp4),
        Some(e) if TS_EXTS.contains(&e) => Some(Container::Ts),
        _ => None,
    };
    match (from_ext, format) {
        (Some(k), None) => Ok(k),
        (Some(k), Some(f)) if k == f => Ok(k),
        (Some(k), Some(f)) => Err(UsageError(format!(
            "--format {} contradicts the extension of {} (an {} name); rename the output or drop --format",
            f.name(),
            path.display(),
            k.name()
        ))),
        (None, Some(f)) => Ok(f),
        (None, None) => Err(UsageError(format!(
            "cannot tell the container of {}: use an extension ({} for MP4, {} for MPEG-TS) or --format mp4|ts",
            path.display(),
            MP4_EXTS.map(|e| format!(".{e}")).join(" "),
            TS_EXTS.map(|e| format!(".{e}")).join(" "),
        ))),
    }
}

/// `path` made absolute and canonical as far as it exists: the parent folder is resolved
/// (symlinks, `..`), the file name kept; an existing file (or a symlink to one) is resolved
/// whole.
pub fn canonical(path: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(path) {
        return c;
    }
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    };
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => canonical(parent).join(name),
        _ => abs,
    }
}

#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_path: &Path) -> Option<(u64, u64)> {
    None
}

/// Is `a` the same file as `b` (same canonical path, or same device and inode)?
pub fn same_file(a: &Path, b: &Path) -> bool {
    if canonical(a) == canonical(b) {
        return true;
    }
    matches!((file_id(a), file_id(b)), (Some(x), Some(y)) if x == y)
}

/// Refuse an output that is one of the inputs. `inputs`: (what it is, path).
pub fn refuse_inputs<'a>(
    output: &Path,
    inputs: impl IntoIterator<Item = (&'a str, &'a Path)>,
) -> Result<(), UsageError> {
    if is_stdout(output) {
        return Ok(());
    }
    for (what, input) in inputs {
        if same_file(output, input) {
            return Err(UsageError(format!(
                "the output {} is the same file as the {what} {}; choose another output name (nothing was written)",
                output.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// Refuse to replace an existing output unless `force`. A folder is never replaced.
pub fn refuse_existing(output: &Path, force: bool) -> Result<(), UsageError> {
    if is_stdout(output) {
        return Ok(());
    }
    match std::fs::symlink_metadata(output) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() || output.is_dir() => Err(UsageError(format!(
            "{} is a folder; give a file name such as {}",
            output.display(),
            output.join("out.mp4").display()
        ))),
        Ok(_) if force => Ok(()),
        Ok(_) => Err(UsageError(format!(
            "{} already exists; use --force (-y) to replace it, or choose another name",
            output.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stitch-outpath-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn extension_table() {
        for e in ["mp4", "M4V", "mov"] {
            assert_eq!(container_for(Path::new(&format!("a.{e}")), None).unwrap(), Container::Mp4);
            assert_eq!(container_for(Path::new(&format!("a.{e}")), Some(Container::Mp4)).unwrap(), Container::Mp4);
            assert!(container_for(Path::new(&format!("a.{e}")), Some(Container::Ts)).is_err());
        }
        for e in ["ts", "m2ts", "MTS"] {
            assert_eq!(container_for(Path::new(&format!("a.{e}")), None).unwrap(), Container::Ts);
            assert!(container_for(Path::new(&format!("a.{e}")), Some(Container::Mp4)).is_err());
        }
        for n in ["a.mkv", "a", "a.mp4.part"] {
            let e = container_for(Path::new(n), None).unwrap_err();
            assert!(e.0.contains("--format"), "{e}");
            assert_eq!(container_for(Path::new(n), Some(Container::Ts)).unwrap(), Container::Ts);
        }
        assert_eq!(container_for(Path::new("-"), None).unwrap(), Container::Ts);
        assert_eq!(container_for(Path::new("-"), Some(Container::Mp4)).unwrap(), Container::Mp4);
    }

    #[test]
    fn same_file_catches_links_and_dots() {
        let d = dir("same");
        let a = d.join("a.mp4");
        std::fs::write(&a, b"x").unwrap();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        assert!(same_file(&a, &d.join("sub/../a.mp4")));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&a, d.join("link.mp4")).unwrap();
            assert!(same_file(&d.join("link.mp4"), &a));
            std::fs::hard_link(&a, d.join("hard.mp4")).unwrap();
            assert!(same_file(&d.join("hard.mp4"), &a));
        }
        assert!(!same_file(&d.join("new.mp4"), &a));
        assert!(refuse_inputs(&d.join("sub/../a.mp4"), [("clip", a.as_path())]).is_err());
        assert!(refuse_inputs(&d.join("b.mp4"), [("clip", a.as_path())]).is_ok());
        assert!(refuse_existing(&a, false).is_err());
        assert!(refuse_existing(&a, true).is_ok());
        assert!(refuse_existing(&d, true).is_err());
        assert!(refuse_existing(&d.join("b.mp4"), false).is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }
}
