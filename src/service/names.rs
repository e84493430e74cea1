//! Names that become parts of object keys and file names: the only way a name from outside
//! (an API path, a job parameter, a flow) gets into a key or a path. std only, so the fuzz
//! target `serve_names` includes this file by path.

/// A name refused as (part of) an object key.
#[derive(Debug)]
pub struct BadName(pub String);

impl std::fmt::Display for BadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadName {}

/// `name` as one path segment of an object key, or why not.
pub fn sanitize_name(name: &str) -> Result<String, BadName> {
    if name.is_empty() || name.len() > 200 {
        return Err(BadName(format!("name {name:?}: 1 to 200 characters")));
    }
    if name == "." || name == ".." || name.contains("..") {
        return Err(BadName(format!("name {name:?}: `..` is not allowed")));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(BadName(format!("name {name:?}: character {c:?} is not allowed (letters, digits, `.`, `_`, `-`)")));
    }
    if name.starts_with('.') {
        return Err(BadName(format!("name {name:?}: may not start with `.`")));
    }
    Ok(name.to_string())
}

/// A name that passes [`sanitize_name`], from any file name.
pub fn safe_file_name(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    while out.contains("..") {
        out = out.replace("..", "_");
    }
    let out = out.trim_start_matches('.').to_string();
    let mut out = if out.is_empty() { "output".to_string() } else { out };
    out.truncate(200);
    out
}

/// An uploaded input's key `inputs/<upload>/<name>` as (upload, name), both sanitized.
pub fn split_input_key(k: &str) -> Result<(String, String), BadName> {
    let parts: Vec<&str> = k.split('/').collect();
    match parts.as_slice() {
        ["inputs", upload, name] => Ok((sanitize_name(upload)?, sanitize_name(name)?)),
        _ => Err(BadName(format!("{k:?}: expected an uploaded input key inputs/<upload>/<name>"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz target's properties on random and hand-picked strings.
    #[test]
    fn accepted_names_are_single_safe_segments() {
        let mut rng = fastrand::Rng::with_seed(15);
        let alphabet = ['a', 'Z', '0', '.', '/', '\\', '_', '-', ' ', '\0', '\n', 'é', ':', '%'];
        let mut cases: Vec<String> =
            ["..", "../x", "a/../b", ".x", "x.", "a..b", "inputs/u/f.json", "inputs/../f", "a\u{202e}b"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        for _ in 0..20_000 {
            let len = rng.usize(0..12);
            cases.push((0..len).map(|_| alphabet[rng.usize(0..alphabet.len())]).collect());
        }
        for s in &cases {
            if let Ok(n) = sanitize_name(s) {
                assert!(!n.contains('/') && !n.contains('\\') && !n.contains("..") && !n.starts_with('.'), "{s:?}");
                assert!(std::path::Path::new("/base").join(&n).components().count() == 3, "{s:?}");
            }
            assert!(sanitize_name(&safe_file_name(s)).is_ok(), "{s:?} -> {:?}", safe_file_name(s));
            if let Ok((u, n)) = split_input_key(s) {
                assert_eq!(*s, format!("inputs/{u}/{n}"));
            }
        }
    }
}
