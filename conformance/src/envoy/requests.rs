//! The requests of the Envoy corpus: `requests.toml` as read, and the
//! `CheckRequest` Envoy 1.40 would send for each entry.

use std::collections::BTreeMap;

use envoy_types::pb::{
    envoy::{
        config::core::v3::{
            Address, HeaderMap, HeaderValue, SocketAddress, address, socket_address,
        },
        service::auth::v3::{
            AttributeContext, CheckRequest,
            attribute_context::{HttpRequest, Peer, Request},
        },
    },
    google::protobuf::Timestamp,
};
use serde::Deserialize;

/// One request of `requests.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// The case name.
    pub name: String,
    /// HTTP method.
    #[serde(default = "get")]
    pub method: String,
    /// `:path`, with query.
    pub path: String,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// mTLS: the caller's SPIFFE principal.
    #[serde(default)]
    pub source_principal: Option<String>,
    /// A body, with its content type.
    #[serde(default)]
    pub body: Option<String>,
    /// The body's content type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Send headers as `header_map` (Envoy's `encode_raw_headers`).
    #[serde(default)]
    pub raw_headers: bool,
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestsFile {
    #[serde(rename = "request")]
    pub(super) requests: Vec<RequestSpec>,
}

fn socket(ip: &str, port: u32) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_owned(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..SocketAddress::default()
        })),
    })
}

/// A request shaped like Envoy 1.40's for `spec`, owned by `tenant`
/// (through the `tenant` context extension) when given.
pub fn check_request(spec: &RequestSpec, tenant: Option<&str>) -> CheckRequest {
    let mut headers: BTreeMap<String, String> = [
        (":authority", "api.example.svc:8080"),
        (":method", spec.method.as_str()),
        (":path", spec.path.as_str()),
        (":scheme", "http"),
        ("user-agent", "curl/8.5.0"),
        ("accept", "*/*"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "7b0f1c2e-3d4a-4b5c-8d6e-9f0a1b2c3d4e"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    headers.extend(spec.headers.clone());
    let mut http = HttpRequest {
        id: "11731415521239813061".into(),
        method: spec.method.clone(),
        path: spec.path.clone(),
        host: "api.example.svc:8080".into(),
        scheme: "http".into(),
        protocol: "HTTP/1.1".into(),
        ..HttpRequest::default()
    };
    if let Some(body) = &spec.body {
        let content_type = spec
            .content_type
            .clone()
            .unwrap_or_else(|| "text/plain".into());
        headers.insert("content-type".into(), content_type);
        headers.insert("content-length".into(), body.len().to_string());
        http.body = body.clone();
        http.size = i64::try_from(body.len()).unwrap_or(i64::MAX);
    }
    let mut source = Peer {
        address: socket("10.244.1.17", 43982),
        ..Peer::default()
    };
    if let Some(principal) = &spec.source_principal {
        source.principal = principal.clone();
        headers.insert(
            "x-forwarded-client-cert".into(),
            format!(
                "By=spiffe://cluster.local/ns/api/sa/api;Hash=6f1c0d;Subject=\"\";URI={principal}"
            ),
        );
    }
    if spec.raw_headers {
        http.header_map = Some(HeaderMap {
            headers: headers
                .into_iter()
                .map(|(key, value)| HeaderValue {
                    key,
                    value: String::new(),
                    raw_value: value.into_bytes(),
                })
                .collect(),
        });
    } else {
        http.headers = headers.into_iter().collect();
    }
    let mut context_extensions = std::collections::HashMap::new();
    if let Some(tenant) = tenant {
        context_extensions.insert("tenant".to_owned(), tenant.to_owned());
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(source),
            destination: Some(Peer {
                address: socket("10.244.2.31", 8080),
                ..Peer::default()
            }),
            request: Some(Request {
                time: Some(Timestamp {
                    seconds: 1_764_781_200,
                    nanos: 512_000_000,
                }),
                http: Some(http),
            }),
            context_extensions,
            ..AttributeContext::default()
        }),
    }
}
