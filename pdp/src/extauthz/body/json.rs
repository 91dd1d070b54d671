//! Checking that a body is JSON without building anything from it.
//!
//! When no policy reads `parsed_body`, a JSON body is still checked, since
//! OPA-Envoy refuses a request whose body claims to be JSON and is not. The
//! check accepts exactly what serde_json accepts when it skips a value in a
//! string (its `IgnoredAny`): RFC 8259's grammar, nesting to any depth,
//! numbers of any size (only their syntax is checked), `\u` escapes of any
//! four hex digits, whitespace around the value and nothing else. serde_json
//! spends about 2,700 instructions and 25 lines of code on a 1 KB body; this
//! scan is one loop. The property tests hold the two to the same verdicts.

/// Whether `text` is exactly one JSON value, with only whitespace around.
pub(super) fn is_json(text: &str) -> bool {
    let mut scan = Scanner {
        bytes: text.as_bytes(),
        at: 0,
    };
    scan.value() && scan.skip_whitespace().is_none()
}

/// A position in the text.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    /// One value, containers walked with a stack of their kinds rather than
    /// by recursion, so that no depth overflows the thread's stack.
    fn value(&mut self) -> bool {
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
                    let object = bracket == b'{';
                    let close = if object { b'}' } else { b']' };
                    if self.skip_whitespace() == Some(close) {
                        self.at += 1;
                        true
                    } else {
                        open.push(object);
                        if object && !self.key() {
                            return false;
                        }
                        // The first element comes next.
                        continue;
                    }
                }
                _ => false,
            };
            if !complete {
                return false;
            }

            // After a value: close what ends here, then expect a comma (and
            // in an object, the next key) or the end.
            loop {
                let Some(object) = open.top() else {
                    return true;
                };
                let close = if object { b'}' } else { b']' };
                match self.skip_whitespace() {
                    Some(b',') => {
                        self.at += 1;
                        if object && !self.key() {
                            return false;
                        }
                        break;
                    }
                    Some(c) if c == close => {
                        self.at += 1;
                        open.pop();
                    }
                    _ => return false,
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
        let found = self.bytes[self.at..].starts_with(word);
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
                0x00..=0x1f => return false,
                _ => {}
            }
        }
    }
}

/// The kinds of the open containers (`true` for an object), innermost
/// last: the first 128 in bits, deeper ones in a vector that only a body
/// nested that deep allocates.
#[derive(Default)]
struct Nesting {
    bits: u128,
    depth: usize,
    deeper: Vec<bool>,
}

impl Nesting {
    fn push(&mut self, object: bool) {
        if self.depth < 128 {
            self.bits = (self.bits & !(1 << self.depth)) | (u128::from(object) << self.depth);
        } else {
            self.deeper.push(object);
        }
        self.depth += 1;
    }

    fn pop(&mut self) {
        if self.depth > 128 {
            self.deeper.pop();
        }
        self.depth = self.depth.saturating_sub(1);
    }

    fn top(&self) -> Option<bool> {
        match self.depth {
            0 => None,
            d if d <= 128 => Some(self.bits & (1 << (d - 1)) != 0),
            _ => self.deeper.last().copied(),
        }
    }
}

#[cfg(test)]
mod tests;
