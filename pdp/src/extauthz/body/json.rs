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
//! Checking is one scan with no allocation: about 1,900 instructions on a
//! 113-byte body where serde_json spent 2,400.

mod build;

use regorus::Value;

use self::build::Builder;

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
    walk(text, &mut Nesting::default())
}

/// Builds the value `text` holds.
pub(super) fn parse(text: &str) -> Result<Value, Invalid> {
    walk(text, &mut Builder::default())
}

/// What a walk over the text does with what it finds: [`Nesting`] only
/// tracks the open containers, [`Builder`] builds the engine's value.
trait Sink {
    /// One value.
    type Out;
    /// The deepest nesting taken.
    const MAX_DEPTH: usize;

    fn scalar(&mut self, scalar: Scalar<'_>) -> Result<Self::Out, Invalid>;
    fn empty(&mut self, object: bool) -> Self::Out;
    /// Opens a container that has at least one element.
    fn open(&mut self, object: bool);
    /// The key, still escaped, of the next value of the open object.
    fn key(&mut self, raw: &str);
    /// A value of the innermost open container.
    fn add(&mut self, value: Self::Out);
    /// Closes the innermost open container.
    fn close(&mut self) -> Self::Out;
    /// Whether the innermost open container is an object; `None` when
    /// none is open.
    fn top(&self) -> Option<bool>;
    fn depth(&self) -> usize;
}

/// A value without nesting, as it appears in the text.
enum Scalar<'a> {
    Null,
    Bool(bool),
    /// The number's text.
    Number(&'a str),
    /// The string's contents between the quotes, still escaped.
    String(&'a str),
}

/// Walks one value and the whitespace around it, containers with the
/// sink's stack rather than by recursion, so that no depth overflows the
/// thread's stack.
fn walk<S: Sink>(text: &str, sink: &mut S) -> Result<S::Out, Invalid> {
    let mut scan = Scanner::new(text);
    loop {
        let mut done = match scan.skip_whitespace() {
            Some(b'n') if scan.word(b"null") => sink.scalar(Scalar::Null)?,
            Some(b't') if scan.word(b"true") => sink.scalar(Scalar::Bool(true))?,
            Some(b'f') if scan.word(b"false") => sink.scalar(Scalar::Bool(false))?,
            Some(b'-' | b'0'..=b'9') => {
                let start = scan.at;
                if !scan.number() {
                    return Err(Invalid::Syntax);
                }
                sink.scalar(Scalar::Number(&text[start..scan.at]))?
            }
            Some(b'"') => sink.scalar(Scalar::String(scan.string_raw(text)?))?,
            Some(bracket @ (b'[' | b'{')) => {
                scan.at += 1;
                if sink.depth() >= S::MAX_DEPTH {
                    return Err(Invalid::TooDeep(S::MAX_DEPTH));
                }
                let object = bracket == b'{';
                if scan.skip_whitespace() == Some(closing(object)) {
                    scan.at += 1;
                    sink.empty(object)
                } else {
                    sink.open(object);
                    if object {
                        sink.key(scan.key_raw(text)?);
                    }
                    // The first element comes next.
                    continue;
                }
            }
            _ => return Err(Invalid::Syntax),
        };

        // Put the value in its container; close the containers that end
        // here, then move to the next element or key.
        loop {
            let Some(object) = sink.top() else {
                return match scan.skip_whitespace() {
                    None => Ok(done),
                    Some(_) => Err(Invalid::Syntax),
                };
            };
            sink.add(done);
            match scan.skip_whitespace() {
                Some(b',') => {
                    scan.at += 1;
                    if object {
                        sink.key(scan.key_raw(text)?);
                    }
                    break;
                }
                Some(c) if c == closing(object) => {
                    scan.at += 1;
                    done = sink.close();
                }
                _ => return Err(Invalid::Syntax),
            }
        }
    }
}

/// The byte that closes an object or an array.
fn closing(object: bool) -> u8 {
    if object { b'}' } else { b']' }
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

    /// A string from its opening quote: its contents, still escaped.
    fn string_raw<'t>(&mut self, text: &'t str) -> Result<&'t str, Invalid> {
        let start = self.at + 1;
        if !self.string() {
            return Err(Invalid::Syntax);
        }
        Ok(&text[start..self.at - 1])
    }

    /// An object key and its colon: the key's contents, still escaped.
    fn key_raw<'t>(&mut self, text: &'t str) -> Result<&'t str, Invalid> {
        if self.skip_whitespace() != Some(b'"') {
            return Err(Invalid::Syntax);
        }
        let key = self.string_raw(text)?;
        if self.skip_whitespace() != Some(b':') {
            return Err(Invalid::Syntax);
        }
        self.at += 1;
        Ok(key)
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

/// Checking only: the kinds of the open containers (`true` for an
/// object), innermost last: the first [`INLINE_DEPTH`] in place, deeper ones in a vector
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

impl Sink for Nesting {
    type Out = ();
    const MAX_DEPTH: usize = MAX_DEPTH;

    fn scalar(&mut self, _: Scalar<'_>) -> Result<(), Invalid> {
        Ok(())
    }

    fn empty(&mut self, _: bool) {}

    fn open(&mut self, object: bool) {
        match self.inline.get_mut(self.depth) {
            Some(slot) => *slot = object,
            None => self.deeper.push(object),
        }
        self.depth += 1;
    }

    fn key(&mut self, _: &str) {}

    fn add(&mut self, (): ()) {}

    fn close(&mut self) {
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

    fn depth(&self) -> usize {
        self.depth
    }
}

#[cfg(test)]
mod tests;
