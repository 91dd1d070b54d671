//! Building input objects cheaply: keys allocated once per thread, objects
//! kept in the map they were built in, and insert helpers that skip what
//! the protobuf left at its default and what the plan does not need.

use std::{collections::BTreeMap, sync::Arc, thread::LocalKey};

use regorus::{Value, value::Object};

use crate::decision::Need;

/// An object key: its name, to consult the plan, and the thread's copy of
/// its value, cloned only when the key is inserted.
pub(super) struct Key {
    pub(super) name: &'static str,
    pub(super) value: &'static LocalKey<Value>,
}

impl Key {
    fn value(&self) -> Value {
        self.value.with(Clone::clone)
    }
}

/// A key whose string is allocated once per thread rather than once per
/// request. The copy is the thread's own, so cloning it touches no
/// reference count shared with another core.
macro_rules! key {
    ($name:literal) => {{
        ::std::thread_local! {
            static KEY: ::regorus::Value = ::regorus::Value::from($name);
        }
        $crate::extauthz::input::fields::Key {
            name: $name,
            value: &KEY,
        }
    }};
}
pub(super) use key;

/// An object under construction.
#[derive(Default)]
pub(super) struct Fields {
    map: BTreeMap<Value, Value>,
}

impl Fields {
    pub(super) fn new() -> Self {
        Self::default()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The finished object. It stays in its map: the engine's compact form
    /// would cost a copy, and an input lives for one request.
    pub(super) fn done(self) -> Value {
        Value::Object(Arc::new(Object::from(self.map)))
    }

    pub(super) fn put(&mut self, key: Key, value: Value) {
        self.map.insert(key.value(), value);
    }

    pub(super) fn put_str(&mut self, key: &str, value: &str) {
        self.map.insert(Value::from(key), Value::from(value));
    }

    pub(super) fn insert_value(&mut self, key: &str, value: Value) {
        self.map.insert(Value::from(key), value);
    }

    /// A nested object, when the plan needs `key` and `build` yields one.
    pub(super) fn nested(
        &mut self,
        need: Need<'_>,
        key: Key,
        build: impl FnOnce(Need<'_>) -> Option<Fields>,
    ) {
        if let Some(child) = need.child(key.name)
            && let Some(fields) = build(child)
        {
            self.map.insert(key.value(), fields.done());
        }
    }

    /// A string field, unless empty or not needed.
    pub(super) fn text(&mut self, need: Need<'_>, key: Key, value: &str) {
        if !value.is_empty() && need.wants(key.name) {
            self.map.insert(key.value(), Value::from(value));
        }
    }

    /// A boolean field, unless false or not needed.
    pub(super) fn flag(&mut self, need: Need<'_>, key: Key, value: bool) {
        if value && need.wants(key.name) {
            self.map.insert(key.value(), Value::Bool(true));
        }
    }

    /// A number field, unless zero or not needed.
    pub(super) fn int(&mut self, need: Need<'_>, key: Key, value: i64) {
        if value != 0 && need.wants(key.name) {
            self.map.insert(key.value(), Value::from(value));
        }
    }

    /// A string map; when the plan names entries, only those.
    pub(super) fn string_map<'m>(&mut self, need: Need<'_>, key: Key, map: impl MapLookup<'m>) {
        let Some(need) = need.child(key.name) else {
            return;
        };
        if map.is_empty() {
            return;
        }
        let mut out = Fields::new();
        match need.keys() {
            None => map.for_each(|k, v| out.put_str(k, v)),
            Some(keys) => {
                for k in keys {
                    if let Some(v) = map.lookup(k) {
                        out.put_str(k, v);
                    }
                }
            }
        }
        self.map.insert(key.value(), out.done());
    }
}

/// Read access to a string-to-string map.
pub(super) trait MapLookup<'m> {
    fn is_empty(&self) -> bool;
    fn lookup(&self, key: &str) -> Option<&'m str>;
    fn for_each(&self, f: impl FnMut(&str, &str));
}

impl<'m> MapLookup<'m> for &'m std::collections::HashMap<String, String> {
    fn is_empty(&self) -> bool {
        std::collections::HashMap::is_empty(self)
    }

    fn lookup(&self, key: &str) -> Option<&'m str> {
        self.get(key).map(String::as_str)
    }

    fn for_each(&self, mut f: impl FnMut(&str, &str)) {
        for (k, v) in self.iter() {
            f(k, v);
        }
    }
}

impl<'m> MapLookup<'m> for &'m crate::extauthz::request::Headers<'_> {
    fn is_empty(&self) -> bool {
        crate::extauthz::request::Headers::is_empty(self)
    }

    fn lookup(&self, key: &str) -> Option<&'m str> {
        (*self).get(key)
    }

    fn for_each(&self, f: impl FnMut(&str, &str)) {
        (*self).for_each(f);
    }
}
