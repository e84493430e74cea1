//! Exit codes and error messages of the `stitch` command.
//!
//! | code | meaning |
//! |---:|---|
//! | 0 | done (also: a finished webinar job found again, "already done") |
//! | 1 | runtime failure: a download, a decode, nothing usable in the inputs, a write |
//! | 2 | usage: a bad flag value, conflicting flags, an output that is an input or exists |
//! | 130 | interrupted (Ctrl-C / SIGTERM); run the same command again to resume |
//!
//! Errors are printed as one line: the context, then every cause of the source chain once
//! (a cause whose text the message already ends with, as with `{path}: {source}` errors, is
//! not repeated).

use std::process::ExitCode;

/// A usage error: the command line asks for something stitch refuses (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub const OK: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const INTERRUPTED: u8 = 130;

/// The exit codes as every `--help` shows them (a macro: `concat!` needs a literal).
#[macro_export]
macro_rules! exit_codes_help {
    () => {
        "Exit codes: 0 done, 1 failure (also: no clip usable), 2 usage error (bad flag, output is\n\
         an input or exists), 130 interrupted (run the same command again to resume)."
    };
}

/// Join the messages of an error chain, outermost first, each cause once: a message
/// already contained in an earlier one is dropped (a `{path}: {source}` error repeats its
/// source), and a longer message repeating an earlier, shorter one replaces it.
fn join_once(messages: impl Iterator<Item = String>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for m in messages {
        let s = m.trim();
        if !s.is_empty() && !parts.iter().any(|p| p.contains(s)) {
            parts.retain(|p| !s.contains(p.as_str()));
            parts.push(s.to_string());
        }
    }
    parts.join(": ")
}

/// Every message of an error's source chain, each once, joined by ": ".
pub fn chain_message(e: &(dyn std::error::Error + 'static)) -> String {
    join_once(std::iter::successors(Some(e), |e| e.source()).map(|e| e.to_string()))
}

/// [`chain_message`] of an `anyhow::Error` (its context lines included).
pub fn message(e: &anyhow::Error) -> String {
    join_once(e.chain().map(|e| e.to_string()))
}

/// The exit code for an error: 2 when a [`UsageError`] is in its chain, else 1.
pub fn code_of(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.downcast_ref::<UsageError>().is_some()) {
        USAGE
    } else {
        FAILURE
    }
}

/// Print `stitch: error: ...` and return its exit code.
pub fn report(e: &anyhow::Error) -> ExitCode {
    eprintln!("stitch: error: {}", message(e));
    ExitCode::from(code_of(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn causes_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
        let e = media::Error::Io { path: "/x/a.mp4".into(), source: io };
        let a = anyhow::Error::new(e).context("compiling flow.json");
        assert_eq!(message(&a), "compiling flow.json: /x/a.mp4: No such file or directory (os error 2)");
        assert_eq!(code_of(&a), FAILURE);
    }

    #[test]
    fn a_cause_inside_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let outer = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
        let a = anyhow::Error::new(io).context(outer.to_string()).context("reading flow.json");
        assert_eq!(message(&a), "reading flow.json: No such file or directory (os error 2)");
    }

    #[test]
    fn usage_is_2_through_context() {
        let a: anyhow::Result<()> = Err(UsageError("bad".into())).context("webinar");
        let a = a.unwrap_err();
        assert_eq!(code_of(&a), USAGE);
        assert_eq!(message(&a), "webinar: bad");
    }
}
