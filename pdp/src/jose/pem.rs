//! PEM blocks (RFC 7468), read the way Go's `encoding/pem` reads them, so
//! that keys and certificates OPA accepts are accepted here too.
//!
//! [`decode`] finds the first block in a text, skipping anything before it,
//! and returns what follows the block's end line. Optional RFC 1421 headers
//! (`Name: value` lines before a blank line) are skipped.

use base64::Engine as _;

/// One decoded PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The label: `CERTIFICATE`, `PUBLIC KEY`, ...
    pub label: String,
    /// The decoded contents.
    pub bytes: Vec<u8>,
}

const BEGIN: &str = "-----BEGIN ";
const DASHES: &str = "-----";

/// Finds and decodes the first PEM block in `text`; also returns the text
/// after the block's end line. `None` when there is no well-formed block.
pub fn decode(text: &str) -> Option<(Block, &str)> {
    let mut search = text;
    loop {
        let start = search.find(BEGIN)?;
        // A begin marker must start a line.
        if start > 0 && !search[..start].ends_with('\n') {
            search = &search[start + BEGIN.len()..];
            continue;
        }
        let after_begin = &search[start + BEGIN.len()..];
        let (line, body) = split_line(after_begin);
        let Some(label) = line.trim_end().strip_suffix(DASHES) else {
            search = after_begin;
            continue;
        };
        match decode_body(label, body) {
            Some(found) => return Some(found),
            None => search = after_begin,
        }
    }
}

fn decode_body<'a>(label: &str, body: &'a str) -> Option<(Block, &'a str)> {
    let end_marker = format!("-----END {label}-----");
    let end = body.find(&end_marker)?;
    let content = &body[..end];
    let (after_end_line, rest) = split_line(&body[end + end_marker.len()..]);
    if !after_end_line.trim().is_empty() {
        return None;
    }

    let content = skip_headers(content);
    let encoded: String = content.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    Some((
        Block {
            label: label.to_owned(),
            bytes,
        },
        rest,
    ))
}

/// RFC 1421 headers end at the first blank line; a body without a colon on
/// its first line has none.
fn skip_headers(content: &str) -> &str {
    let first = content.lines().next().unwrap_or_default();
    if !first.contains(':') {
        return content;
    }
    content
        .split_once("\n\n")
        .or_else(|| content.split_once("\r\n\r\n"))
        .map_or(content, |(_, body)| body)
}

fn split_line(text: &str) -> (&str, &str) {
    match text.find('\n') {
        Some(i) => (text[..i].trim_end_matches('\r'), &text[i + 1..]),
        None => (text, ""),
    }
}
