use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::{
    envoy::service::auth::v3::CheckResponse,
    google::{protobuf as pbuf, rpc},
};
use proptest::prelude::*;
use prost::Message;
use regorus::Value;

use super::*;

fn info() -> DecisionInfo<'static> {
    DecisionInfo {
        decision_id: "2f1c7a1e-9b3d-4c8e-a0f1-6d2b9e4c3a57",
        tenant: Some("acme"),
        revision: Some("7d3f0c1"),
        system_revision: Some("s-12"),
    }
}

/// The `Struct` that decoding `metadata`'s wire form gives.
fn decoded(metadata: &Metadata) -> pbuf::Struct {
    // A status first, as in a real response, so that the metadata is
    // appended to a message rather than standing alone.
    let mut bytes = CheckResponse {
        status: Some(rpc::Status::default()),
        ..CheckResponse::default()
    }
    .encode_to_vec();
    metadata.encode(4, &mut bytes);
    CheckResponse::decode(bytes.as_slice())
        .expect("the encoding decodes")
        .dynamic_metadata
        .expect("metadata is present")
}

fn policy(json: &str) -> Value {
    Value::from_json_str(json).unwrap()
}

#[test]
fn stamp_alone_encodes_as_the_struct_it_builds() {
    let metadata = Metadata::new(None, &info());
    assert_eq!(decoded(&metadata), metadata.to_struct());
    assert_eq!(metadata.to_struct().fields.len(), 2);
}

#[test]
fn stamp_without_a_tenant_leaves_the_tenant_and_revision_out() {
    let metadata = Metadata::new(
        None,
        &DecisionInfo {
            decision_id: "d",
            system_revision: Some("s"),
            ..DecisionInfo::default()
        },
    );
    let decoded = decoded(&metadata);
    assert_eq!(decoded, metadata.to_struct());
    let Some(Kind::StructValue(pdp)) = &decoded.fields["pdp"].kind else {
        panic!("pdp is a struct");
    };
    assert_eq!(pdp.fields.keys().collect::<Vec<_>>(), ["system_revision"]);
}

#[test]
fn policy_keys_named_like_the_stamp_are_replaced() {
    let metadata = Metadata::new(
        Some(&policy(
            r#"{"decision_id": "mine", "pdp": 1, "reason": "ok"}"#,
        )),
        &info(),
    );
    let decoded = decoded(&metadata);
    assert_eq!(decoded, metadata.to_struct());
    assert_eq!(
        decoded.fields["decision_id"].kind,
        Some(Kind::StringValue(info().decision_id.to_owned()))
    );
    assert_eq!(
        decoded.fields["reason"].kind,
        Some(Kind::StringValue("ok".to_owned()))
    );
}

#[test]
fn policy_metadata_that_is_not_an_object_is_ignored() {
    for value in [policy("[1, 2]"), policy(r#""text""#), policy("3")] {
        let metadata = Metadata::new(Some(&value), &info());
        assert_eq!(metadata, Metadata::new(None, &info()));
        assert_eq!(decoded(&metadata), metadata.to_struct());
    }
}

#[test]
fn nested_values_sets_and_long_strings_round_trip() {
    let long = "é".repeat(200);
    let mut object = policy(&format!(
        r#"{{"list": [1, 2.5, -3e300, null, true, false, "", {{"deep": [[{{}}]]}}],
            "long": "{long}", "unicode": "ünïcødé ✓", "": "empty key"}}"#
    ));
    let set: BTreeSet<Value> = [Value::from("b"), Value::from(1_i64), Value::Null]
        .into_iter()
        .collect();
    let with_odd_keys: BTreeMap<Value, Value> = [
        (Value::from(7_i64), Value::from("number key")),
        (Value::from(true), Value::from(Vec::<Value>::new())),
    ]
    .into_iter()
    .collect();
    let map = object.as_object_mut().unwrap();
    map.insert(Value::from("set"), Value::from(set));
    map.insert(Value::from("odd keys"), Value::from(with_odd_keys));

    let metadata = Metadata::new(Some(&object), &info());
    let decoded = decoded(&metadata);
    assert_eq!(decoded, metadata.to_struct());
    let Some(Kind::StructValue(odd)) = &decoded.fields["odd keys"].kind else {
        panic!("a struct");
    };
    assert!(odd.fields.contains_key("7") && odd.fields.contains_key("true"));
}

#[test]
fn integers_beyond_double_precision_become_the_nearest_double() {
    let metadata = Metadata::new(
        Some(&policy(
            r#"{"big": 9007199254740993, "huge": 123456789012345678901234567890}"#,
        )),
        &info(),
    );
    let decoded = decoded(&metadata);
    assert_eq!(decoded, metadata.to_struct());
    assert_eq!(
        decoded.fields["big"].kind,
        Some(Kind::NumberValue(9_007_199_254_740_992.0))
    );
    assert_eq!(
        decoded.fields["huge"].kind,
        Some(Kind::NumberValue(1.234_567_890_123_456_8e29))
    );
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e300..1e300_f64).prop_map(Value::from),
        ".{0,150}".prop_map(|s| Value::from(s.as_str())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_set(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,12}", inner.clone(), 0..6).prop_map(|m| {
                let map: BTreeMap<Value, Value> = m
                    .into_iter()
                    .map(|(k, v)| (Value::from(k.as_str()), v))
                    .collect();
                Value::from(map)
            }),
            prop::collection::btree_map(inner.clone(), inner, 0..3).prop_map(Value::from),
        ]
    })
}

proptest! {
    #[test]
    fn any_policy_object_encodes_as_the_struct_it_builds(
        fields in prop::collection::btree_map(".{0,12}", arb_value(), 0..8),
        id in "[0-9a-f-]{0,40}",
        tenant in proptest::option::of("[a-z0-9-]{1,30}"),
        revision in proptest::option::of(".{0,200}"),
    ) {
        let object: BTreeMap<Value, Value> =
            fields.into_iter().map(|(k, v)| (Value::from(k.as_str()), v)).collect();
        let info = DecisionInfo {
            decision_id: &id,
            tenant: tenant.as_deref(),
            revision: revision.as_deref(),
            system_revision: Some("s"),
        };
        let metadata = Metadata::new(Some(&Value::from(object)), &info);
        prop_assert_eq!(decoded(&metadata), metadata.to_struct());
    }
}
