//! JSON read without losing digits, and the comparison rules of the suite.
//!
//! OPA answers with arbitrary-precision numbers (an RSA modulus has 600
//! digits); `serde_json` would round them. So the oracle's answers are read
//! here into [`Json`], numbers kept as text, and compared with the engine's
//! [`regorus::Value`]s by these rules:
//!
//! - numbers by value (`1`, `1.0` and `1e0` are equal);
//! - a set on our side equals an array on OPA's (JSON has no sets) with the
//!   same elements in any order;
//! - objects by keys and values, arrays in order.

use regorus::Value;

/// A JSON value whose numbers keep their text.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as written.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, keys in the order written.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Self::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether it is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// Compact JSON text.
    pub fn to_json(&self) -> String {
        match self {
            Self::Null => "null".into(),
            Self::Bool(b) => b.to_string(),
            Self::Number(n) => n.clone(),
            Self::String(s) => serde_json::Value::String(s.clone()).to_string(),
            Self::Array(items) => {
                let inner: Vec<String> = items.iter().map(Self::to_json).collect();
                format!("[{}]", inner.join(","))
            }
            Self::Object(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| {
                        format!("{}:{}", serde_json::Value::String(k.clone()), v.to_json())
                    })
                    .collect();
                format!("{{{}}}", inner.join(","))
            }
        }
    }
}

/// The value of the first expression of a result set, as JSON text.
pub fn first_expression_value(result: &str) -> Option<String> {
    let json = parse(result).ok()?;
    let Json::Array(results) = json else {
        return None;
    };
    let first = results.first()?.get("expressions")?;
    let Json::Array(expressions) = first else {
        return None;
    };
    expressions.first()?.get("value").map(Json::to_json)
}

/// Parses JSON text.
pub fn parse(text: &str) -> Result<Json, String> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    let value = parser.value()?;
    parser.skip_ws();
    if parser.at != parser.bytes.len() {
        return Err(format!("trailing characters at {}", parser.at));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, text: &str) -> Result<(), String> {
        if self.bytes[self.at..].starts_with(text.as_bytes()) {
            self.at += text.len();
            Ok(())
        } else {
            Err(format!("expected `{text}` at {}", self.at))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'n') => self.expect("null").map(|()| Json::Null),
            Some(b't') => self.expect("true").map(|()| Json::Bool(true)),
            Some(b'f') => self.expect("false").map(|()| Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(format!("expected `,` or `]` at {}", self.at)),
                    }
                }
            }
            Some(b'{') => {
                self.at += 1;
                let mut fields = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.at += 1;
                    return Ok(Json::Object(fields));
                }
                loop {
                    self.skip_ws();
                    let key = self.string()?;
                    self.skip_ws();
                    self.expect(":")?;
                    fields.push((key, self.value()?));
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Object(fields));
                        }
                        _ => return Err(format!("expected `,` or `}}` at {}", self.at)),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.at;
                while self.peek().is_some_and(|b| {
                    b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.at += 1;
                }
                let text = String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned();
                Ok(Json::Number(text))
            }
            _ => Err(format!("unexpected character at {}", self.at)),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let start = self.at;
        self.expect("\"")?;
        // Find the closing quote, then let serde_json unescape the literal.
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'\\' => self.at += 1,
                b'"' => {
                    let literal = std::str::from_utf8(&self.bytes[start..self.at])
                        .map_err(|e| e.to_string())?;
                    return serde_json::from_str(literal).map_err(|e| e.to_string());
                }
                _ => {}
            }
        }
        Err("unterminated string".into())
    }
}

/// A decimal number reduced to sign, significant digits and exponent, so
/// that equal values compare equal whatever their notation.
fn canonical_number(text: &str) -> Option<(bool, String, i64)> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !(int.chars().chain(frac.chars())).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut digits = format!("{int}{frac}");
    let mut exponent = exponent - i64::try_from(frac.len()).ok()?;
    let trimmed = digits.trim_start_matches('0').to_owned();
    digits = trimmed;
    while digits.ends_with('0') {
        digits.pop();
        exponent += 1;
    }
    if digits.is_empty() {
        return Some((false, "0".into(), 0));
    }
    Some((negative, digits, exponent))
}

/// Whether two numbers written as text are equal.
pub fn numbers_equal(a: &str, b: &str) -> bool {
    match (canonical_number(a), canonical_number(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// Our value as JSON text, sets as arrays in the engine's order.
pub fn value_to_json(value: &Value) -> String {
    match value {
        Value::Undefined => "<undefined>".into(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.format_decimal(),
        Value::String(s) => serde_json::Value::String(s.to_string()).to_string(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(value_to_json).collect();
            format!("[{}]", inner.join(","))
        }
        Value::Set(items) => {
            let inner: Vec<String> = items.iter().map(value_to_json).collect();
            format!("[{}]", inner.join(","))
        }
        Value::Object(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}:{}", key_text(k), value_to_json(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
    }
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => serde_json::Value::String(s.to_string()).to_string(),
        other => serde_json::Value::String(value_to_json(other)).to_string(),
    }
}

/// Whether our `value` equals OPA's `json` under the suite's rules.
pub fn matches(value: &Value, json: &Json) -> bool {
    match (value, json) {
        (Value::Null, Json::Null) => true,
        (Value::Bool(a), Json::Bool(b)) => a == b,
        (Value::Number(n), Json::Number(m)) => numbers_equal(&n.format_decimal(), m),
        (Value::String(a), Json::String(b)) => a.as_ref() == b,
        (Value::Array(items), Json::Array(other)) => {
            items.len() == other.len() && items.iter().zip(other).all(|(a, b)| matches(a, b))
        }
        (Value::Set(items), Json::Array(other)) => {
            // Unordered: every element of ours pairs with a distinct one of theirs.
            if items.len() != other.len() {
                return false;
            }
            let mut used = vec![false; other.len()];
            items.iter().all(|item| {
                let found = other
                    .iter()
                    .enumerate()
                    .position(|(i, candidate)| !used[i] && matches(item, candidate));
                found.map(|i| used[i] = true).is_some()
            })
        }
        (Value::Object(fields), Json::Object(other)) => {
            fields.len() == other.len()
                && fields.iter().all(|(k, v)| {
                    let key = match k {
                        Value::String(s) => s.to_string(),
                        other => value_to_json(other),
                    };
                    other
                        .iter()
                        .find(|(name, _)| *name == key)
                        .is_some_and(|(_, theirs)| matches(v, theirs))
                })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        assert!(numbers_equal("1", "1.0"));
        assert!(numbers_equal("1.5e3", "1500"));
        assert!(numbers_equal("-0", "0"));
        assert!(!numbers_equal("0.30000000000000004", "0.3"));
    }

    #[test]
    fn sets_match_arrays_in_any_order() {
        let ours = Value::from_json_str("[1, 2, 3]").unwrap();
        let set = match ours {
            Value::Array(items) => Value::from(
                items
                    .iter()
                    .cloned()
                    .collect::<std::collections::BTreeSet<_>>(),
            ),
            _ => unreachable!(),
        };
        assert!(matches(&set, &parse("[3, 1, 2]").unwrap()));
        assert!(!matches(&set, &parse("[3, 1, 1]").unwrap()));
    }

    #[test]
    fn big_numbers_keep_their_digits() {
        let big = "123456789012345678901234567890123456789";
        let value = Value::from_numeric_string(big).unwrap();
        assert!(matches(&value, &parse(big).unwrap()));
        assert!(!matches(
            &value,
            &parse("123456789012345678901234567890123456788").unwrap()
        ));
    }
}
