//! `regex.split` with the edge rules of Go's `regexp.Split(s, -1)`.
//!
//! Go walks the matches and keeps the text before each one, except before a
//! match that ends at the very start; the rest after the last match is kept
//! unless that match starts at the end. So `regex.split("x*", "axbxc")` is
//! `["a", "b", "c"]` in OPA, where splitting at every match would also give
//! an empty piece at each edge. The pattern syntax is the engine's.

use regorus::Value;

use super::{BuiltinError, Outcome, string_arg};

pub(super) fn split(args: &[Value]) -> Outcome {
    let pattern = string_arg(args, 0)?;
    let text = string_arg(args, 1)?;
    let regex = regex::Regex::new(pattern)
        .map_err(|err| BuiltinError::new(format!("invalid pattern: {err}")))?;
    let pieces = go_split(&regex, pattern.is_empty(), text);
    Ok(Value::from(
        pieces.into_iter().map(Value::from).collect::<Vec<_>>(),
    ))
}

fn go_split<'t>(regex: &regex::Regex, empty_pattern: bool, text: &'t str) -> Vec<&'t str> {
    if !empty_pattern && text.is_empty() {
        return vec![""];
    }

    let mut pieces = Vec::new();
    let (mut begin, mut end) = (0, 0);
    for found in regex.find_iter(text) {
        end = found.start();
        if found.end() != 0 {
            pieces.push(text.get(begin..end).unwrap_or_default());
        }
        begin = found.end();
    }

    if end != text.len() {
        pieces.push(text.get(begin..).unwrap_or_default());
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_text(pattern: &str, text: &str) -> Vec<String> {
        let regex = regex::Regex::new(pattern).unwrap();
        go_split(&regex, pattern.is_empty(), text)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn empty_matches_at_the_edges_leave_no_empty_pieces() {
        assert_eq!(split_text("x*", "axbxc"), ["a", "b", "c"]);
        assert_eq!(split_text("", "abc"), ["a", "b", "c"]);
    }

    #[test]
    fn separators_at_the_edges_keep_empty_pieces() {
        assert_eq!(split_text(",", ",a,"), ["", "a", ""]);
        assert_eq!(split_text(",", "a,b"), ["a", "b"]);
        assert_eq!(split_text(",", ""), [""]);
        assert_eq!(split_text(",", "abc"), ["abc"]);
    }
}
