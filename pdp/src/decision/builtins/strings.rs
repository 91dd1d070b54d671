//! `upper` and `lower` as Go's `strings.ToUpper` and `strings.ToLower`.
//!
//! Go maps each character on its own, with Unicode's simple case mapping:
//! one character in, one character out. Rust's `to_uppercase` uses the full
//! mapping, which may give several characters (`ß` becomes `SS`), and its
//! `str::to_lowercase` turns a final `Σ` into `ς`. Both would answer
//! differently from OPA, so each character is mapped here.

use regorus::Value;

use super::{Outcome, string_arg};

pub(super) fn upper(args: &[Value]) -> Outcome {
    let text = string_arg(args, 0)?;
    Ok(Value::from(
        text.chars().map(simple_upper).collect::<String>(),
    ))
}

pub(super) fn lower(args: &[Value]) -> Outcome {
    let text = string_arg(args, 0)?;
    Ok(Value::from(
        text.chars().map(simple_lower).collect::<String>(),
    ))
}

/// The simple uppercase mapping of `c`: the full mapping when it is one
/// character; otherwise `c` itself, except for the Greek letters with
/// iota subscript, whose simple mapping is their titlecase form.
fn simple_upper(c: char) -> char {
    let mut full = c.to_uppercase();
    match (full.next(), full.next()) {
        (Some(single), None) => single,
        _ => iota_subscript_upper(c).unwrap_or(c),
    }
}

/// The simple lowercase mapping of `c`. Only `İ` has a longer full
/// mapping (`i` and a combining dot); its simple mapping is `i`.
fn simple_lower(c: char) -> char {
    let mut full = c.to_lowercase();
    match (full.next(), full.next()) {
        (Some(single), None) => single,
        (Some(first), Some(_)) if c == '\u{130}' => first,
        _ => c,
    }
}

/// `ᾀ`..`ᾇ`, `ᾐ`..`ᾗ`, `ᾠ`..`ᾧ` map to the letter eight code points on;
/// `ᾳ`, `ῃ` and `ῳ` to the one nine on.
fn iota_subscript_upper(c: char) -> Option<char> {
    let code = u32::from(c);
    let offset = match code {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => 8,
        0x1FB3 | 0x1FC3 | 0x1FF3 => 9,
        _ => return None,
    };
    char::from_u32(code + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: fn(&[Value]) -> Outcome, text: &str) -> String {
        let value = f(&[Value::from(text)]).unwrap();
        value.as_string().unwrap().to_string()
    }

    #[test]
    fn sharp_s_and_ligatures_keep_their_case_as_in_go() {
        assert_eq!(call(upper, "straße"), "STRAßE");
        assert_eq!(call(upper, "ﬁle"), "ﬁLE");
        assert_eq!(call(upper, "ᾳ"), "ᾼ");
    }

    #[test]
    fn final_sigma_lowers_like_any_other_sigma() {
        assert_eq!(call(lower, "ΟΔΟΣ"), "οδοσ");
        assert_eq!(call(lower, "İ"), "i");
        assert_eq!(call(lower, "ÀB"), "àb");
    }

    #[test]
    fn a_non_string_argument_is_an_error() {
        assert!(upper(&[Value::from(1u64)]).is_err());
    }
}
