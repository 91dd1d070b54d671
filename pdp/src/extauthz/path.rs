//! `parsed_path` and `parsed_query`, with Go's `net/url` semantics.
//!
//! OPA-Envoy splits the request target at the first `?`, percent-decodes the
//! path as Go's `url.PathUnescape` does (no `+` to space), strips every
//! leading `/` and splits on `/`. Stripping all leading slashes is a
//! security fix: reading `//admin/x` as a URL authority once turned it into
//! `["x"]` and let requests slip past path rules. The query is parsed as Go's
//! `url.ParseQuery` does: `&`-separated pairs, `+` as space, repeated keys
//! kept in order, and a `;` or a bad escape is an error, which the caller
//! answers with 400.

use std::collections::BTreeMap;

/// A request target that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// A `%` not followed by two hex digits.
    #[error("invalid URL escape `{0}`")]
    BadEscape(String),
    /// A `;` in a query key, which Go refuses since 1.17.
    #[error("invalid semicolon separator in query")]
    Semicolon,
}

/// The path segments and query parameters of a request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedTarget {
    /// Decoded path segments; `/` gives `[""]`.
    pub path: Vec<String>,
    /// Each query key with its values, in order of appearance.
    pub query: BTreeMap<String, Vec<String>>,
}

/// Parses `target` (path and query, as in `:path`).
pub fn parse_target(target: &str) -> Result<ParsedTarget, TargetError> {
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));

    let decoded = unescape(raw_path, Mode::Path)?;
    let path = decoded
        .trim_start_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();

    Ok(ParsedTarget {
        path,
        query: parse_query(raw_query)?,
    })
}

/// Checks `target` as [`parse_target`] would, without building anything:
/// `Ok` exactly when `parse_target` succeeds, with the same first error.
pub fn check_target(target: &str) -> Result<(), TargetError> {
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    check_escapes(raw_path)?;
    let mut first_error = None;
    for pair in raw_query.split('&') {
        if pair.is_empty() {
            continue;
        }
        if pair.contains(';') {
            first_error.get_or_insert(TargetError::Semicolon);
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let Err(err) = check_escapes(key).and_then(|()| check_escapes(value)) {
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Every `%` is followed by two hex digits.
fn check_escapes(s: &str) -> Result<(), TargetError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'%') {
        let at = i + offset;
        let ok = bytes
            .get(at + 1..at + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
        if !ok {
            let end = (at + 3).min(bytes.len());
            return Err(TargetError::BadEscape(
                String::from_utf8_lossy(&bytes[at..end]).into_owned(),
            ));
        }
        i = at + 3;
    }
    Ok(())
}

/// Parses a query string (or a form-encoded body) the way Go's
/// `url.ParseQuery` does. Like Go, it keeps parsing after a bad pair and
/// reports the first error; the caller refuses the request on any error.
pub fn parse_query(raw: &str) -> Result<BTreeMap<String, Vec<String>>, TargetError> {
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut first_error = None;

    for pair in raw.split('&') {
        if pair.is_empty() {
            continue;
        }
        if pair.contains(';') {
            first_error.get_or_insert(TargetError::Semicolon);
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = match unescape(key, Mode::Query) {
            Ok(key) => key,
            Err(err) => {
                first_error.get_or_insert(err);
                continue;
            }
        };
        let value = match unescape(value, Mode::Query) {
            Ok(value) => value,
            Err(err) => {
                first_error.get_or_insert(err);
                continue;
            }
        };
        query.entry(key).or_default().push(value);
    }

    match first_error {
        Some(err) => Err(err),
        None => Ok(query),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Query,
}

/// Percent-decoding. Decoded bytes that are not UTF-8 are replaced, as Go
/// strings would carry them and OPA would then see replacement characters.
fn unescape(s: &str, mode: Mode) -> Result<String, TargetError> {
    if !s.contains(['%', '+']) {
        return Ok(s.to_owned());
    }

    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                    let h = std::str::from_utf8(h).ok()?;
                    u8::from_str_radix(h, 16)
                        .ok()
                        .filter(|_| h.bytes().all(|b| b.is_ascii_hexdigit()))
                });
                let Some(byte) = hex else {
                    let end = (i + 3).min(bytes.len());
                    let shown = String::from_utf8_lossy(&bytes[i..end]).into_owned();
                    return Err(TargetError::BadEscape(shown));
                };
                out.push(byte);
                i += 3;
            }
            b'+' if mode == Mode::Query => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(target: &str) -> Vec<String> {
        parse_target(target).unwrap().path
    }

    fn q(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    #[test]
    fn splits_path_and_repeated_query_keys_like_opa_envoy() {
        let parsed = parse_target("/my/test/path?a=1&a=2").unwrap();
        assert_eq!(parsed.path, ["my", "test", "path"]);
        assert_eq!(parsed.query, q(&[("a", &["1", "2"])]));
    }

    #[test]
    fn decodes_escaped_slashes_before_splitting() {
        assert_eq!(path("%2Fmy%2Ftest%2Fpath"), ["my", "test", "path"]);
    }

    #[test]
    fn double_slash_is_not_read_as_an_authority() {
        assert_eq!(path("//admin/dashboard"), ["admin", "dashboard"]);
        assert_eq!(path("///admin"), ["admin"]);
    }

    #[test]
    fn root_and_trailing_slash_keep_empty_segments() {
        assert_eq!(path("/"), [""]);
        assert_eq!(path("/a/"), ["a", ""]);
        assert_eq!(path(""), [""]);
    }

    #[test]
    fn plus_is_literal_in_paths_and_a_space_in_queries() {
        let parsed = parse_target("/a+b?x=c+d&y=%2B").unwrap();
        assert_eq!(parsed.path, ["a+b"]);
        assert_eq!(parsed.query, q(&[("x", &["c d"]), ("y", &["+"])]));
    }

    #[test]
    fn keys_without_values_and_empty_pairs() {
        let parsed = parse_target("/p?flag&&k=&=v").unwrap();
        assert_eq!(
            parsed.query,
            q(&[("", &["v"]), ("flag", &[""]), ("k", &[""])])
        );
    }

    #[test]
    fn bad_escapes_are_errors() {
        assert_eq!(
            parse_target("/a%zzb"),
            Err(TargetError::BadEscape("%zz".into()))
        );
        assert_eq!(
            parse_target("/a%2"),
            Err(TargetError::BadEscape("%2".into()))
        );
        assert_eq!(
            parse_target("/a?x=%g0"),
            Err(TargetError::BadEscape("%g0".into()))
        );
    }

    #[test]
    fn semicolons_in_queries_are_errors() {
        assert_eq!(parse_target("/a?x=1;y=2"), Err(TargetError::Semicolon));
    }

    #[test]
    fn only_the_first_question_mark_splits() {
        let parsed = parse_target("/a?x=1?2").unwrap();
        assert_eq!(parsed.query, q(&[("x", &["1?2"])]));
    }

    #[test]
    fn escaped_utf8_is_decoded() {
        assert_eq!(path("/caf%C3%A9"), ["café"]);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(target in ".{0,64}") {
            let _ = parse_target(&target);
        }

        #[test]
        fn checking_agrees_with_parsing(target in "[a-z/%?&=;+0-9A-F]{0,40}") {
            proptest::prop_assert_eq!(check_target(&target), parse_target(&target).map(|_| ()));
        }

        #[test]
        fn unescaped_paths_round_trip(segments in proptest::collection::vec("[a-z0-9._~-]{0,8}", 1..6)) {
            let target = format!("/{}", segments.join("/"));
            let mut expected = segments.clone();
            if expected.first().is_some_and(|s| s.is_empty()) && expected.len() > 1 {
                // Leading empty segments are slashes, which are all stripped.
                while expected.len() > 1 && expected[0].is_empty() {
                    expected.remove(0);
                }
            }
            proptest::prop_assert_eq!(path(&target), expected);
        }
    }
}
