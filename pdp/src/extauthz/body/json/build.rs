//! Building the engine's value from a JSON body, as Go's decoder reads it:
//! integers of any size exact, `\u` escapes of unpaired surrogates as
//! U+FFFD, containers no deeper than [`MAX_BUILD_DEPTH`].

use std::collections::BTreeMap;

use regorus::Value;

use super::{Invalid, MAX_BUILD_DEPTH, Scalar, Sink};

/// Builds the engine's value, containers open innermost last.
#[derive(Default)]
pub(super) struct Builder {
    open: Vec<Open>,
}

/// A container being built.
enum Open {
    Array(Vec<Value>),
    /// The entries so far and the key of the value being read.
    Object(BTreeMap<Value, Value>, Value),
}

impl Sink for Builder {
    type Out = Value;
    const MAX_DEPTH: usize = MAX_BUILD_DEPTH;

    fn scalar(&mut self, scalar: Scalar<'_>) -> Result<Value, Invalid> {
        Ok(match scalar {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Number(text) => number(text)?,
            Scalar::String(raw) => Value::from(unescape(raw)),
        })
    }

    fn empty(&mut self, object: bool) -> Value {
        if object {
            Value::new_object()
        } else {
            Value::new_array()
        }
    }

    fn open(&mut self, object: bool) {
        self.open.push(if object {
            Open::Object(BTreeMap::new(), Value::Null)
        } else {
            Open::Array(Vec::new())
        });
    }

    fn key(&mut self, raw: &str) {
        if let Some(Open::Object(_, key)) = self.open.last_mut() {
            *key = Value::from(unescape(raw));
        }
    }

    fn add(&mut self, value: Value) {
        match self.open.last_mut() {
            Some(Open::Array(items)) => items.push(value),
            Some(Open::Object(entries, key)) => {
                entries.insert(std::mem::replace(key, Value::Null), value);
            }
            None => {}
        }
    }

    fn close(&mut self) -> Value {
        match self.open.pop() {
            Some(Open::Array(items)) => Value::from(items),
            Some(Open::Object(entries, _)) => Value::from(entries),
            None => Value::Undefined,
        }
    }

    fn top(&self) -> Option<bool> {
        self.open
            .last()
            .map(|open| matches!(open, Open::Object(..)))
    }

    fn depth(&self) -> usize {
        self.open.len()
    }
}

/// The engine's number for a JSON number's text: 64-bit integers as such,
/// larger integers exact, anything else as a double.
fn number(text: &str) -> Result<Value, Invalid> {
    let integral = !text.contains(['.', 'e', 'E']);
    if integral {
        if let Ok(n) = text.parse::<u64>() {
            return Ok(Value::from(n));
        }
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Value::from(n));
        }
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && !integral => Ok(Value::from(f)),
        // An integer beyond 64 bits, or beyond a double in exponent form
        // (`1e400`): the engine keeps it exact, as OPA does.
        _ => Value::from_numeric_string(text).map_err(|_| Invalid::OutOfRange),
    }
}

/// A string's contents with its escapes decoded, the contents already
/// checked by the scanner. A `\u` escape of a surrogate that does
/// not pair with the escape after it is U+FFFD, as in Go, and the escape
/// after it is read on its own.
fn unescape(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = &rest[at + 1..];
        let (decoded, used) = match escape.as_bytes().first() {
            Some(b'u') => unicode_escape(escape),
            Some(b'b') => ('\u{8}', 1),
            Some(b'f') => ('\u{c}', 1),
            Some(b'n') => ('\n', 1),
            Some(b'r') => ('\r', 1),
            Some(b't') => ('\t', 1),
            // `"`, `\\` and `/` stand for themselves.
            Some(&c) => (char::from(c), 1),
            None => break,
        };
        out.push(decoded);
        rest = &escape[used..];
    }
    out.push_str(rest);
    out
}

/// The character of `u` and four hex digits (and of a second such escape
/// completing a surrogate pair), with the bytes it used.
fn unicode_escape(escape: &str) -> (char, usize) {
    let unit = |at: usize| {
        escape
            .get(at..at + 4)
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
    };
    let Some(first) = unit(1) else {
        return (char::REPLACEMENT_CHARACTER, 1);
    };
    if !(0xd800..0xe000).contains(&first) {
        return (
            char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER),
            5,
        );
    }
    let low = escape
        .get(5..7)
        .filter(|marker| *marker == "\\u")
        .and_then(|_| unit(7))
        .filter(|low| (0xdc00..0xe000).contains(low));
    match low {
        Some(low) if first < 0xdc00 => {
            let pair = 0x10000 + ((first - 0xd800) << 10) + (low - 0xdc00);
            (
                char::from_u32(pair).unwrap_or(char::REPLACEMENT_CHARACTER),
                11,
            )
        }
        _ => (char::REPLACEMENT_CHARACTER, 5),
    }
}
