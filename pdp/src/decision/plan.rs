//! Which parts of the `input` document a request needs.
//!
//! Building the whole OPA-Envoy input for every request costs more than
//! evaluating a small policy. The static analysis records every constant
//! path a policy reads under `input`, and the input builder builds only
//! what the plan names. A request builds one input for both of its
//! policies, from the union of the system bundle's plan and the tenant's
//! ([`Need::either`]); each policy's memo keys on its own plan's leaves.
//! Anything read as a whole (a bare `input`, a key only known at evaluation
//! time, a value passed to a function) makes its whole subtree part of the
//! plan, so a policy always sees every part it could read.

use regorus::Value;

use super::InputUsage;

/// A tree of the input keys to build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputPlan {
    root: PlanNode,
    /// The path of every leaf (a part read whole), as engine keys.
    leaves: Vec<Vec<Value>>,
}

/// One key of the plan. A node names a handful of keys, and the builder
/// asks about each protobuf field it could set, so the keys sit in a short
/// sorted list: a scan that compares lengths first beats a tree's string
/// comparisons at this size. Most questions are about keys the node does
/// not name, and `filter` answers those without the scan: one bit per
/// named key, at [`filter_bit`] of it, so a key whose bit is clear is not
/// there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanNode {
    whole: bool,
    children: Vec<(String, PlanNode)>,
    filter: u64,
}

/// What to build of one value: all of it, or some of its keys.
#[derive(Debug, Clone, Copy)]
pub enum Need<'a> {
    /// The whole value.
    All,
    /// Only the keys this node names.
    Keys(&'a PlanNode),
    /// The keys either node names: two plans built as one.
    Either(&'a PlanNode, &'a PlanNode),
}

impl InputPlan {
    /// A plan that builds the whole document.
    pub fn full() -> Self {
        Self {
            root: PlanNode {
                whole: true,
                ..PlanNode::default()
            },
            leaves: vec![Vec::new()],
        }
    }

    /// The plan covering everything any of `usages` reads.
    pub fn from_usages<'a>(usages: impl IntoIterator<Item = &'a InputUsage>) -> Self {
        let mut plan = Self::default();
        for usage in usages {
            if usage.whole {
                return Self::full();
            }
            for path in &usage.paths {
                plan.add(path);
            }
        }
        let mut leaves = Vec::new();
        plan.root.collect_leaves(&mut Vec::new(), &mut leaves);
        plan.leaves = leaves;
        plan
    }

    /// The values at the plan's leaves in `input` (`Undefined` where
    /// absent). A policy reads nothing outside its plan, so two inputs
    /// with equal leaves give it equal answers: a cheap key for remembering
    /// results.
    pub fn leaf_values(&self, input: &Value) -> Vec<Value> {
        self.leaves
            .iter()
            .map(|path| {
                let mut node = input;
                for key in path {
                    node = match node {
                        Value::Object(fields) => fields.get(key).unwrap_or(&Value::Undefined),
                        _ => &Value::Undefined,
                    };
                }
                node.clone()
            })
            .collect()
    }

    fn add(&mut self, path: &[String]) {
        let mut node = &mut self.root;
        for key in path {
            if node.whole {
                return;
            }
            node = node.child_entry(key);
        }
        node.whole = true;
        node.children.clear();
        node.filter = 0;
    }

    /// What to build of the document's root.
    pub fn root(&self) -> Need<'_> {
        Need::of(&self.root)
    }

    /// Whether the plan builds the whole document.
    pub fn is_full(&self) -> bool {
        self.root.whole
    }
}

impl PlanNode {
    /// The child named `key`, whose [`filter_bit`] is `bit`.
    fn get(&self, key: &str, bit: u64) -> Option<&PlanNode> {
        if self.filter & bit == 0 {
            return None;
        }
        self.children
            .iter()
            .find(|(name, _)| name.len() == key.len() && name == key)
            .map(|(_, node)| node)
    }

    fn child_entry(&mut self, key: &str) -> &mut PlanNode {
        let at = match self
            .children
            .binary_search_by(|(name, _)| name.as_str().cmp(key))
        {
            Ok(at) => at,
            Err(at) => {
                self.children
                    .insert(at, (key.to_owned(), PlanNode::default()));
                self.filter |= filter_bit(key);
                at
            }
        };
        &mut self.children[at].1
    }

    fn collect_leaves(&self, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
        if self.whole {
            out.push(path.clone());
            return;
        }
        for (key, child) in &self.children {
            path.push(Value::from(key.as_str()));
            child.collect_leaves(path, out);
            path.pop();
        }
    }
}

/// A key's bit in [`PlanNode`]'s filter, from its length and its first and
/// last bytes: the field names a node is asked about mostly differ there.
fn filter_bit(key: &str) -> u64 {
    let bytes = key.as_bytes();
    let (first, last) = match bytes {
        [] => (0, 0),
        [first, .., last] => (*first, *last),
        [only] => (*only, *only),
    };
    let mix = bytes.len() * 31 + usize::from(first) * 7 + usize::from(last);
    1 << (mix % 64)
}

impl<'a> Need<'a> {
    fn of(node: &'a PlanNode) -> Self {
        if node.whole {
            Self::All
        } else {
            Self::Keys(node)
        }
    }

    /// What either `self` or `other` needs. Two plans combine without
    /// copying; a third would need a node of its own, so combining an
    /// already combined need builds everything (correct, only slower).
    pub fn either(self, other: Need<'a>) -> Need<'a> {
        match (self, other) {
            (Self::Keys(a), Self::Keys(b)) if std::ptr::eq(a, b) => self,
            (Self::Keys(a), Self::Keys(b)) => Self::Either(a, b),
            _ => Self::All,
        }
    }

    /// What to build under `key`, or `None` to leave it out.
    pub fn child(self, key: &str) -> Option<Need<'a>> {
        match self {
            Self::All => Some(Self::All),
            Self::Keys(node) => node.get(key, filter_bit(key)).map(Self::of),
            Self::Either(a, b) => {
                let bit = filter_bit(key);
                match (a.get(key, bit), b.get(key, bit)) {
                    (None, None) => None,
                    (Some(one), None) | (None, Some(one)) => Some(Self::of(one)),
                    (Some(x), Some(y)) => Some(Self::of(x).either(Self::of(y))),
                }
            }
        }
    }

    /// Whether `key` is needed at all.
    pub fn wants(self, key: &str) -> bool {
        self.child(key).is_some()
    }

    /// The keys named, when not all are needed. Under [`Need::Either`] a
    /// key both plans name comes twice.
    pub fn keys(self) -> Option<impl Iterator<Item = &'a str>> {
        let (first, second) = match self {
            Self::All => return None,
            Self::Keys(node) => (node, None),
            Self::Either(a, b) => (a, Some(b)),
        };
        Some(
            first
                .children
                .iter()
                .chain(second.into_iter().flat_map(|n| n.children.iter()))
                .map(|(name, _)| name.as_str()),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn usage(paths: &[&str]) -> InputUsage {
        InputUsage {
            whole: false,
            paths: paths
                .iter()
                .map(|p| p.split('.').map(str::to_owned).collect())
                .collect::<BTreeSet<_>>(),
        }
    }

    #[test]
    fn plans_name_only_the_paths_read() {
        let plan =
            InputPlan::from_usages([&usage(&["attributes.source.principal", "parsed_path"])]);
        let root = plan.root();
        assert!(root.wants("attributes") && root.wants("parsed_path"));
        assert!(!root.wants("parsed_body"));
        let source = root
            .child("attributes")
            .and_then(|a| a.child("source"))
            .unwrap();
        assert!(source.wants("principal") && !source.wants("address"));
        assert!(matches!(source.child("principal"), Some(Need::All)));
    }

    #[test]
    fn a_shorter_path_covers_the_longer_ones() {
        let plan = InputPlan::from_usages([
            &usage(&["attributes.request.http.headers.x-user"]),
            &usage(&["attributes.request.http"]),
        ]);
        let http = plan
            .root()
            .child("attributes")
            .and_then(|a| a.child("request"))
            .and_then(|r| r.child("http"))
            .unwrap();
        assert!(matches!(http, Need::All));
    }

    #[test]
    fn leaf_values_name_exactly_what_was_read() {
        let plan = InputPlan::from_usages([&usage(&["a.b", "c"])]);
        let input = Value::from_json_str(r#"{"a": {"b": 1}, "c": [2]}"#).unwrap();
        assert_eq!(
            plan.leaf_values(&input),
            vec![Value::from(1_i64), Value::from(vec![Value::from(2_i64)])]
        );
        let partial = Value::from_json_str(r#"{"a": {}}"#).unwrap();
        assert_eq!(
            plan.leaf_values(&partial),
            vec![Value::Undefined, Value::Undefined]
        );
    }

    #[test]
    fn two_plans_build_what_either_reads() {
        let system = InputPlan::from_usages([&usage(&["attributes.source.labels.tenant"])]);
        let tenant = InputPlan::from_usages([&usage(&[
            "attributes.source.principal",
            "attributes.request.http.headers.x-key",
            "parsed_path",
        ])]);
        let both = system.root().either(tenant.root());
        assert!(both.wants("attributes") && both.wants("parsed_path"));
        assert!(!both.wants("parsed_body"));
        let source = both
            .child("attributes")
            .and_then(|a| a.child("source"))
            .unwrap();
        assert!(source.wants("labels") && source.wants("principal"));
        assert!(!source.wants("address"));
        let headers = both
            .child("attributes")
            .and_then(|a| a.child("request"))
            .and_then(|r| r.child("http"))
            .and_then(|h| h.child("headers"))
            .unwrap();
        assert_eq!(headers.keys().unwrap().collect::<Vec<_>>(), ["x-key"]);
    }

    #[test]
    fn a_whole_part_in_either_plan_is_built_whole() {
        let system = InputPlan::from_usages([&usage(&["attributes.request.http"])]);
        let tenant = InputPlan::from_usages([&usage(&["attributes.request.http.method"])]);
        let http = system
            .root()
            .either(tenant.root())
            .child("attributes")
            .and_then(|a| a.child("request"))
            .and_then(|r| r.child("http"))
            .unwrap();
        assert!(matches!(http, Need::All));
        assert!(matches!(
            InputPlan::full().root().either(tenant.root()),
            Need::All
        ));
    }

    proptest::proptest! {
        #[test]
        fn the_filter_never_hides_a_named_key(
            named in proptest::collection::btree_set("[a-zA-Z_-]{0,12}", 0..12),
            asked in proptest::collection::vec("[a-zA-Z_-]{0,12}", 0..24),
        ) {
            let paths: Vec<String> = named.iter().cloned().collect();
            let plan = InputPlan::from_usages([&InputUsage {
                whole: false,
                paths: paths.iter().map(|p| vec![p.clone()]).collect(),
            }]);
            let root = plan.root();
            for key in named.iter().chain(&asked) {
                proptest::prop_assert_eq!(root.wants(key), named.contains(key), "{}", key);
            }
        }
    }

    #[test]
    fn reading_the_whole_input_builds_everything() {
        let whole = InputUsage {
            whole: true,
            paths: BTreeSet::new(),
        };
        let plan = InputPlan::from_usages([&usage(&["parsed_path"]), &whole]);
        assert!(plan.is_full());
        assert!(plan.root().wants("anything"));
    }
}
