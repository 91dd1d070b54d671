//! Remembering decisions of deterministic policies, per thread.
//!
//! A policy that calls no builtin depending on the clock, randomness or the
//! network gives the same answer for the same input and data. Its input is
//! built from its own plan, so it holds exactly what the policy reads: for
//! the system guardrails, typically the two tenants of a request. Each
//! thread's engine keeps a bounded map from such inputs to results, so a
//! repeated combination is answered without evaluating. The map belongs to
//! one compiled policy; a new revision starts with an empty one.

use std::collections::BTreeMap;

use regorus::Value;

/// Builtins whose result does not follow from their arguments alone.
pub(crate) const NONDETERMINISTIC_BUILTINS: &[&str] = &[
    "time.now_ns",
    "rand.intn",
    "uuid.rfc4122",
    "http.send",
    "opa.runtime",
    "net.lookup_ip_addr",
    "io.jwt.decode_verify",
    "crypto.x509.parse_and_verify_certificates",
    "crypto.x509.parse_and_verify_certificates_with_options",
    "trace",
    "print",
];

/// Entries kept per entry point before the map starts over.
const CAPACITY: usize = 4_096;

/// Results by input, for each entry point of a policy.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    by_entry: Vec<BTreeMap<Value, Value>>,
}

impl Memo {
    pub(crate) fn new(entries: usize) -> Self {
        Self {
            by_entry: (0..entries).map(|_| BTreeMap::new()).collect(),
        }
    }

    pub(crate) fn get(&self, entry: usize, input: &Value) -> Option<&Value> {
        self.by_entry.get(entry)?.get(input)
    }

    /// Remembers a result; a full map is cleared first, which keeps the
    /// bound without the bookkeeping of an LRU.
    pub(crate) fn insert(&mut self, entry: usize, input: Value, result: Value) {
        if let Some(map) = self.by_entry.get_mut(entry) {
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(input, result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_entry_point_and_stays_bounded() {
        let mut memo = Memo::new(2);
        memo.insert(0, Value::from(1_i64), Value::from("a"));
        assert_eq!(memo.get(0, &Value::from(1_i64)), Some(&Value::from("a")));
        assert_eq!(memo.get(1, &Value::from(1_i64)), None);
        for i in 0..(CAPACITY as i64 + 10) {
            memo.insert(0, Value::from(i), Value::Null);
        }
        assert!(memo.by_entry[0].len() <= CAPACITY);
    }
}
