//! A response's `dynamic_metadata`: the policy's own object, if it gave one,
//! then the service's stamp (`decision_id`, and `pdp` with the tenant and
//! the revisions that decided).
//!
//! Two ways out, equal once decoded. [`Metadata::to_struct`] builds
//! protobuf's `Struct` for in-process callers. [`Metadata::encode`] writes
//! the same `Struct` straight onto the wire for the gRPC server: prost's
//! `Struct` is a `HashMap` of `String`s, and building, hashing and then
//! encoding two of them for every answer cost more instructions than the
//! system policy's evaluation.

use std::borrow::Cow;

use envoy_types::pb::google::protobuf::{self as pbuf, value::Kind};
use prost::bytes::BufMut;
use regorus::Value;

use super::DecisionInfo;

/// The keys the stamp owns: a policy's entries of these names are replaced.
const DECISION_ID: &str = "decision_id";
const PDP: &str = "pdp";

/// What goes into `dynamic_metadata`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    /// The decision's `dynamic_metadata`, when it gave an object.
    from_policy: Option<Value>,
    decision_id: String,
    tenant: Option<String>,
    revision: Option<String>,
    system_revision: Option<String>,
}

impl Metadata {
    /// The policy's object (anything else is ignored) and `info`'s stamp.
    pub fn new(from_policy: Option<&Value>, info: &DecisionInfo<'_>) -> Self {
        Self {
            from_policy: from_policy
                .filter(|v| matches!(v, Value::Object(_)))
                .cloned(),
            decision_id: info.decision_id.to_owned(),
            tenant: info.tenant.map(str::to_owned),
            revision: info.revision.map(str::to_owned),
            system_revision: info.system_revision.map(str::to_owned),
        }
    }

    /// As protobuf's `Struct`.
    pub fn to_struct(&self) -> pbuf::Struct {
        let mut out = match self.from_policy.as_ref().map(to_proto) {
            Some(pbuf::Value {
                kind: Some(Kind::StructValue(s)),
            }) => s,
            _ => pbuf::Struct::default(),
        };
        out.fields
            .insert(DECISION_ID.to_owned(), string_value(&self.decision_id));
        let pdp = pbuf::Struct {
            fields: self
                .stamp()
                .map(|(name, value)| (name.to_owned(), string_value(value)))
                .collect(),
        };
        out.fields.insert(
            PDP.to_owned(),
            pbuf::Value {
                kind: Some(Kind::StructValue(pdp)),
            },
        );
        out
    }

    /// Appends the `Struct` as field `field` of the enclosing message: the
    /// policy's entries, then the stamp's.
    pub fn encode(&self, field: u32, buf: &mut impl BufMut) {
        put_len_field(buf, field, self.struct_len());
        for (key, value) in self.policy_entries() {
            put_entry(buf, &key, value_len(value), |buf| put_value(buf, value));
        }
        put_string_entry(buf, DECISION_ID, &self.decision_id);
        let pdp_len = self.pdp_len();
        put_entry(buf, PDP, field_len(pdp_len), |buf| {
            put_len_field(buf, STRUCT, pdp_len);
            for (name, value) in self.stamp() {
                put_string_entry(buf, name, value);
            }
        });
    }

    /// The policy's entries the stamp does not replace.
    fn policy_entries(&self) -> impl Iterator<Item = (Cow<'_, str>, &Value)> {
        let fields = match &self.from_policy {
            Some(Value::Object(fields)) => Some(fields.iter()),
            _ => None,
        };
        fields
            .into_iter()
            .flatten()
            .map(|(key, value)| (key_text(key), value))
            .filter(|(key, _)| key != DECISION_ID && key != PDP)
    }

    /// The `pdp` entries that are known.
    fn stamp(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("tenant", self.tenant.as_deref()),
            ("revision", self.revision.as_deref()),
            ("system_revision", self.system_revision.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
    }

    /// The encoded length of the `Struct`'s body.
    fn struct_len(&self) -> usize {
        let policy: usize = self
            .policy_entries()
            .map(|(key, value)| entry_len(&key, value_len(value)))
            .sum();
        policy
            + string_entry_len(DECISION_ID, &self.decision_id)
            + entry_len(PDP, field_len(self.pdp_len()))
    }

    /// The encoded length of the `pdp` `Struct`'s body.
    fn pdp_len(&self) -> usize {
        self.stamp()
            .map(|(name, value)| string_entry_len(name, value))
            .sum()
    }
}

/// A Rego value as a protobuf `Value`. Sets become lists; object keys that
/// are not strings are written as their JSON text; numbers become the
/// nearest doubles, as in protobuf's `Struct`.
pub fn to_proto(value: &Value) -> pbuf::Value {
    let kind = match value {
        Value::Null | Value::Undefined => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(_) => Kind::NumberValue(number(value)),
        Value::String(s) => Kind::StringValue(s.to_string()),
        Value::Array(items) => Kind::ListValue(pbuf::ListValue {
            values: items.iter().map(to_proto).collect(),
        }),
        Value::Set(items) => Kind::ListValue(pbuf::ListValue {
            values: items.iter().map(to_proto).collect(),
        }),
        Value::Object(fields) => {
            let mut out = pbuf::Struct::default();
            for (k, v) in fields.iter() {
                out.fields.insert(key_text(k).into_owned(), to_proto(v));
            }
            Kind::StructValue(out)
        }
    };
    pbuf::Value { kind: Some(kind) }
}

fn string_value(s: &str) -> pbuf::Value {
    pbuf::Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    }
}

/// An object key as `Struct` spells it.
fn key_text(key: &Value) -> Cow<'_, str> {
    match key {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_json_str().unwrap_or_default().trim().to_owned()),
    }
}

/// A number as the nearest double, as OPA-Envoy converts JSON numbers:
/// integers beyond 2^53 are rounded, not lost.
fn number(value: &Value) -> f64 {
    match value {
        Value::Number(n) => n
            .as_f64()
            .unwrap_or_else(|| n.format_decimal().parse().unwrap_or(f64::NAN)),
        _ => f64::NAN,
    }
}

// Field numbers of `google.protobuf.Value`, `Struct`, its map entries and
// `ListValue`.
const NULL: u32 = 1;
const NUMBER: u32 = 2;
const STRING: u32 = 3;
const BOOL: u32 = 4;
const STRUCT: u32 = 5;
const LIST: u32 = 6;
const STRUCT_FIELDS: u32 = 1;
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;
const LIST_VALUES: u32 = 1;

// Wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

/// The encoded length of a `Value`'s body.
fn value_len(value: &Value) -> usize {
    match value {
        Value::Null | Value::Undefined | Value::Bool(_) => 2,
        Value::Number(_) => 9,
        Value::String(s) => field_len(s.len()),
        Value::Array(items) => field_len(list_len(items.iter())),
        Value::Set(items) => field_len(list_len(items.iter())),
        Value::Object(fields) => field_len(object_len(fields.iter())),
    }
}

fn list_len<'a>(items: impl Iterator<Item = &'a Value>) -> usize {
    items.map(|item| field_len(value_len(item))).sum()
}

fn object_len<'a>(fields: impl Iterator<Item = (&'a Value, &'a Value)>) -> usize {
    fields
        .map(|(key, value)| entry_len(&key_text(key), value_len(value)))
        .sum()
}

/// A `Struct` map entry whose `Value` holds a string.
fn string_entry_len(key: &str, value: &str) -> usize {
    entry_len(key, field_len(value.len()))
}

/// A `Struct` map entry, key and field tag included.
fn entry_len(key: &str, value_body: usize) -> usize {
    let body = field_len(key.len()) + field_len(value_body);
    field_len(body)
}

/// A length-delimited field with a `len`-byte body, tag and length
/// included (every field number here fits a one-byte tag).
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn varint_len(v: u64) -> usize {
    // One byte per started group of seven bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_value(buf: &mut impl BufMut, value: &Value) {
    match value {
        Value::Null | Value::Undefined => {
            put_key(buf, NULL, VARINT);
            buf.put_u8(0);
        }
        Value::Bool(b) => {
            put_key(buf, BOOL, VARINT);
            buf.put_u8(u8::from(*b));
        }
        Value::Number(_) => {
            put_key(buf, NUMBER, FIXED64);
            buf.put_f64_le(number(value));
        }
        Value::String(s) => put_bytes_field(buf, STRING, s.as_bytes()),
        Value::Array(items) => put_list(buf, items.iter()),
        Value::Set(items) => put_list(buf, items.iter()),
        Value::Object(fields) => {
            put_len_field(buf, STRUCT, object_len(fields.iter()));
            for (key, value) in fields.iter() {
                put_entry(buf, &key_text(key), value_len(value), |buf| {
                    put_value(buf, value);
                });
            }
        }
    }
}

fn put_list<'a>(buf: &mut impl BufMut, items: impl Iterator<Item = &'a Value> + Clone) {
    put_len_field(buf, LIST, list_len(items.clone()));
    for item in items {
        put_len_field(buf, LIST_VALUES, value_len(item));
        put_value(buf, item);
    }
}

fn put_string_entry(buf: &mut impl BufMut, key: &str, value: &str) {
    put_entry(buf, key, field_len(value.len()), |buf| {
        put_bytes_field(buf, STRING, value.as_bytes());
    });
}

/// One `Struct` map entry; `put_body` writes the `Value`'s body, which is
/// `value_body` bytes long.
fn put_entry<B: BufMut>(buf: &mut B, key: &str, value_body: usize, put_body: impl FnOnce(&mut B)) {
    let body = field_len(key.len()) + field_len(value_body);
    put_len_field(buf, STRUCT_FIELDS, body);
    put_bytes_field(buf, ENTRY_KEY, key.as_bytes());
    put_len_field(buf, ENTRY_VALUE, value_body);
    put_body(buf);
}

fn put_bytes_field(buf: &mut impl BufMut, field: u32, bytes: &[u8]) {
    put_len_field(buf, field, bytes.len());
    buf.put_slice(bytes);
}

fn put_len_field(buf: &mut impl BufMut, field: u32, len: usize) {
    put_key(buf, field, LEN);
    put_varint(buf, len as u64);
}

fn put_key(buf: &mut impl BufMut, field: u32, wire_type: u32) {
    put_varint(buf, u64::from(field << 3 | wire_type));
}

fn put_varint(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

#[cfg(test)]
mod tests;
