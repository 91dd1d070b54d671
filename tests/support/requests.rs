//! Check requests shaped like those Envoy 1.40 sends: socket addresses, the
//! request time, the stream id, pseudo-headers and Envoy's own headers in
//! the header map, principals on mTLS, and the body fields with
//! `x-envoy-auth-partial-body` when `with_request_body` is on.

use std::collections::HashMap;

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

/// Builds one check request.
#[derive(Debug, Clone)]
pub struct Check {
    request: CheckRequest,
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

impl Check {
    /// A plaintext HTTP/1.1 request, as a sidecar or gateway sends it.
    pub fn http(method: &str, path: &str, authority: &str) -> Self {
        let headers: HashMap<String, String> = [
            (":authority", authority),
            (":method", method),
            (":path", path),
            (":scheme", "http"),
            ("user-agent", "curl/8.5.0"),
            ("accept", "*/*"),
            ("x-forwarded-proto", "http"),
            ("x-request-id", "2f5c7d1e-8a9b-4c3d-9e0f-1a2b3c4d5e6f"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let http = HttpRequest {
            id: "14823941563902447233".to_owned(),
            method: method.to_owned(),
            headers,
            path: path.to_owned(),
            host: authority.to_owned(),
            scheme: "http".to_owned(),
            protocol: "HTTP/1.1".to_owned(),
            ..HttpRequest::default()
        };
        Self {
            request: CheckRequest {
                attributes: Some(AttributeContext {
                    source: Some(Peer {
                        address: socket("10.244.1.17", 43982),
                        ..Peer::default()
                    }),
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
                    ..AttributeContext::default()
                }),
            },
        }
    }

    fn attrs(&mut self) -> &mut AttributeContext {
        self.request
            .attributes
            .get_or_insert_with(AttributeContext::default)
    }

    fn http_mut(&mut self) -> &mut HttpRequest {
        self.attrs()
            .request
            .get_or_insert_with(Request::default)
            .http
            .get_or_insert_with(HttpRequest::default)
    }

    /// mTLS between two Istio workloads: both SPIFFE principals, and the
    /// `x-forwarded-client-cert` header Istio's sidecar adds.
    pub fn mtls(mut self, source: &str, destination: &str) -> Self {
        let xfcc = format!("By={destination};Hash=6f1c0d;Subject=\"\";URI={source}");
        self.attrs()
            .source
            .get_or_insert_with(Peer::default)
            .principal = source.to_owned();
        self.attrs()
            .destination
            .get_or_insert_with(Peer::default)
            .principal = destination.to_owned();
        self.http_mut()
            .headers
            .insert("x-forwarded-client-cert".to_owned(), xfcc);
        self.http_mut().scheme = "https".to_owned();
        self
    }

    /// A `context_extensions` entry (Envoy's per-route check settings).
    pub fn extension(mut self, key: &str, value: &str) -> Self {
        self.attrs()
            .context_extensions
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// A request header.
    pub fn header(mut self, key: &str, value: &str) -> Self {
        self.http_mut()
            .headers
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// A body that fits within `max_request_bytes`.
    pub fn body(mut self, content_type: &str, body: &str) -> Self {
        let http = self.http_mut();
        http.headers
            .insert("content-type".to_owned(), content_type.to_owned());
        http.headers
            .insert("content-length".to_owned(), body.len().to_string());
        http.headers
            .insert("x-envoy-auth-partial-body".to_owned(), "false".to_owned());
        http.body = body.to_owned();
        http.size = body.len() as i64;
        self
    }

    /// A body cut at `limit` bytes, as `allow_partial_message` sends it.
    pub fn partial_body(mut self, content_type: &str, body: &str, limit: usize) -> Self {
        let http = self.http_mut();
        http.headers
            .insert("content-type".to_owned(), content_type.to_owned());
        http.headers
            .insert("content-length".to_owned(), body.len().to_string());
        http.headers
            .insert("x-envoy-auth-partial-body".to_owned(), "true".to_owned());
        http.body = body.chars().take(limit).collect();
        http.size = body.len() as i64;
        self
    }

    /// Moves the headers into `header_map`, as `encode_raw_headers` does:
    /// one entry per header, the value as bytes.
    pub fn raw_headers(mut self) -> Self {
        let http = self.http_mut();
        let mut headers: Vec<(String, String)> = http.headers.drain().collect();
        headers.sort();
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
        self
    }

    /// The request.
    pub fn build(self) -> CheckRequest {
        self.request
    }
}
