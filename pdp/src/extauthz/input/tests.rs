use std::collections::HashMap;

use envoy_types::pb::{
    envoy::{
        config::core::v3::{
            Address, HeaderMap, HeaderValue, Metadata, SocketAddress, address, socket_address,
        },
        service::auth::v3::{
            AttributeContext, CheckRequest,
            attribute_context::{HttpRequest, Peer, Request},
        },
    },
    google::protobuf::{self as pbuf, value::Kind},
};
use regorus::Value;

use super::*;
use crate::decision::{InputPlan, InputUsage};

fn socket(ip: &str, port: u32) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_owned(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..SocketAddress::default()
        })),
    })
}

fn request(http: HttpRequest) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                address: socket("10.0.0.7", 51234),
                principal: "spiffe://cluster.local/ns/acme/sa/web".to_owned(),
                ..Peer::default()
            }),
            destination: Some(Peer {
                address: socket("10.0.0.9", 8080),
                principal: "spiffe://cluster.local/ns/acme/sa/api".to_owned(),
                ..Peer::default()
            }),
            request: Some(Request {
                time: Some(pbuf::Timestamp {
                    seconds: 1_764_774_000,
                    nanos: 123_000,
                }),
                http: Some(http),
            }),
            ..AttributeContext::default()
        }),
    }
}

fn http(method: &str, path: &str, headers: &[(&str, &str)]) -> HttpRequest {
    HttpRequest {
        id: "9876543210".to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        host: "api.acme.svc".to_owned(),
        protocol: "HTTP/1.1".to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..HttpRequest::default()
    }
}

fn input_for(req: &CheckRequest, tenants: TenantLabels<'_>) -> serde_json::Value {
    let view = RequestView::new(req);
    let value = build_input(req, &view, tenants, InputOptions::default(), Need::All).unwrap();
    serde_json::from_str(&value.to_json_str().unwrap()).unwrap()
}

fn labels<'a>(destination: &'a str, source: Option<&'a str>) -> TenantLabels<'a> {
    TenantLabels {
        destination: Some(destination),
        source,
    }
}

#[test]
fn attributes_use_protobuf_json_names_and_omit_defaults() {
    let req = request(http(
        "GET",
        "/api/orders?id=7",
        &[(":authority", "api.acme.svc")],
    ));
    let input = input_for(&req, TenantLabels::default());
    let attrs = &input["attributes"];
    assert_eq!(
        attrs["source"]["address"]["socketAddress"],
        serde_json::json!({"address": "10.0.0.7", "portValue": 51234})
    );
    assert_eq!(
        attrs["source"]["principal"],
        "spiffe://cluster.local/ns/acme/sa/web"
    );
    let http = &attrs["request"]["http"];
    assert_eq!(http["method"], "GET");
    assert_eq!(http["path"], "/api/orders?id=7");
    assert_eq!(http["headers"][":authority"], "api.acme.svc");
    for absent in [
        "scheme",
        "query",
        "fragment",
        "body",
        "size",
        "rawBody",
        "headerMap",
    ] {
        assert!(http.get(absent).is_none(), "{absent} should be absent");
    }
    assert!(attrs.get("contextExtensions").is_none());
    assert!(attrs["source"].get("labels").is_none());
}

#[test]
fn timestamps_are_objects_and_64_bit_integers_are_numbers() {
    let mut h = http("POST", "/", &[]);
    h.size = 9_007_199_254_740_993; // above 2^53: must stay exact
    let input = input_for(&request(h), TenantLabels::default());
    assert_eq!(
        input["attributes"]["request"]["time"],
        serde_json::json!({"seconds": 1_764_774_000_u64, "nanos": 123_000})
    );
    let view_req = request(HttpRequest {
        size: 9_007_199_254_740_993,
        ..HttpRequest::default()
    });
    let view = RequestView::new(&view_req);
    let value = build_input(
        &view_req,
        &view,
        TenantLabels::default(),
        InputOptions::default(),
        Need::All,
    )
    .unwrap();
    let size = &value["attributes"]["request"]["http"]["size"];
    assert_eq!(size.as_i64().unwrap(), 9_007_199_254_740_993);
    assert_eq!(
        input["attributes"]["request"]["http"]["size"].as_i64(),
        Some(9_007_199_254_740_993)
    );
}

#[test]
fn opa_envoy_keys_are_added() {
    let req = request(http("GET", "/my/test/path?a=1&a=2", &[]));
    let input = input_for(&req, TenantLabels::default());
    assert_eq!(
        input["parsed_path"],
        serde_json::json!(["my", "test", "path"])
    );
    assert_eq!(input["parsed_query"], serde_json::json!({"a": ["1", "2"]}));
    assert_eq!(input["parsed_body"], serde_json::Value::Null);
    assert_eq!(input["truncated_body"], false);
    assert_eq!(
        input["version"],
        serde_json::json!({"ext_authz": "v3", "encoding": "protojson"})
    );
    assert_eq!(
        input["source_principal"],
        "spiffe://cluster.local/ns/acme/sa/web"
    );
}

#[test]
fn source_principal_is_absent_on_plaintext() {
    let mut req = request(http("GET", "/", &[]));
    if let Some(attrs) = req.attributes.as_mut() {
        attrs.source = None;
        attrs.destination = None;
    }
    let input = input_for(&req, TenantLabels::default());
    assert!(input.get("source_principal").is_none());
}

#[test]
fn resolved_tenants_fill_peer_labels() {
    let req = request(http("GET", "/", &[]));
    let input = input_for(&req, labels("acme", Some("globex")));
    assert_eq!(
        input["attributes"]["destination"]["labels"]["tenant"],
        "acme"
    );
    assert_eq!(input["attributes"]["source"]["labels"]["tenant"], "globex");
    // The rest of the peer is kept.
    assert_eq!(
        input["attributes"]["source"]["principal"],
        "spiffe://cluster.local/ns/acme/sa/web"
    );
}

#[test]
fn labels_envoy_sent_are_kept() {
    let mut req = request(http("GET", "/", &[]));
    if let Some(dest) = req.attributes.as_mut().and_then(|a| a.destination.as_mut()) {
        dest.labels = HashMap::from([
            ("tenant".to_owned(), "from-envoy".to_owned()),
            ("app".to_owned(), "api".to_owned()),
        ]);
    }
    let input = input_for(&req, labels("acme", None));
    assert_eq!(
        input["attributes"]["destination"]["labels"],
        serde_json::json!({"tenant": "from-envoy", "app": "api"})
    );
    assert!(input["attributes"]["source"].get("labels").is_none());
}

#[test]
fn missing_peers_are_created_for_labels() {
    let req = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                time: None,
                http: Some(http("GET", "/", &[])),
            }),
            ..AttributeContext::default()
        }),
    };
    let input = input_for(&req, labels("acme", Some("acme")));
    assert_eq!(
        input["attributes"]["source"],
        serde_json::json!({"labels": {"tenant": "acme"}})
    );
}

#[test]
fn raw_header_map_gives_the_same_input_as_the_header_map() {
    let pairs = [
        (":authority", "api.acme.svc"),
        ("content-type", "application/json"),
        ("cookie", "a=1,b=2"),
    ];
    let plain = request(http("POST", "/o", &pairs));

    let mut raw_http = http("POST", "/o", &[]);
    raw_http.header_map = Some(HeaderMap {
        headers: vec![
            raw(":authority", "api.acme.svc"),
            raw("content-type", "application/json"),
            raw("cookie", "a=1"),
            raw("cookie", "b=2"),
        ],
    });
    let raw_req = request(raw_http);

    assert_eq!(
        input_for(&plain, TenantLabels::default()),
        input_for(&raw_req, TenantLabels::default())
    );
}

fn raw(key: &str, value: &str) -> HeaderValue {
    HeaderValue {
        key: key.to_owned(),
        value: String::new(),
        raw_value: value.as_bytes().to_vec(),
    }
}

#[test]
fn json_body_is_parsed_from_the_unified_headers() {
    let mut h = http("POST", "/o", &[]);
    h.header_map = Some(HeaderMap {
        headers: vec![raw("content-type", "application/json")],
    });
    h.body = r#"{"item": "книга", "qty": 2}"#.to_owned();
    let input = input_for(&request(h), TenantLabels::default());
    assert_eq!(
        input["parsed_body"],
        serde_json::json!({"item": "книга", "qty": 2})
    );
}

#[test]
fn partial_body_is_marked_truncated() {
    let mut h = http(
        "POST",
        "/o",
        &[
            ("content-type", "application/json"),
            ("x-envoy-auth-partial-body", "true"),
        ],
    );
    h.body = r#"{"cut": "#.to_owned();
    h.size = 100_000;
    let input = input_for(&request(h), TenantLabels::default());
    assert_eq!(input["parsed_body"], serde_json::Value::Null);
    assert_eq!(input["truncated_body"], true);
}

#[test]
fn raw_body_is_base64_in_attributes_and_parsed_in_parsed_body() {
    let mut h = http("POST", "/o", &[("content-type", "application/json")]);
    h.raw_body = br#"{"a":1}"#.to_vec();
    let input = input_for(&request(h), TenantLabels::default());
    assert_eq!(
        input["attributes"]["request"]["http"]["rawBody"],
        "eyJhIjoxfQ=="
    );
    assert_eq!(input["parsed_body"], serde_json::json!({"a": 1}));
}

#[test]
fn skip_body_leaves_out_body_keys() {
    let req = request(http("GET", "/", &[]));
    let view = RequestView::new(&req);
    let value = build_input(
        &req,
        &view,
        TenantLabels::default(),
        InputOptions { skip_body: true },
        Need::All,
    )
    .unwrap();
    assert_eq!(value["parsed_body"], Value::Undefined);
    assert_eq!(value["truncated_body"], Value::Undefined);
}

#[test]
fn unparseable_requests_are_input_errors() {
    for (path, body, ct) in [
        ("/a%zz", "", ""),
        ("/a?x=1;y", "", ""),
        ("/a", "{nope", "application/json"),
    ] {
        let h = http("POST", path, &[("content-type", ct)]);
        let mut h = h;
        h.body = body.to_owned();
        let req = request(h);
        let view = RequestView::new(&req);
        assert!(
            build_input(
                &req,
                &view,
                TenantLabels::default(),
                InputOptions::default(),
                Need::All,
            )
            .is_err(),
            "{path} {body}"
        );
    }
}

#[test]
fn metadata_structs_become_plain_objects() {
    let mut req = request(http("GET", "/", &[]));
    let mut fields = HashMap::new();
    fields.insert(
        "user".to_owned(),
        pbuf::Value {
            kind: Some(Kind::StringValue("alice".into())),
        },
    );
    fields.insert(
        "groups".to_owned(),
        pbuf::Value {
            kind: Some(Kind::ListValue(pbuf::ListValue {
                values: vec![pbuf::Value {
                    kind: Some(Kind::NumberValue(1.0)),
                }],
            })),
        },
    );
    if let Some(attrs) = req.attributes.as_mut() {
        attrs.metadata_context = Some(Metadata {
            filter_metadata: HashMap::from([(
                "envoy.filters.http.jwt_authn".to_owned(),
                pbuf::Struct { fields },
            )]),
            typed_filter_metadata: HashMap::new(),
        });
        attrs.context_extensions = HashMap::from([("tenant".to_owned(), "acme".to_owned())]);
    }
    let input = input_for(&req, TenantLabels::default());
    assert_eq!(
        input["attributes"]["metadataContext"]["filterMetadata"]["envoy.filters.http.jwt_authn"],
        serde_json::json!({"user": "alice", "groups": [1]})
    );
    assert_eq!(
        input["attributes"]["contextExtensions"],
        serde_json::json!({"tenant": "acme"})
    );
}

#[test]
fn request_without_attributes_still_has_opa_envoy_keys() {
    let req = CheckRequest::default();
    let input = input_for(&req, TenantLabels::default());
    assert!(input.get("attributes").is_none());
    assert_eq!(input["parsed_path"], serde_json::json!([""]));
}

#[test]
fn a_plan_builds_only_what_the_policies_read() {
    let req = request(http(
        "GET",
        "/api/x?q=1",
        &[("x-api-key", "k"), ("x-other", "o")],
    ));
    let usage = InputUsage {
        whole: false,
        paths: [
            "attributes.request.http.method",
            "attributes.request.http.headers.x-api-key",
            "attributes.source.labels.tenant",
            "parsed_path",
        ]
        .iter()
        .map(|p| p.split('.').map(str::to_owned).collect())
        .collect(),
    };
    let plan = InputPlan::from_usages([&usage]);
    let view = RequestView::new(&req);
    let value = build_input(
        &req,
        &view,
        labels("acme", Some("acme")),
        InputOptions::default(),
        plan.root(),
    )
    .unwrap();
    let input: serde_json::Value = serde_json::from_str(&value.to_json_str().unwrap()).unwrap();
    assert_eq!(
        input,
        serde_json::json!({
            "attributes": {
                "source": {"labels": {"tenant": "acme"}},
                "request": {"http": {"method": "GET", "headers": {"x-api-key": "k"}}}
            },
            "parsed_path": ["api", "x"]
        })
    );
}

#[test]
fn a_plan_still_refuses_requests_opa_envoy_refuses() {
    let plan = InputPlan::from_usages([&InputUsage {
        whole: false,
        paths: [vec!["attributes".to_owned(), "request".to_owned()]]
            .into_iter()
            .collect(),
    }]);
    let mut bad_body = http("POST", "/o", &[("content-type", "application/json")]);
    bad_body.body = "{oops".to_owned();
    for req in [request(http("GET", "/a%zz", &[])), request(bad_body)] {
        let view = RequestView::new(&req);
        assert!(
            build_input(
                &req,
                &view,
                TenantLabels::default(),
                InputOptions::default(),
                plan.root()
            )
            .is_err()
        );
    }
}
