use std::collections::HashMap;

use envoy_types::pb::envoy::{
    config::core::v3::{HeaderMap, HeaderValue},
    service::auth::v3::{
        AttributeContext, CheckRequest,
        attribute_context::{HttpRequest, Peer, Request},
    },
};
use proptest::prelude::*;
use prost::Message;

use super::{Lifted, decode};
use crate::extauthz::RequestView;

fn request(headers: &[(&str, &str)], http: HttpRequest) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                principal: "spiffe://cluster.local/ns/acme/sa/web".to_owned(),
                ..Peer::default()
            }),
            request: Some(Request {
                time: None,
                http: Some(HttpRequest {
                    headers: headers
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    ..http
                }),
            }),
            context_extensions: HashMap::from([("tenant".to_owned(), "acme".to_owned())]),
            ..AttributeContext::default()
        }),
    }
}

fn http(method: &str, path: &str) -> HttpRequest {
    HttpRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        body: "{\"a\": 1}".to_owned(),
        ..HttpRequest::default()
    }
}

/// Decodes `bytes` both ways and checks that they agree: both fail, or
/// both succeed and the lifted headers, put back in the map, give prost's
/// request exactly.
fn assert_decodes_as_prost(bytes: &[u8]) {
    let expected = CheckRequest::decode(bytes);
    let decoded = decode(bytes);
    let (expected, decoded) = match (expected, decoded) {
        (Ok(expected), Ok(decoded)) => (expected, decoded),
        (Err(_), Err(_)) => return,
        (expected, decoded) => panic!("prost: {expected:?}\nwire: {decoded:?}"),
    };

    let mut rebuilt = decoded.request.clone();
    if let Some(list) = &decoded.headers {
        let http = rebuilt
            .attributes
            .as_mut()
            .and_then(|a| a.request.as_mut())
            .and_then(|r| r.http.as_mut());
        match http {
            Some(http) => {
                assert!(http.headers.is_empty(), "headers left in the map");
                http.headers = list
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
            }
            None => assert!(list.is_empty(), "headers without an HTTP request"),
        }
    }
    assert_eq!(rebuilt, expected);

    let (wire_view, prost_view) = (RequestView::of_wire(&decoded), RequestView::new(&expected));
    let mut wire_headers = HashMap::new();
    wire_view.headers().for_each(|k, v| {
        wire_headers.insert(k.to_owned(), v.to_owned());
    });
    let mut wire_headers: Vec<_> = wire_headers.into_iter().collect();
    let mut prost_headers = Vec::new();
    prost_view
        .headers()
        .for_each(|k, v| prost_headers.push((k.to_owned(), v.to_owned())));
    wire_headers.sort();
    prost_headers.sort();
    assert_eq!(wire_headers, prost_headers);
    for (name, value) in &prost_headers {
        assert_eq!(wire_view.header_value(name), Some(value.as_str()));
    }
}

#[test]
fn headers_are_lifted_out_in_wire_order() {
    let bytes = request(
        &[
            (":path", "/orders"),
            ("x-b", "2"),
            ("content-type", "application/json"),
        ],
        http("GET", "/orders"),
    )
    .encode_to_vec();

    let decoded = decode(&bytes).unwrap();

    let list = decoded.headers.as_ref().unwrap();
    let mut names: Vec<&str> = list.iter().map(|(k, _)| k).collect();
    names.sort_unstable();
    assert_eq!(names, [":path", "content-type", "x-b"]);
    assert_eq!(list.get("x-b"), Some("2"));
    assert_eq!(list.get("x-missing"), None);
    assert_decodes_as_prost(&bytes);
}

#[test]
fn a_header_named_twice_keeps_its_later_value_as_prost_does() {
    // Concatenated messages merge: the second map entry for `x-a` wins.
    let mut bytes = request(&[("x-a", "first"), ("x-z", "z")], http("GET", "/")).encode_to_vec();
    bytes.extend(request(&[("x-a", "second")], http("", "")).encode_to_vec());

    let decoded = decode(&bytes).unwrap();

    assert_eq!(decoded.headers.as_ref().unwrap().get("x-a"), Some("second"));
    assert_decodes_as_prost(&bytes);
}

#[test]
fn raw_header_map_still_takes_precedence_over_the_lifted_map() {
    let mut with_raw = http("POST", "/items");
    with_raw.header_map = Some(HeaderMap {
        headers: vec![HeaderValue {
            key: "X-Raw".to_owned(),
            value: String::new(),
            raw_value: b"raw".to_vec(),
        }],
    });
    let bytes = request(&[("x-raw", "from-map"), ("x-only-map", "m")], with_raw).encode_to_vec();

    let decoded = decode(&bytes).unwrap();
    let view = RequestView::of_wire(&decoded);

    assert_eq!(view.header_value("x-raw"), Some("raw"));
    assert_eq!(view.header_value("x-only-map"), Some("m"));
    assert_decodes_as_prost(&bytes);
}

#[test]
fn a_header_that_is_not_utf8_is_refused_as_prost_refuses_it() {
    let mut bytes = request(&[("x-a", "AAAA")], http("GET", "/")).encode_to_vec();
    let at = bytes.windows(4).position(|w| w == b"AAAA").unwrap();
    bytes[at] = 0xff;

    assert!(decode(&bytes).is_err());
    assert_decodes_as_prost(&bytes);
}

#[test]
fn a_character_split_between_name_and_value_is_refused() {
    // Each half of `é` is invalid alone, though the two together are valid.
    let mut bytes = request(&[("x-aA", "Bb")], http("GET", "/")).encode_to_vec();
    let at = bytes.windows(4).position(|w| w == b"x-aA").unwrap();
    bytes[at + 3] = 0xc3;
    let at = bytes.windows(2).position(|w| w == b"Bb").unwrap();
    bytes[at] = 0xa9;

    assert!(decode(&bytes).is_err());
    assert_decodes_as_prost(&bytes);
}

#[test]
fn a_truncated_request_is_refused() {
    let bytes = request(&[("x-a", "1")], http("GET", "/")).encode_to_vec();
    for end in 0..bytes.len() {
        assert_decodes_as_prost(&bytes[..end]);
    }
}

#[test]
fn a_request_without_http_attributes_decodes() {
    let bytes = CheckRequest::default().encode_to_vec();
    let decoded = decode(&bytes).unwrap();
    assert!(decoded.headers.unwrap().is_empty());
    assert_decodes_as_prost(&bytes);
}

#[test]
fn the_last_entry_of_a_name_is_its_value() {
    let mut lifted = Lifted::for_message(16);
    for (name, value) in [("b", "1"), ("a", "x"), ("b", "2"), ("b", "3")] {
        lifted.push(name.as_bytes(), value.as_bytes());
    }
    let list = lifted.finish().unwrap();
    assert_eq!(list.get("b"), Some("3"));
    assert_eq!(list.get("a"), Some("x"));
    assert_eq!(list.get("c"), None);
    assert_eq!(list.iter().count(), 4);
}

fn header_entries() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("[a-c:-]{0,3}", "\\PC{0,6}"), 0..8)
}

proptest! {
    #[test]
    fn lifting_agrees_with_prost_on_any_headers(
        first in header_entries(),
        second in header_entries(),
        method in "[A-Z]{0,6}",
    ) {
        let first: Vec<(&str, &str)> = first.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let second: Vec<(&str, &str)> = second.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut bytes = request(&first, http(&method, "/p")).encode_to_vec();
        bytes.extend(request(&second, HttpRequest::default()).encode_to_vec());
        assert_decodes_as_prost(&bytes);
    }

    #[test]
    fn lifting_agrees_with_prost_on_corrupted_bytes(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = request(
            &[("x-a", "1"), (":authority", "api"), ("cookie", "s=1")],
            http("GET", "/orders?x=1"),
        )
        .encode_to_vec();
        for (index, byte) in flips {
            let at = index.index(bytes.len());
            bytes[at] = byte;
        }
        assert_decodes_as_prost(&bytes);
    }

    #[test]
    fn lifting_agrees_with_prost_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        assert_decodes_as_prost(&bytes);
    }
}
