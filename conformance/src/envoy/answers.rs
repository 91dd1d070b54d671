//! The answers compared by the Envoy corpus: a `CheckResponse` reduced to
//! what Envoy acts on, observed from the service's reply or derived from
//! OPA's decision by OPA-Envoy's rules (its `envoyauth/response.go`).

use envoy_types::pb::envoy::service::auth::v3::{CheckResponse, check_response::HttpResponse};

use crate::exact::Json;

/// A `CheckResponse` reduced to what Envoy acts on, for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The RPC failed; Envoy answers its `status_on_error`.
    RpcError,
    /// A response.
    Response {
        /// gRPC status code in `status`.
        code: i32,
        /// Denied: the HTTP status; allowed with an OK response: 200.
        http_status: Option<i32>,
        /// Headers (sorted), to the upstream on allow, the client on deny.
        headers: Vec<(String, String)>,
        /// Denied body.
        body: String,
        /// `headers_to_remove`.
        remove: Vec<String>,
        /// `response_headers_to_add` (sorted).
        response_headers: Vec<(String, String)>,
        /// `query_parameters_to_set` (sorted) and `_to_remove`.
        query: (Vec<(String, String)>, Vec<String>),
        /// Dynamic metadata keys set by the policy (sorted).
        metadata_keys: Vec<String>,
    },
}

pub(super) fn observe(response: Result<CheckResponse, tonic::Status>) -> Observed {
    let Ok(response) = response else {
        return Observed::RpcError;
    };
    let code = response.status.as_ref().map_or(0, |s| s.code);
    let mut metadata_keys: Vec<String> = response
        .dynamic_metadata
        .map(|m| {
            m.fields
                .into_keys()
                .filter(|k| k != "decision_id" && k != "pdp")
                .collect()
        })
        .unwrap_or_default();
    metadata_keys.sort();
    let pairs = |options: &[envoy_types::pb::envoy::config::core::v3::HeaderValueOption]| {
        let mut out: Vec<(String, String)> = options
            .iter()
            .filter_map(|o| o.header.as_ref().map(|h| (h.key.clone(), h.value.clone())))
            .collect();
        out.sort();
        out
    };
    let service_denial = response
        .http_response
        .as_ref()
        .is_some_and(|r| matches!(r, HttpResponse::DeniedResponse(d) if d.headers.iter().any(|h| h.header.as_ref().is_some_and(|h| h.key == "x-pdp-reason" && h.value != "request_parse_error"))));
    let mut observed = Observed::Response {
        code,
        http_status: None,
        headers: Vec::new(),
        body: String::new(),
        remove: Vec::new(),
        response_headers: Vec::new(),
        query: (Vec::new(), Vec::new()),
        metadata_keys,
    };
    if let Observed::Response {
        http_status,
        headers,
        body,
        remove,
        response_headers,
        query,
        ..
    } = &mut observed
    {
        match response.http_response {
            Some(HttpResponse::OkResponse(ok)) => {
                *http_status = Some(200);
                *headers = pairs(&ok.headers);
                *remove = ok.headers_to_remove;
                *response_headers = pairs(&ok.response_headers_to_add);
                let mut set: Vec<(String, String)> = ok
                    .query_parameters_to_set
                    .into_iter()
                    .map(|q| (q.key, q.value))
                    .collect();
                set.sort();
                *query = (set, ok.query_parameters_to_remove);
            }
            Some(HttpResponse::DeniedResponse(denied)) => {
                *http_status = denied.status.map(|s| s.code);
                *headers = pairs(&denied.headers);
                // The service's own denials carry a fresh decision id.
                *body = if service_denial {
                    String::new()
                } else {
                    denied.body
                };
            }
            // The service never sends Envoy's error response.
            Some(HttpResponse::ErrorResponse(_)) => *http_status = Some(-1),
            None => {}
        }
    }
    observed
}

/// Statuses both Go's `net/http` and Envoy's `StatusCode` know.
const STATUSES: &[i64] = &[
    100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308,
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421,
    422, 423, 424, 426, 428, 429, 431, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
];

fn header_pairs(value: Option<&Json>) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let objects = match value {
        None => return Some(out),
        Some(Json::Object(_)) => vec![value?],
        Some(Json::Array(items)) => items.iter().collect(),
        Some(_) => return None,
    };
    for object in objects {
        let Json::Object(fields) = object else {
            return None;
        };
        for (name, v) in fields {
            match v {
                Json::String(s) => out.push((name.clone(), s.clone())),
                Json::Array(items) => {
                    for item in items {
                        out.push((name.clone(), item.as_str()?.to_owned()));
                    }
                }
                _ => return None,
            }
        }
    }
    out.sort();
    Some(out)
}

fn strings(value: Option<&Json>) -> Option<Vec<String>> {
    match value {
        None => Some(Vec::new()),
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Some(_) => None,
    }
}

/// OPA-Envoy's response for a decision value (`None`: undefined or error).
pub fn expected(decision: Option<&Json>) -> Observed {
    let Some(decision) = decision else {
        return Observed::RpcError;
    };
    let object = match decision {
        Json::Bool(allowed) => {
            return Observed::Response {
                code: if *allowed { 0 } else { 7 },
                http_status: None,
                headers: Vec::new(),
                body: String::new(),
                remove: Vec::new(),
                response_headers: Vec::new(),
                query: (Vec::new(), Vec::new()),
                metadata_keys: Vec::new(),
            };
        }
        Json::Object(_) => decision,
        _ => return Observed::RpcError,
    };
    let Some(Json::Bool(allowed)) = object.get("allowed") else {
        return Observed::RpcError;
    };
    let Some(headers) = header_pairs(object.get("headers")) else {
        return Observed::RpcError;
    };
    let metadata_keys = match object.get("dynamic_metadata") {
        None => Vec::new(),
        Some(Json::Object(fields)) => {
            let mut keys: Vec<String> = fields
                .iter()
                .map(|(k, _)| k.clone())
                .filter(|k| k != "decision_id" && k != "pdp")
                .collect();
            keys.sort();
            keys
        }
        Some(_) => return Observed::RpcError,
    };
    if *allowed {
        let (Some(remove), Some(response_headers), Some(query_remove)) = (
            strings(object.get("request_headers_to_remove")),
            header_pairs(object.get("response_headers_to_add")),
            strings(object.get("query_parameters_to_remove")),
        ) else {
            return Observed::RpcError;
        };
        let mut query_set = Vec::new();
        match object.get("query_parameters_to_set") {
            None => {}
            Some(Json::Object(fields)) => {
                for (k, v) in fields {
                    match v {
                        Json::String(s) => query_set.push((k.clone(), s.clone())),
                        Json::Array(items) => {
                            for item in items {
                                let Some(s) = item.as_str() else {
                                    return Observed::RpcError;
                                };
                                query_set.push((k.clone(), s.to_owned()));
                            }
                        }
                        _ => return Observed::RpcError,
                    }
                }
            }
            Some(_) => return Observed::RpcError,
        }
        query_set.sort();
        return Observed::Response {
            code: 0,
            http_status: Some(200),
            headers,
            body: String::new(),
            remove,
            response_headers,
            query: (query_set, query_remove),
            metadata_keys,
        };
    }
    let body = match object.get("body") {
        None => String::new(),
        Some(Json::String(s)) => s.clone(),
        Some(_) => return Observed::RpcError,
    };
    let http_status = match object.get("http_status") {
        None => 403,
        Some(Json::Number(n)) => match n.parse::<i64>() {
            Ok(code) if STATUSES.contains(&code) => code,
            _ => return Observed::RpcError,
        },
        Some(_) => return Observed::RpcError,
    };
    Observed::Response {
        code: 7,
        http_status: Some(i32::try_from(http_status).unwrap_or(403)),
        headers,
        body,
        remove: Vec::new(),
        response_headers: Vec::new(),
        query: (Vec::new(), Vec::new()),
        metadata_keys,
    }
}
