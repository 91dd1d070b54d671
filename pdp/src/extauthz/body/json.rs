//! JSON request bodies read as OPA-Envoy reads them, with Go's
//! `encoding/json`: checked when no policy reads `parsed_body`, built into
//! the engine's values when one does.
//!
//! The grammar is RFC 8259's, the same serde_json accepts; the property
//! tests hold the two to the same verdicts on any text, and serde_json
//! words the error when a body fails. Where Go and serde_json part, this
//! follows Go: a `\u` escape of an unpaired surrogate reads as U+FFFD
//! (serde_json refuses it), integers of any size stay exact (serde_json
//! rounds those beyond 64 bits to a double, and refuses `1e400`), and the
//! check refuses nesting deeper than Go's 10,000 levels (serde_json skips
//! any depth). Building stops at 127 levels, as serde_json does: the
//! engine compares, serializes and drops values by recursion, and two
//! values 20,000 levels deep overflow a 2 MiB stack when compared.
//!
//! Checking is one scan with no allocation: about 1,800 instructions on a
//! 113-byte body where serde_json spent 2,400.

use std::collections::BTreeMap;

use regorus::Value;

/// How deep containers may nest in a checked body: Go's `encoding/json`
/// limit.
pub(super) const MAX_DEPTH: usize = 10_000;

/// How deep containers may nest in a built body: serde_json's limit, which
/// keeps the recursion over the built value shallow.
pub(super) const MAX_BUILD_DEPTH: usize = 127;

/// Why a body is not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Invalid {
    /// Not RFC 8259 JSON (serde_json says where).
    Syntax,
    /// Containers nested deeper than the limit it names.
    TooDeep(usize),
    /// A number whose value no engine number holds (beyond a double and
    /// not an integer).
    OutOfRange,
}

/// Checks that `text` is exactly one JSON value, with only whitespace
/// around, building nothing.
pub(super) fn check(text: &str) -> Result<(), Invalid> {
    let mut scan = Scanner::new(text);
    scan.value()?;
    match scan.skip_whitespace() {
        None => Ok(()),
        Some(_) => Err(Invalid::Syntax),
    }
}

/// A container being built.
enum Open {
    Array(Vec<Value>),
    /// The entries so far and the key of the value being read.
    Object(BTreeMap<Value, Value>, Value),
}

/// Builds the value `text` holds.
pub(super) fn parse(text: &str) -> Result<Value, Invalid> {
    let mut scan = Scanner::new(text);
    let mut open: Vec<Open> = Vec::new();
    loop {
        let value = match scan.skip_whitespace() {
            Some(b'n') => scan.word(b"null").then_some(Value::Null),
            Some(b't') => scan.word(b"true").then_some(Value::Bool(true)),
            Some(b'f') => scan.word(b"false").then_some(Value::Bool(false)),
            Some(b'-' | b'0'..=b'9') => {
                let start = scan.at;
                if !scan.number() {
                    return Err(Invalid::Syntax);
                }
                Some(number(&text[start..scan.at])?)
            }
            Some(b'"') => Some(Value::from(scan.string_value(text)?)),
            Some(bracket @ (b'[' | b'{')) => {
                scan.at += 1;
                if open.len() >= MAX_BUILD_DEPTH {
                    return Err(Invalid::TooDeep(MAX_BUILD_DEPTH));
                }
                let object = bracket == b'{';
                let close = if object { b'}' } else { b']' };
                if scan.skip_whitespace() == Some(close) {
                    scan.at += 1;
                    Some(if object {
                        Value::new_object()
                    } else {
                        Value::new_array()
                    })
                } else {
                    open.push(if object {
                        Open::Object(BTreeMap::new(), scan.key_value(text)?)
                    } else {
                        Open::Array(Vec::new())
                    });
                    continue;
                }
            }
            _ => None,
        };
        let Some(mut done) = value else {
            return Err(Invalid::Syntax);
        };

        // Put the value in its container; close the containers that end
        // here, then move to the next element or key.
        loop {
            let Some(container) = open.last_mut() else {
                return match scan.skip_whitespace() {
                    None => Ok(done),
                    Some(_) => Err(Invalid::Syntax),
                };
            };
            let closing = match container {
                Open::Array(items) => {
                    items.push(done);
                    b']'
                }
                Open::Object(entries, key) => {
                    entries.insert(std::mem::replace(key, Value::Null), done);
                    b'}'
                }
            };
            match scan.skip_whitespace() {
                Some(b',') => {
                    scan.at += 1;
                    if let Open::Object(_, key) = container {
                        *key = scan.key_value(text)?;
                    }
                    break;
                }
                Some(c) if c == closing => {
                    scan.at += 1;
                    done = match open.pop() {
                        Some(Open::Array(items)) => Value::from(items),
                        Some(Open::Object(entries, _)) => Value::from(entries),
                        None => return Err(Invalid::Syntax),
                    };
                }
                _ => return Err(Invalid::Syntax),
            }
        }
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

/// A position in the text.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    /// One value, checked only. Containers are walked with a stack of
    /// their kinds rather than by recursion, so that no depth overflows
    /// the thread's stack.
    fn value(&mut self) -> Result<(), Invalid> {
        let mut open = Nesting::default();
        loop {
            let complete = match self.skip_whitespace() {
                Some(b'n') => self.word(b"null"),
                Some(b't') => self.word(b"true"),
                Some(b'f') => self.word(b"false"),
                Some(b'-' | b'0'..=b'9') => self.number(),
                Some(b'"') => self.string(),
                Some(bracket @ (b'[' | b'{')) => {
                    self.at += 1;
                    if open.depth >= MAX_DEPTH {
                        return Err(Invalid::TooDeep(MAX_DEPTH));
                    }
                    let object = bracket == b'{';
                    let close = if object { b'}' } else { b']' };
                    if self.skip_whitespace() == Some(close) {
                        self.at += 1;
                        true
                    } else {
                        open.push(object);
                        if object && !self.key() {
                            return Err(Invalid::Syntax);
                        }
                        // The first element comes next.
                        continue;
                    }
                }
                _ => false,
            };
            if !complete {
                return Err(Invalid::Syntax);
            }

            // After a value: close what ends here, then expect a comma (and
            // in an object, the next key) or the end.
            loop {
                let Some(object) = open.top() else {
                    return Ok(());
                };
                let close = if object { b'}' } else { b']' };
                match self.skip_whitespace() {
                    Some(b',') => {
                        self.at += 1;
                        if object && !self.key() {
                            return Err(Invalid::Syntax);
                        }
                        break;
                    }
                    Some(c) if c == close => {
                        self.at += 1;
                        open.pop();
                    }
                    _ => return Err(Invalid::Syntax),
                }
            }
        }
    }

    /// An object key and its colon.
    fn key(&mut self) -> bool {
        if self.skip_whitespace() != Some(b'"') || !self.string() {
            return false;
        }
        if self.skip_whitespace() != Some(b':') {
            return false;
        }
        self.at += 1;
        true
    }

    /// An object key and its colon, the key decoded.
    fn key_value(&mut self, text: &str) -> Result<Value, Invalid> {
        if self.skip_whitespace() != Some(b'"') {
            return Err(Invalid::Syntax);
        }
        let key = self.string_value(text)?;
        if self.skip_whitespace() != Some(b':') {
            return Err(Invalid::Syntax);
        }
        self.at += 1;
        Ok(Value::from(key))
    }

    /// A string from its opening quote, decoded.
    fn string_value(&mut self, text: &str) -> Result<String, Invalid> {
        let start = self.at + 1;
        if !self.string() {
            return Err(Invalid::Syntax);
        }
        Ok(unescape(&text[start..self.at - 1]))
    }

    /// The next byte that is not whitespace, not consumed.
    fn skip_whitespace(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    fn word(&mut self, word: &[u8]) -> bool {
        let found = self
            .bytes
            .get(self.at..)
            .is_some_and(|rest| rest.starts_with(word));
        self.at += word.len();
        found
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        self.at - start
    }

    fn next_is(&mut self, accepted: &[u8]) -> bool {
        let found = self
            .bytes
            .get(self.at)
            .is_some_and(|b| accepted.contains(b));
        if found {
            self.at += 1;
        }
        found
    }

    /// `-`, then `0` or digits not starting with `0`, then optionally a
    /// fraction and an exponent, each with at least one digit.
    fn number(&mut self) -> bool {
        self.next_is(b"-");
        match self.bytes.get(self.at) {
            Some(b'0') => {
                self.at += 1;
                if self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
                    return false;
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return false,
        }
        if self.next_is(b".") && self.digits() == 0 {
            return false;
        }
        if self.next_is(b"eE") {
            self.next_is(b"+-");
            if self.digits() == 0 {
                return false;
            }
        }
        true
    }

    /// A string from its opening quote: no control characters, and only
    /// JSON's escapes.
    fn string(&mut self) -> bool {
        self.at += 1;
        loop {
            // Most bytes are none of a quote, a backslash or a control
            // character: skip them in one tight loop.
            let rest = self.bytes.get(self.at..).unwrap_or_default();
            self.at += rest
                .iter()
                .take_while(|&&b| b != b'"' && b != b'\\' && b >= 0x20)
                .count();
            let Some(&b) = self.bytes.get(self.at) else {
                return false;
            };
            self.at += 1;
            match b {
                b'"' => return true,
                b'\\' => {
                    if self.next_is(b"\"\\/bfnrt") {
                        continue;
                    }
                    if !self.next_is(b"u") {
                        return false;
                    }
                    let hex = self.bytes.get(self.at..self.at + 4);
                    if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                        return false;
                    }
                    self.at += 4;
                }
                // A control character.
                _ => return false,
            }
        }
    }
}

/// A string's contents with its escapes decoded, the contents already
/// checked by [`Scanner::string`]. A `\u` escape of a surrogate that does
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

/// The kinds of the open containers (`true` for an object), innermost
/// last: the first [`INLINE_DEPTH`] in place, deeper ones in a vector
/// that only a body nested that deep allocates.
struct Nesting {
    inline: [bool; INLINE_DEPTH],
    depth: usize,
    deeper: Vec<bool>,
}

/// Levels of nesting tracked without allocating.
const INLINE_DEPTH: usize = 64;

impl Default for Nesting {
    fn default() -> Self {
        Self {
            inline: [false; INLINE_DEPTH],
            depth: 0,
            deeper: Vec::new(),
        }
    }
}

impl Nesting {
    fn push(&mut self, object: bool) {
        match self.inline.get_mut(self.depth) {
            Some(slot) => *slot = object,
            None => self.deeper.push(object),
        }
        self.depth += 1;
    }

    fn pop(&mut self) {
        if self.depth > INLINE_DEPTH {
            self.deeper.pop();
        }
        self.depth = self.depth.saturating_sub(1);
    }

    fn top(&self) -> Option<bool> {
        let last = self.depth.checked_sub(1)?;
        match self.inline.get(last) {
            Some(&object) => Some(object),
            None => self.deeper.last().copied(),
        }
    }
}

#[cfg(test)]
mod tests;
