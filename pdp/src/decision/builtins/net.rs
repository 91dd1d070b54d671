//! `net.cidr_contains_matches`, `net.cidr_merge` and `net.cidr_intersects`,
//! with Go's `net` parsing rules as OPA uses them.
//!
//! Addresses are handled as 128-bit numbers: an IPv4 network is the
//! IPv4-mapped IPv6 range (`::ffff:a.b.c.d`), so an IPv4 address written in
//! IPv6 form matches an IPv4 network, as in Go.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use regorus::Value;

use super::{BuiltinError, Outcome, string_arg};

const V4_MAPPED: u128 = 0xffff << 32;

/// A network: its first address, its prefix length in its own family, and
/// whether that family is IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    base: u128,
    prefix: u32,
    v4: bool,
}

impl Net {
    fn bits(self) -> u32 {
        if self.v4 { 32 } else { 128 }
    }

    /// The mask over the 128-bit form.
    fn mask(self) -> u128 {
        let host = self.bits() - self.prefix;
        if host >= 128 {
            0
        } else {
            !((1u128 << host) - 1)
        }
    }

    fn first(self) -> u128 {
        self.base & self.mask()
    }

    fn last(self) -> u128 {
        self.first() | !self.mask()
    }

    fn contains(self, addr: u128) -> bool {
        addr & self.mask() == self.first()
    }

    fn render(self) -> String {
        format!("{}/{}", render_addr(self.first(), self.v4), self.prefix)
    }
}

fn to_u128(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(v4) => (V4_MAPPED | u128::from(u32::from(v4)), true),
        IpAddr::V6(v6) => (u128::from(v6), false),
    }
}

fn render_addr(addr: u128, v4: bool) -> String {
    if v4 || addr >> 32 == 0xffff {
        Ipv4Addr::from((addr & 0xffff_ffff) as u32).to_string()
    } else {
        Ipv6Addr::from(addr).to_string()
    }
}

/// Go's `net.ParseIP`.
fn parse_ip(text: &str) -> Option<(u128, bool)> {
    text.parse::<IpAddr>().ok().map(to_u128)
}

/// Go's `net.ParseCIDR`: an address, `/`, a decimal prefix length.
fn parse_cidr(text: &str) -> Result<Net, BuiltinError> {
    let bad = || BuiltinError::new(format!("invalid CIDR address: {text}"));
    let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
        return Err(bad());
    }
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    let (base, v4) = to_u128(ip);
    let net = Net { base, prefix, v4 };
    if prefix > net.bits() {
        return Err(bad());
    }
    Ok(Net {
        base: net.first(),
        ..net
    })
}

/// OPA's `net.cidr_contains(cidr, ip_or_cidr)`.
fn contains(cidr: &str, other: &str) -> Result<bool, BuiltinError> {
    let net = parse_cidr(cidr)?;
    if let Some((addr, _)) = parse_ip(other) {
        return Ok(net.contains(addr));
    }
    let inner = parse_cidr(other).map_err(|_| {
        BuiltinError::new(format!(
            "not a valid textual representation of an IP address or CIDR: {other}"
        ))
    })?;
    Ok(net.contains(inner.first()) && net.contains(inner.last()))
}

/// `net.cidr_intersects(a, b)`.
pub(super) fn cidr_intersects(args: &[Value]) -> Outcome {
    let a = parse_cidr(string_arg(args, 0)?)?;
    let b = parse_cidr(string_arg(args, 1)?)?;
    Ok(Value::Bool(a.contains(b.first()) || b.contains(a.first())))
}

/// The (cidr, key) pairs of one `cidr_contains_matches` operand: a string
/// is its own key; array elements are keyed by index, set elements by
/// themselves, object values by their key. An element may be a string or
/// a non-empty array whose first item is the address.
fn operand_entries(operand: usize, value: &Value) -> Result<Vec<(Value, Value)>, BuiltinError> {
    let cidr_of = |item: &Value| -> Result<Value, BuiltinError> {
        match item {
            Value::String(_) => Ok(item.clone()),
            Value::Array(items) if !items.is_empty() => Ok(items[0].clone()),
            _ => Err(BuiltinError::new(format!(
                "operand {operand}: element must be string or non-empty array"
            ))),
        }
    };
    Ok(match value {
        Value::String(_) => vec![(value.clone(), value.clone())],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| Ok((cidr_of(item)?, Value::from(i))))
            .collect::<Result<_, BuiltinError>>()?,
        Value::Set(items) => items
            .iter()
            .map(|item| Ok((cidr_of(item)?, item.clone())))
            .collect::<Result<_, BuiltinError>>()?,
        Value::Object(map) => map
            .iter()
            .map(|(key, item)| Ok((cidr_of(item)?, key.clone())))
            .collect::<Result<_, BuiltinError>>()?,
        // OPA iterates nothing for any other type, so nothing matches.
        _ => Vec::new(),
    })
}

/// `net.cidr_contains_matches(cidrs, cidrs_or_ips)`: the set of key pairs
/// whose first contains the second.
pub(super) fn cidr_contains_matches(args: &[Value]) -> Outcome {
    let nets = operand_entries(1, args.first().unwrap_or(&Value::Undefined))?;
    let items = operand_entries(2, args.get(1).unwrap_or(&Value::Undefined))?;
    let mut matches = std::collections::BTreeSet::new();
    for (cidr, key1) in &nets {
        for (item, key2) in &items {
            let (Value::String(cidr), Value::String(item)) = (cidr, item) else {
                return Err(BuiltinError::new("operand must be string"));
            };
            if contains(cidr, item)? {
                matches.insert(Value::from(vec![key1.clone(), key2.clone()]));
            }
        }
    }
    Ok(Value::from(matches))
}

/// One `cidr_merge` element: a CIDR, or an IPv4 address with its classful
/// default mask (Go's `IP.DefaultMask`), which OPA keeps unmasked when the
/// network is not merged with another.
fn merge_element(item: &Value) -> Result<(Net, Option<String>), BuiltinError> {
    let Value::String(text) = item else {
        return Err(BuiltinError::new("element must be string"));
    };
    let Ok(ip) = text.parse::<IpAddr>() else {
        return Ok((parse_cidr(text)?, None));
    };
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4,
            None => return Err(BuiltinError::new("IPv6 invalid: needs prefix length")),
        },
    };
    let prefix = match v4.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    };
    let net = Net {
        base: V4_MAPPED | u128::from(u32::from(v4)),
        prefix,
        v4: true,
    };
    Ok((net, Some(format!("{v4}/{prefix}"))))
}

/// `net.cidr_merge(addrs)`: the smallest list of networks covering the
/// same addresses, as a set.
pub(super) fn cidr_merge(args: &[Value]) -> Outcome {
    let items: Vec<&Value> = match args.first() {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Set(items)) => items.iter().collect(),
        _ => return Err(BuiltinError::new("operand must be an array")),
    };
    let mut ranges = Vec::with_capacity(items.len());
    for item in items {
        let (net, rendered) = merge_element(item)?;
        ranges.push(Range {
            first: net.first(),
            last: net.last(),
            v4: net.v4,
            original: Some(rendered.unwrap_or_else(|| net.render())),
        });
    }

    let mut out = std::collections::BTreeSet::new();
    for range in merge(ranges) {
        match range.original {
            Some(text) => {
                out.insert(Value::from(text));
            }
            None => {
                for net in range_to_cidrs(range.first, range.last, range.v4) {
                    out.insert(Value::from(net.render()));
                }
            }
        }
    }
    Ok(Value::from(out))
}

#[derive(Debug, Clone)]
struct Range {
    first: u128,
    last: u128,
    v4: bool,
    /// The network as given, while the range is not merged with another.
    original: Option<String>,
}

/// Sorts by last then first address and folds overlapping or adjacent
/// ranges together, from the end, as OPA does.
fn merge(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.sort_by_key(|a| (a.last, a.first));
    let mut i = ranges.len();
    while i > 1 {
        i -= 1;
        let previous = ranges[i].first.wrapping_sub(1);
        if previous <= ranges[i - 1].last || ranges[i].first == 0 {
            let first = ranges[i - 1].first.min(ranges[i].first);
            let merged = Range {
                first,
                last: ranges[i].last,
                v4: ranges[i].v4,
                original: None,
            };
            ranges[i - 1] = merged;
            ranges.remove(i);
        }
    }
    ranges
}

/// The fewest networks that cover exactly `first..=last`.
fn range_to_cidrs(first: u128, last: u128, v4: bool) -> Vec<Net> {
    let bits = if v4 { 32 } else { 128 };
    let mut out = Vec::new();
    let mut start = first;
    loop {
        // The largest block aligned at `start` that stays within `last`.
        let mut host = start.trailing_zeros().min(bits);
        while host > 0 {
            let size_minus_one = if host >= 128 {
                u128::MAX
            } else {
                (1u128 << host) - 1
            };
            if start
                .checked_add(size_minus_one)
                .is_some_and(|end| end <= last)
            {
                break;
            }
            host -= 1;
        }
        let net = Net {
            base: start,
            prefix: bits - host,
            v4,
        };
        out.push(net);
        let end = net.last();
        if end >= last {
            break;
        }
        start = end + 1;
    }
    out
}
