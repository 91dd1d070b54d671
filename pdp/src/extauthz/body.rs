//! `parsed_body` and `truncated_body`, as OPA-Envoy builds them.
//!
//! The rules, in order: Envoy's `x-envoy-auth-partial-body: true` header
//! means the body was cut, so nothing is parsed; otherwise the
//! `content-type` header (matched as a substring) picks JSON, URL-encoded
//! form or multipart form parsing, and a `content-length` larger than the
//! body received also means it was cut. Anything else parses to `null`. A
//! body that claims to be JSON but is not, a malformed multipart body, or an
//! unreadable `content-length` is a request error, answered with 400.

mod json;

use std::collections::BTreeMap;

use regorus::Value;

use super::path::{TargetError, parse_query};

/// Header Envoy adds when `allow_partial_message` cut the body.
pub const PARTIAL_BODY_HEADER: &str = "x-envoy-auth-partial-body";

/// Why a body could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// `content-type` says JSON, the body is not.
    #[error("body is not valid JSON: {0}")]
    Json(String),
    /// A form body with a bad escape or separator.
    #[error("form body: {0}")]
    Form(#[from] TargetError),
    /// A multipart body that does not follow RFC 7578.
    #[error("multipart body: {0}")]
    Multipart(&'static str),
    /// A multipart part declared as JSON is not.
    #[error("multipart part `{name}` is not valid JSON: {reason}")]
    MultipartJson {
        /// The part's form name.
        name: String,
        /// The JSON parser's message.
        reason: String,
    },
    /// `content-length` is not an integer.
    #[error("content-length `{0}` is not an integer")]
    ContentLength(String),
}

/// The result of body parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedBody {
    /// The parsed value, `null` when nothing was parsed.
    pub value: Value,
    /// Whether the body was cut before it reached the service.
    pub truncated: bool,
}

impl ParsedBody {
    fn none() -> Self {
        Self {
            value: Value::Null,
            truncated: false,
        }
    }

    fn truncated() -> Self {
        Self {
            value: Value::Null,
            truncated: true,
        }
    }
}

/// Whether to build `parsed_body`, or only check the body as OPA-Envoy
/// would parse it (so that a body it refuses is refused either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// Parse and build the value.
    Build,
    /// Check that the body parses; the value is `null`.
    Check,
}

/// Request headers the body rules read. Keys are lowercase, as Envoy sends.
pub trait HeaderLookup {
    /// The (comma-joined) value of header `name`.
    fn header(&self, name: &str) -> Option<&str>;
}

/// Parses the request body. `body` is the UTF-8 body Envoy sends by
/// default; `raw_body` the bytes sent with `pack_as_bytes`.
pub fn parse_body(
    headers: &impl HeaderLookup,
    body: &str,
    raw_body: &[u8],
    mode: BodyMode,
) -> Result<ParsedBody, BodyError> {
    if headers.header(PARTIAL_BODY_HEADER) == Some("true") {
        return Ok(ParsedBody::truncated());
    }
    let Some(content_type) = headers.header("content-type") else {
        return Ok(ParsedBody::none());
    };

    let kind = if content_type.contains("application/json") {
        Kind::Json
    } else if content_type.contains("application/x-www-form-urlencoded") {
        Kind::Form
    } else if content_type.contains("multipart/form-data") {
        Kind::Multipart
    } else {
        return Ok(ParsedBody::none());
    };

    let payload = if !body.is_empty() {
        std::borrow::Cow::Borrowed(body)
    } else if !raw_body.is_empty() {
        String::from_utf8_lossy(raw_body)
    } else {
        return Ok(ParsedBody::none());
    };

    if let Some(length) = headers.header("content-length") {
        let declared: i64 = length
            .trim()
            .parse()
            .map_err(|_| BodyError::ContentLength(length.to_owned()))?;
        if declared != -1 && declared > payload.len() as i64 {
            return Ok(ParsedBody::truncated());
        }
    }

    let value = match (kind, mode) {
        (Kind::Json, BodyMode::Check) => {
            check_json(&payload).map_err(BodyError::Json)?;
            Value::Null
        }
        (Kind::Json, BodyMode::Build) => parse_json(&payload).map_err(BodyError::Json)?,
        (Kind::Form, BodyMode::Check) => {
            parse_query(&payload)?;
            Value::Null
        }
        (Kind::Form, BodyMode::Build) => form_value(&parse_query(&payload)?),
        (Kind::Multipart, _) => match boundary(content_type) {
            Some(boundary) => parse_multipart(&payload, &boundary)?,
            None => Value::Null,
        },
    };
    Ok(ParsedBody {
        value,
        truncated: false,
    })
}

enum Kind {
    Json,
    Form,
    Multipart,
}

fn parse_json(text: &str) -> Result<Value, String> {
    json::parse(text).map_err(|invalid| json_error(text, invalid))
}

/// The same grammar as [`parse_json`], without building anything.
fn check_json(text: &str) -> Result<(), String> {
    json::check(text).map_err(|invalid| json_error(text, invalid))
}

/// Why `text` is not JSON, in words: serde_json's for the grammar (it
/// says where), ours for the limits.
fn json_error(text: &str, invalid: json::Invalid) -> String {
    match invalid {
        json::Invalid::Syntax => serde_json::from_str::<serde::de::IgnoredAny>(text)
            .err()
            .map_or_else(|| "not a JSON value".to_owned(), |err| err.to_string()),
        json::Invalid::TooDeep(limit) => format!("nested deeper than {limit} levels"),
        json::Invalid::OutOfRange => "a number out of range".to_owned(),
    }
}

/// A parsed query or form: each key maps to an array of strings.
pub fn form_value(form: &BTreeMap<String, Vec<String>>) -> Value {
    let mut object = regorus::value::Object::new();
    for (key, values) in form {
        let values: Vec<Value> = values.iter().map(|v| Value::from(v.as_str())).collect();
        object.insert(Value::from(key.as_str()), Value::from(values));
    }
    object.into_value()
}

/// The `boundary` parameter of a `multipart/form-data` content type.
fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// Parses a `multipart/form-data` body: every part with a form name is
/// appended to the array under that name; a part whose own content type is
/// JSON is parsed, any other part is kept as a string.
fn parse_multipart(body: &str, boundary: &str) -> Result<Value, BodyError> {
    let delimiter = format!("--{boundary}");
    let mut values: BTreeMap<String, Vec<Value>> = BTreeMap::new();

    // Everything before the first delimiter is preamble and ignored.
    let Some(start) = body.find(&delimiter) else {
        return Err(BodyError::Multipart("no boundary delimiter found"));
    };
    let mut rest = &body[start + delimiter.len()..];

    loop {
        if rest.starts_with("--") {
            return Ok(multipart_value(values));
        }
        rest = rest
            .strip_prefix("\r\n")
            .or_else(|| rest.strip_prefix('\n'))
            .ok_or(BodyError::Multipart(
                "delimiter not followed by a line break",
            ))?;

        let next = find_delimiter(rest, &delimiter)
            .ok_or(BodyError::Multipart("part is not closed by a delimiter"))?;
        let part = &rest[..next.part_end];
        rest = &rest[next.after_delimiter..];

        let (head, content) = split_part(part)?;
        let headers = part_headers(head);
        let Some(name) = form_name(&headers) else {
            continue;
        };
        let is_json = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.contains("application/json"));
        let value = if is_json {
            parse_json(content).map_err(|reason| BodyError::MultipartJson {
                name: name.clone(),
                reason,
            })?
        } else {
            Value::from(content)
        };
        values.entry(name).or_default().push(value);
    }
}

struct DelimiterAt {
    /// End of the part's content (before the line break ahead of the delimiter).
    part_end: usize,
    /// Position just after the delimiter.
    after_delimiter: usize,
}

fn find_delimiter(rest: &str, delimiter: &str) -> Option<DelimiterAt> {
    let mut from = 0;
    while let Some(found) = rest[from..].find(delimiter) {
        let at = from + found;
        let before = &rest[..at];
        if let Some(content) = before
            .strip_suffix("\r\n")
            .or_else(|| before.strip_suffix('\n'))
        {
            return Some(DelimiterAt {
                part_end: content.len(),
                after_delimiter: at + delimiter.len(),
            });
        }
        from = at + delimiter.len();
    }
    None
}

fn split_part(part: &str) -> Result<(&str, &str), BodyError> {
    if let Some(content) = part
        .strip_prefix("\r\n")
        .or_else(|| part.strip_prefix('\n'))
    {
        return Ok(("", content));
    }
    part.split_once("\r\n\r\n")
        .or_else(|| part.split_once("\n\n"))
        .ok_or(BodyError::Multipart(
            "part headers are not ended by a blank line",
        ))
}

fn part_headers(head: &str) -> Vec<(&str, &str)> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

/// The `name` parameter of a `Content-Disposition: form-data` header.
fn form_name(headers: &[(&str, &str)]) -> Option<String> {
    let (_, disposition) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-disposition"))?;
    let mut params = disposition.split(';');
    if !params.next()?.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    params.find_map(|param| {
        let (key, value) = param.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("name") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (!value.is_empty()).then(|| value.to_owned())
    })
}

fn multipart_value(values: BTreeMap<String, Vec<Value>>) -> Value {
    let mut object = regorus::value::Object::new();
    for (key, items) in values {
        object.insert(Value::from(key), Value::from(items));
    }
    object.into_value()
}

#[cfg(test)]
mod tests;
