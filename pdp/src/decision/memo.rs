//! Remembering decisions of deterministic policies, per thread.
//!
//! A policy that calls no builtin depending on the clock, randomness or the
//! network gives the same answer for the same input and data, and it reads
//! only the parts of the input its plan names: for the system guardrails,
//! typically the two tenants of a request. Each thread's engine keeps a
//! bounded map from the values at those parts to results, so a repeated
//! combination is answered without evaluating, whatever else the request's
//! input holds for the other policy. The map belongs to
//! one compiled policy; a new revision starts with an empty one.
//!
//! Inputs that rarely repeat (a policy reading request paths full of IDs)
//! would only pay for the lookups and copies, so each thread watches its hit
//! rate: below one hit in four over a window, it stops remembering for a
//! while, then tries again.

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

/// Lookups over which the hit rate is judged.
const WINDOW: u32 = 128;

/// Lookups skipped after a window with too few hits.
const PAUSE: u32 = 65_536;

/// Results by input, for each entry point of a policy. An input is keyed by
/// the values at its plan's leaves, which determine it.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    by_entry: Vec<BTreeMap<Vec<Value>, Value>>,
    lookups: u32,
    hits: u32,
    paused_for: u32,
}

impl Memo {
    pub(crate) fn new(entries: usize) -> Self {
        Self {
            by_entry: (0..entries).map(|_| BTreeMap::new()).collect(),
            ..Self::default()
        }
    }

    /// Whether results are being remembered right now.
    pub(crate) fn active(&mut self) -> bool {
        if self.paused_for == 0 {
            return true;
        }
        self.paused_for -= 1;
        if self.paused_for == 0 {
            self.by_entry.iter_mut().for_each(BTreeMap::clear);
        }
        false
    }

    pub(crate) fn get(&mut self, entry: usize, input: &[Value]) -> Option<&Value> {
        self.lookups += 1;
        let found = self.by_entry.get(entry)?.contains_key(input);
        if found {
            self.hits += 1;
        }
        if self.lookups == WINDOW {
            if self.hits * 4 < WINDOW {
                self.paused_for = PAUSE;
            }
            self.lookups = 0;
            self.hits = 0;
        }
        if found {
            self.by_entry.get(entry)?.get(input)
        } else {
            None
        }
    }

    /// Remembers a result; a full map is cleared first, which keeps the
    /// bound without the bookkeeping of an LRU.
    pub(crate) fn insert(&mut self, entry: usize, input: Vec<Value>, result: Value) {
        if self.paused_for > 0 {
            return;
        }
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
    fn stops_remembering_when_inputs_do_not_repeat() {
        let mut memo = Memo::new(1);
        for i in 0..i64::from(WINDOW) {
            assert!(memo.active());
            assert!(memo.get(0, &[Value::from(i)]).is_none());
            memo.insert(0, vec![Value::from(i)], Value::Null);
        }
        assert!(!memo.active(), "a window without hits pauses the memo");
        memo.insert(0, vec![Value::from(-1_i64)], Value::Null);
        assert_eq!(memo.paused_for, PAUSE - 1);
    }

    #[test]
    fn keeps_remembering_while_inputs_repeat() {
        let mut memo = Memo::new(1);
        memo.insert(0, vec![Value::from(1_i64)], Value::Bool(true));
        for _ in 0..(2 * WINDOW) {
            assert!(memo.active());
            assert_eq!(memo.get(0, &[Value::from(1_i64)]), Some(&Value::Bool(true)));
        }
    }

    #[test]
    fn remembers_per_entry_point_and_stays_bounded() {
        let mut memo = Memo::new(2);
        memo.insert(0, vec![Value::from(1_i64)], Value::from("a"));
        assert_eq!(memo.get(0, &[Value::from(1_i64)]), Some(&Value::from("a")));
        assert_eq!(memo.get(1, &[Value::from(1_i64)]), None);
        for i in 0..(CAPACITY as i64 + 10) {
            memo.insert(0, vec![Value::from(i)], Value::Null);
        }
        assert!(memo.by_entry[0].len() <= CAPACITY);
    }
}
