//! `semver.is_valid` and `semver.compare` with OPA's version grammar.
//!
//! OPA reads versions with its own small parser, more lenient than the
//! SemVer specification in three ways that policies meet: one leading `v`
//! is dropped (`v1.2.3`), numbers may have leading zeros (`01.2.3`), and an
//! empty pre-release or build part after `-` or `+` is accepted. Build
//! metadata does not take part in comparisons.

use std::cmp::Ordering;

use regorus::Value;

use super::{BuiltinError, Outcome, string_arg};

/// A version as OPA parses it.
#[derive(Debug, PartialEq, Eq)]
struct Version<'a> {
    major: i64,
    minor: i64,
    patch: i64,
    pre_release: &'a str,
}

fn is_identifier_list(text: &str) -> bool {
    text.split('.').all(|part| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// Go's `strconv.ParseInt(text, 10, 64)`.
fn parse_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse(text: &str) -> Option<Version<'_>> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let (text, metadata) = text.split_once('+').unwrap_or((text, ""));
    if !metadata.is_empty() && !is_identifier_list(metadata) {
        return None;
    }
    let (text, pre_release) = text.split_once('-').unwrap_or((text, ""));
    if !pre_release.is_empty() && !is_identifier_list(pre_release) {
        return None;
    }

    let mut numbers = text.split('.');
    let (Some(major), Some(minor), Some(patch), None) = (
        numbers.next(),
        numbers.next(),
        numbers.next(),
        numbers.next(),
    ) else {
        return None;
    };
    Some(Version {
        major: parse_int(major)?,
        minor: parse_int(minor)?,
        patch: parse_int(patch)?,
        pre_release,
    })
}

/// Precedence as the specification orders it: numbers, then a release
/// above its pre-releases, then pre-release identifiers one by one.
fn compare(a: &Version<'_>, b: &Version<'_>) -> Ordering {
    let numbers = (a.major, a.minor, a.patch).cmp(&(b.major, b.minor, b.patch));
    if numbers != Ordering::Equal || a.pre_release == b.pre_release {
        return numbers;
    }
    match (a.pre_release.is_empty(), b.pre_release.is_empty()) {
        (true, _) => return Ordering::Greater,
        (_, true) => return Ordering::Less,
        _ => {}
    }

    let mut left = a.pre_release.split('.');
    let mut right = b.pre_release.split('.');
    loop {
        let (x, y) = match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => (x, y),
        };
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let order = match (numeric(x), numeric(y)) {
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (true, true) => compare_digits(x, y),
            (false, false) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

/// Compares two runs of digits as numbers of any size.
fn compare_digits(x: &str, y: &str) -> Ordering {
    let x = x.trim_start_matches('0');
    let y = y.trim_start_matches('0');
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

pub(super) fn is_valid(args: &[Value]) -> Outcome {
    let valid = match args.first() {
        Some(Value::String(text)) => parse(text).is_some(),
        _ => false,
    };
    Ok(Value::from(valid))
}

pub(super) fn semver_compare(args: &[Value]) -> Outcome {
    let a = string_arg(args, 0)?;
    let b = string_arg(args, 1)?;
    let invalid = |index: usize, text: &str| {
        BuiltinError::new(format!(
            "operand {index}: string {text} is not a valid SemVer"
        ))
    };
    let a_version = parse(a).ok_or_else(|| invalid(1, a))?;
    let b_version = parse(b).ok_or_else(|| invalid(2, b))?;
    let order: i64 = match compare(&a_version, &b_version) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    };
    Ok(Value::from(order))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(text: &str) -> bool {
        parse(text).is_some()
    }

    #[test]
    fn a_leading_v_and_leading_zeros_are_accepted_as_opa_accepts_them() {
        assert!(valid("v1.2.3"));
        assert!(valid("01.2.3"));
        assert!(valid("1.2.3-rc.1+build.5"));
        assert!(!valid("vv1.2.3"));
        assert!(!valid("1.2"));
        assert!(!valid("1.2.3.4"));
        assert!(!valid("1.2.3-rc..1"));
        assert!(!valid("1.2.x"));
    }

    #[test]
    fn pre_releases_order_below_their_release() {
        let order = |a, b| compare(&parse(a).unwrap(), &parse(b).unwrap());
        assert_eq!(order("1.0.0-alpha", "1.0.0"), Ordering::Less);
        assert_eq!(order("1.0.0-alpha.1", "1.0.0-alpha.beta"), Ordering::Less);
        assert_eq!(order("1.0.0-beta.11", "1.0.0-beta.2"), Ordering::Greater);
        assert_eq!(order("v2.0.0", "1.9.9"), Ordering::Greater);
        assert_eq!(order("1.0.0+a", "1.0.0+b"), Ordering::Equal);
    }
}
