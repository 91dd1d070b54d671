//! The input goldens: the requests behind `envoy/inputs/*.json`, our input
//! for each, and the golden with the documented `header_map` fold applied.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::service::auth::v3::CheckRequest;
use pdp::{
    decision::Need,
    extauthz::{InputOptions, RequestView, TenantLabels, build_input},
};

use super::requests::{RequestSpec, check_request};
use crate::exact::{self, Json};

/// The requests of the input goldens, by name.
pub fn golden_request(name: &str) -> Option<CheckRequest> {
    let spec = |path: &str| RequestSpec {
        name: name.into(),
        method: "GET".into(),
        path: path.into(),
        headers: BTreeMap::new(),
        source_principal: None,
        body: None,
        content_type: None,
        raw_headers: false,
    };
    let mut s = match name {
        "plain" => spec("/api/orders?id=7&id=8&q=a+b"),
        "mtls-spiffe" => RequestSpec {
            source_principal: Some("spiffe://cluster.local/ns/acme/sa/web".into()),
            ..spec("/api/orders")
        },
        "raw-headers" => RequestSpec {
            raw_headers: true,
            ..spec("/raw")
        },
        "json-body" => RequestSpec {
            method: "POST".into(),
            body: Some(r#"{"amount": 12.5, "items": [1, 2], "note": "café"}"#.into()),
            content_type: Some("application/json".into()),
            ..spec("/api/orders")
        },
        "form-body" => RequestSpec {
            method: "POST".into(),
            body: Some("name=a+b&tag=x&tag=y%21".into()),
            content_type: Some("application/x-www-form-urlencoded".into()),
            ..spec("/form")
        },
        "multipart-body" => RequestSpec {
            method: "POST".into(),
            body: Some(
                "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n\
                 --XyZ\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"k\": 1}\r\n\
                 --XyZ--\r\n"
                    .into(),
            ),
            content_type: Some("multipart/form-data; boundary=XyZ".into()),
            ..spec("/upload")
        },
        "double-slash" => spec("//admin/dashboard"),
        "escaped-path" => spec("/caf%C3%A9/a%2Fb?x=%41"),
        "partial-body" => {
            let mut s = RequestSpec {
                method: "POST".into(),
                body: Some(r#"{"truncated": tr"#.into()),
                content_type: Some("application/json".into()),
                ..spec("/partial")
            };
            s.headers.insert("x-envoy-auth-partial-body".into(), "true".into());
            s
        }
        _ => return None,
    };
    s.name = name.into();
    Some(check_request(&s, None))
}

/// Names of the input goldens.
pub const GOLDENS: &[&str] = &[
    "plain",
    "mtls-spiffe",
    "raw-headers",
    "json-body",
    "form-body",
    "multipart-body",
    "double-slash",
    "escaped-path",
    "partial-body",
];

/// Our input for golden `name`, and the golden with the documented
/// `header_map` fold applied.
pub fn golden_pair(name: &str) -> anyhow::Result<(regorus::Value, Json)> {
    let request = golden_request(name).ok_or_else(|| anyhow::anyhow!("no golden `{name}`"))?;
    let view = RequestView::new(&request);
    let ours = build_input(
        &request,
        &view,
        TenantLabels::default(),
        InputOptions::default(),
        Need::All,
    )?;
    let path = crate::root()
        .join("envoy/inputs")
        .join(format!("{name}.json"));
    let golden = exact::parse(&std::fs::read_to_string(&path)?).map_err(anyhow::Error::msg)?;
    Ok((ours, fold_header_map(golden)))
}

/// The service's documented departure: OPA-Envoy's `headerMap` (one entry
/// per header, values base64 in `rawValue`) becomes the `headers` map.
fn fold_header_map(mut golden: Json) -> Json {
    let Some(Json::Object(http)) = object_at(&mut golden, &["attributes", "request", "http"])
    else {
        return golden;
    };
    let Some(index) = http.iter().position(|(k, _)| k == "headerMap") else {
        return golden;
    };
    let (_, map) = http.remove(index);
    let mut folded: Vec<(String, Json)> = Vec::new();
    if let Some(Json::Array(entries)) = map.get("headers") {
        for entry in entries {
            let key = entry
                .get("key")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned();
            let raw = entry
                .get("rawValue")
                .and_then(Json::as_str)
                .unwrap_or_default();
            let value = base64_decode(raw);
            folded.push((key, Json::String(value)));
        }
    }
    http.push(("headers".into(), Json::Object(folded)));
    golden
}

fn object_at<'a>(json: &'a mut Json, path: &[&str]) -> Option<&'a mut Json> {
    let mut node = json;
    for key in path {
        let Json::Object(fields) = node else {
            return None;
        };
        node = &mut fields.iter_mut().find(|(k, _)| k == key)?.1;
    }
    Some(node)
}

fn base64_decode(text: &str) -> String {
    use base64_standard::decode;
    String::from_utf8_lossy(&decode(text)).into_owned()
}

/// A tiny standard base64 decoder, enough for golden files.
mod base64_standard {
    pub(super) fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => u32::from(c - b'A'),
                b'a'..=b'z' => u32::from(c - b'a') + 26,
                b'0'..=b'9' => u32::from(c - b'0') + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            })
        };
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in text.bytes().filter_map(value) {
            acc = (acc << 6) | c;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push(((acc >> bits) & 0xff) as u8);
            }
        }
        out
    }
}
