//! From a decision to a `CheckResponse`, exactly as OPA-Envoy maps it, plus
//! the answers this service gives on its own (unknown tenant, system deny,
//! unparseable request).
//!
//! | outcome | gRPC status | HTTP response |
//! |---|---|---|
//! | `true` | OK | none |
//! | `false` | PERMISSION_DENIED | none (Envoy answers 403) |
//! | object, allowed | OK | `OkHttpResponse` from the decision |
//! | object, denied | PERMISSION_DENIED | `DeniedHttpResponse`, 403 unless `http_status` |
//! | system deny, unknown tenant | PERMISSION_DENIED | 403, JSON body with the reasons |
//! | unparseable request | PERMISSION_DENIED | 400, `request_parse_error: …` |
//! | undefined, eval error, malformed | RPC error UNKNOWN (Envoy's `status_on_error`), or 403 when configured |

use envoy_types::pb::{
    envoy::{
        config::core::v3::{HeaderValue, HeaderValueOption, QueryParameter},
        service::auth::v3::{
            CheckResponse, DeniedHttpResponse, OkHttpResponse, check_response::HttpResponse,
        },
        r#type::v3::HttpStatus,
    },
    google::{
        protobuf::{self as pbuf, value::Kind},
        rpc,
    },
};
use regorus::Value;

use crate::decision::{Failure, ObjectDecision, TenantDecision};

/// gRPC status codes used here.
const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;

/// Header carrying the reason code on denials the service makes itself.
pub const REASON_HEADER: &str = "x-pdp-reason";

/// How failures (undefined or malformed decisions, evaluation errors) are
/// answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// As OPA-Envoy: the RPC fails, and Envoy applies `status_on_error`
    /// (403 by default) and counts an `ext_authz.error`.
    #[default]
    GrpcError,
    /// An explicit 403 with the failure code in the `x-pdp-reason` header.
    Deny,
}

/// What the service adds to every response's dynamic metadata.
#[derive(Debug, Clone, Default)]
pub struct DecisionInfo<'a> {
    /// The decision's unique ID.
    pub decision_id: &'a str,
    /// The owning tenant, when resolved.
    pub tenant: Option<&'a str>,
    /// The tenant bundle's revision.
    pub revision: Option<&'a str>,
    /// The system bundle's revision.
    pub system_revision: Option<&'a str>,
}

impl DecisionInfo<'_> {
    /// `decision_id`, overwriting any key of that name from the policy, and
    /// `pdp` with the tenant and the revisions that decided.
    fn stamp(&self, fields: &mut std::collections::HashMap<String, pbuf::Value>) {
        fields.insert("decision_id".to_owned(), string_value(self.decision_id));
        let mut pdp = pbuf::Struct::default();
        let entries = [
            ("tenant", self.tenant),
            ("revision", self.revision),
            ("system_revision", self.system_revision),
        ];
        for (name, value) in entries {
            if let Some(value) = value {
                pdp.fields.insert(name.to_owned(), string_value(value));
            }
        }
        fields.insert("pdp".to_owned(), struct_value(pdp));
    }
}

/// The response to a tenant's well-formed decision.
pub fn decided(decision: &TenantDecision, info: &DecisionInfo<'_>) -> CheckResponse {
    match decision {
        TenantDecision::Bool(allowed) => CheckResponse {
            status: Some(status(if *allowed { OK } else { PERMISSION_DENIED }, "")),
            dynamic_metadata: Some(metadata(None, info)),
            http_response: None,
        },
        TenantDecision::Object(object) => object_response(object, info),
    }
}

fn object_response(d: &ObjectDecision, info: &DecisionInfo<'_>) -> CheckResponse {
    let headers = header_options(&d.headers);
    let http_response = if d.allowed {
        HttpResponse::OkResponse(OkHttpResponse {
            headers,
            headers_to_remove: d.request_headers_to_remove.clone(),
            response_headers_to_add: header_options(&d.response_headers_to_add),
            query_parameters_to_set: d
                .query_parameters_to_set
                .iter()
                .map(|(key, value)| QueryParameter {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            query_parameters_to_remove: d.query_parameters_to_remove.clone(),
            // The deprecated per-response metadata stays unset; metadata
            // goes on the `CheckResponse`, as OPA-Envoy does.
            ..OkHttpResponse::default()
        })
    } else {
        HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(d.http_status),
            }),
            headers,
            body: d.body.clone().unwrap_or_default(),
        })
    };
    CheckResponse {
        status: Some(status(if d.allowed { OK } else { PERMISSION_DENIED }, "")),
        dynamic_metadata: Some(metadata(d.dynamic_metadata.as_ref(), info)),
        http_response: Some(http_response),
    }
}

/// A denial the service makes itself: 403 with a JSON body naming the reason.
pub fn service_denied(code: &str, reasons: &[String], info: &DecisionInfo<'_>) -> CheckResponse {
    let body = serde_json::json!({
        "code": code,
        "reasons": reasons,
        "decision_id": info.decision_id,
    });
    denied_with(403, code, &body.to_string(), "application/json", info)
}

/// A request that could not be parsed: 400, in OPA-Envoy's form.
pub fn parse_error(error: &str, info: &DecisionInfo<'_>) -> CheckResponse {
    let message = format!("request_parse_error: {error}");
    let mut response = denied_with(400, "request_parse_error", &message, "text/plain", info);
    response.status = Some(status(PERMISSION_DENIED, &message));
    response
}

/// A failure answered as an explicit 403 (`on_error = "deny"`).
pub fn failure_denied(failure: &Failure, info: &DecisionInfo<'_>) -> CheckResponse {
    let body = serde_json::json!({
        "code": failure.code(),
        "decision_id": info.decision_id,
    });
    denied_with(
        403,
        failure.code(),
        &body.to_string(),
        "application/json",
        info,
    )
}

fn denied_with(
    http_status: i32,
    code: &str,
    body: &str,
    content_type: &str,
    info: &DecisionInfo<'_>,
) -> CheckResponse {
    let headers = header_options(&[
        ("content-type".to_owned(), content_type.to_owned()),
        (REASON_HEADER.to_owned(), code.to_owned()),
    ]);
    CheckResponse {
        status: Some(status(PERMISSION_DENIED, "")),
        dynamic_metadata: Some(metadata(None, info)),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus { code: http_status }),
            headers,
            body: body.to_owned(),
        })),
    }
}

fn status(code: i32, message: &str) -> rpc::Status {
    rpc::Status {
        code,
        message: message.to_owned(),
        details: Vec::new(),
    }
}

fn header_options(headers: &[(String, String)]) -> Vec<HeaderValueOption> {
    headers
        .iter()
        .map(|(key, value)| HeaderValueOption {
            header: Some(HeaderValue {
                key: key.clone(),
                value: value.clone(),
                raw_value: Vec::new(),
            }),
            ..HeaderValueOption::default()
        })
        .collect()
}

/// The decision's own `dynamic_metadata`, then the service's stamp.
fn metadata(from_policy: Option<&Value>, info: &DecisionInfo<'_>) -> pbuf::Struct {
    let mut out = match from_policy.map(to_proto) {
        Some(pbuf::Value {
            kind: Some(Kind::StructValue(s)),
        }) => s,
        _ => pbuf::Struct::default(),
    };
    info.stamp(&mut out.fields);
    out
}

fn string_value(s: &str) -> pbuf::Value {
    pbuf::Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    }
}

fn struct_value(s: pbuf::Struct) -> pbuf::Value {
    pbuf::Value {
        kind: Some(Kind::StructValue(s)),
    }
}

/// A Rego value as a protobuf `Value`. Sets become lists; object keys that
/// are not strings are written as their JSON text; numbers become doubles,
/// as in protobuf's `Struct`.
pub fn to_proto(value: &Value) -> pbuf::Value {
    let kind = match value {
        Value::Null | Value::Undefined => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
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
                let key = match k {
                    Value::String(s) => s.to_string(),
                    other => other.to_json_str().unwrap_or_default().trim().to_owned(),
                };
                out.fields.insert(key, to_proto(v));
            }
            Kind::StructValue(out)
        }
    };
    pbuf::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests;
