use std::collections::HashMap;

use envoy_types::pb::{
    envoy::{
        config::core::v3::{
            Address, EnvoyInternalAddress, HeaderMap, HeaderValue, HeaderValueOption, Metadata,
            Pipe, QueryParameter, SocketAddress, address, envoy_internal_address, socket_address,
        },
        service::auth::v3::{
            AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
            attribute_context::{HttpRequest, Peer, Request, TlsSession},
            check_response::HttpResponse,
        },
        r#type::v3::HttpStatus,
    },
    google::{
        protobuf::{Any, BoolValue, ListValue, Struct, Timestamp, Value, value::Kind},
        rpc::Status,
    },
};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage};

use super::DESCRIPTORS;

fn pool() -> DescriptorPool {
    DescriptorPool::decode(DESCRIPTORS).unwrap()
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn peer(address: address::Address) -> Peer {
    Peer {
        address: Some(Address {
            address: Some(address),
        }),
        service: "svc".into(),
        labels: map(&[("app", "x")]),
        principal: "spiffe://cluster.local/ns/a/sa/b".into(),
        certificate: "-----BEGIN%20CERTIFICATE-----".into(),
    }
}

fn metadata() -> Metadata {
    let value = Value {
        kind: Some(Kind::ListValue(ListValue {
            values: vec![Value {
                kind: Some(Kind::NumberValue(1.5)),
            }],
        })),
    };
    Metadata {
        filter_metadata: HashMap::from([(
            "envoy.filters.http.jwt_authn".to_owned(),
            Struct {
                fields: HashMap::from([("claims".to_owned(), value)]),
            },
        )]),
        typed_filter_metadata: HashMap::from([(
            "x".to_owned(),
            Any {
                type_url: "type.googleapis.com/google.protobuf.Struct".into(),
                value: vec![1, 2, 3],
            },
        )]),
    }
}

/// Every field of every message a check request reaches, set.
fn full_request() -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(peer(address::Address::SocketAddress(SocketAddress {
                protocol: 1,
                address: "10.0.0.1".into(),
                resolver_name: "r".into(),
                ipv4_compat: true,
                network_namespace_filepath: "/var/run/netns/x".into(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(8080)),
            }))),
            destination: Some(peer(address::Address::Pipe(Pipe {
                path: "/run/sock".into(),
                mode: 0o600,
            }))),
            request: Some(Request {
                time: Some(Timestamp {
                    seconds: 1_764_781_200,
                    nanos: 5,
                }),
                http: Some(HttpRequest {
                    id: "1".into(),
                    method: "POST".into(),
                    headers: map(&[(":path", "/a")]),
                    header_map: Some(HeaderMap {
                        headers: vec![HeaderValue {
                            key: "k".into(),
                            value: "v".into(),
                            raw_value: b"v".to_vec(),
                        }],
                    }),
                    path: "/a".into(),
                    host: "h".into(),
                    scheme: "https".into(),
                    query: "q".into(),
                    fragment: "f".into(),
                    size: 1 << 40,
                    protocol: "HTTP/2".into(),
                    body: "{}".into(),
                    raw_body: b"{}".to_vec(),
                }),
            }),
            context_extensions: map(&[("tenant", "acme")]),
            metadata_context: Some(metadata()),
            route_metadata_context: Some(metadata()),
            tls_session: Some(TlsSession {
                sni: "a.example".into(),
            }),
        }),
    }
}

#[allow(
    deprecated,
    reason = "the deprecated fields are part of the wire format and must round-trip"
)]
fn header_option() -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: "x".into(),
            value: "y".into(),
            raw_value: Vec::new(),
        }),
        append: Some(BoolValue { value: true }),
        append_action: 3,
        keep_empty_value: true,
    }
}

#[allow(
    deprecated,
    reason = "the deprecated fields are part of the wire format and must round-trip"
)]
fn full_responses() -> Vec<CheckResponse> {
    let status = Some(Status {
        code: 7,
        message: "m".into(),
        details: vec![Any {
            type_url: "t".into(),
            value: vec![9],
        }],
    });
    let ok = OkHttpResponse {
        headers: vec![header_option()],
        headers_to_remove: vec!["a".into()],
        dynamic_metadata: Some(Struct::default()),
        response_headers_to_add: vec![header_option()],
        query_parameters_to_set: vec![QueryParameter {
            key: "k".into(),
            value: "v".into(),
        }],
        query_parameters_to_remove: vec!["d".into()],
    };
    let denied = DeniedHttpResponse {
        status: Some(HttpStatus { code: 401 }),
        headers: vec![header_option()],
        body: "b".into(),
    };
    let metadata = Some(Struct {
        fields: HashMap::from([(
            "decision_id".to_owned(),
            Value {
                kind: Some(Kind::StringValue("d".into())),
            },
        )]),
    });
    [
        HttpResponse::OkResponse(ok),
        HttpResponse::DeniedResponse(denied.clone()),
        HttpResponse::ErrorResponse(denied),
    ]
    .into_iter()
    .map(|http| CheckResponse {
        status: status.clone(),
        dynamic_metadata: metadata.clone(),
        http_response: Some(http),
    })
    .collect()
}

/// Fails if any message, at any depth, holds a field the descriptors do
/// not know.
fn assert_no_unknown_fields(message: &DynamicMessage, path: &str) {
    assert_eq!(
        message.unknown_fields().count(),
        0,
        "unknown fields in {path} ({})",
        message.descriptor().full_name()
    );
    for (field, value) in message.fields() {
        let here = format!("{path}.{}", field.name());
        match value {
            prost_reflect::Value::Message(inner) => assert_no_unknown_fields(inner, &here),
            prost_reflect::Value::List(items) => {
                for item in items {
                    if let prost_reflect::Value::Message(inner) = item {
                        assert_no_unknown_fields(inner, &here);
                    }
                }
            }
            prost_reflect::Value::Map(entries) => {
                for item in entries.values() {
                    if let prost_reflect::Value::Message(inner) = item {
                        assert_no_unknown_fields(inner, &here);
                    }
                }
            }
            _ => {}
        }
    }
}

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(name: &str, original: &M) {
    let descriptor = pool().get_message_by_name(name).unwrap();
    let bytes = original.encode_to_vec();
    let dynamic = DynamicMessage::decode(descriptor, bytes.as_slice()).unwrap();
    assert_no_unknown_fields(&dynamic, name);
    let back = M::decode(dynamic.encode_to_vec().as_slice()).unwrap();
    assert_eq!(&back, original);
}

#[test]
fn reflection_descriptors_match_the_wire_types() {
    round_trip("envoy.service.auth.v3.CheckRequest", &full_request());
    for response in full_responses() {
        round_trip("envoy.service.auth.v3.CheckResponse", &response);
    }
    let internal = Address {
        address: Some(address::Address::EnvoyInternalAddress(
            EnvoyInternalAddress {
                endpoint_id: "e".into(),
                address_name_specifier: Some(
                    envoy_internal_address::AddressNameSpecifier::ServerListenerName("l".into()),
                ),
            },
        )),
    };
    round_trip("envoy.config.core.v3.Address", &internal);
}

#[test]
fn reflection_names_fields_as_envoy_does() {
    let pool = pool();
    let service = pool
        .get_service_by_name("envoy.service.auth.v3.Authorization")
        .unwrap();
    let check = service.methods().next().unwrap();
    assert_eq!(check.name(), "Check");
    assert_eq!(
        check.input().full_name(),
        "envoy.service.auth.v3.CheckRequest"
    );

    let http = pool
        .get_message_by_name("envoy.service.auth.v3.AttributeContext.HttpRequest")
        .unwrap();
    assert_eq!(http.get_field_by_name("header_map").unwrap().number(), 13);
    assert_eq!(
        http.get_field_by_name("raw_body").unwrap().json_name(),
        "rawBody"
    );
    let socket = pool
        .get_message_by_name("envoy.config.core.v3.SocketAddress")
        .unwrap();
    assert_eq!(
        socket.get_field_by_name("port_value").unwrap().json_name(),
        "portValue"
    );
    let status = pool.get_enum_by_name("envoy.type.v3.StatusCode").unwrap();
    assert_eq!(status.get_value(401).unwrap().name(), "Unauthorized");
}

#[test]
fn reflection_services_build() {
    assert!(super::v1().is_ok());
    assert!(super::v1alpha().is_ok());
}
