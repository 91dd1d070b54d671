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
//!
//! Every answer is an [`Answer`]: the response without its
//! `dynamic_metadata`, and the [`Metadata`] to put there, which the gRPC
//! server encodes straight onto the wire.

use envoy_types::pb::{
    envoy::{
        config::core::v3::{HeaderValue, HeaderValueOption, QueryParameter},
        service::auth::v3::{
            CheckResponse, DeniedHttpResponse, OkHttpResponse, check_response::HttpResponse,
        },
        r#type::v3::HttpStatus,
    },
    google::rpc,
};
use prost::Message;

pub use self::metadata::{Metadata, to_proto};

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

/// A response and its metadata, kept apart until the end.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Everything but `dynamic_metadata`, which is left unset.
    response: CheckResponse,
    metadata: Metadata,
}

/// `CheckResponse.dynamic_metadata`'s field number.
const DYNAMIC_METADATA: u32 = 4;

impl Answer {
    fn new(response: CheckResponse, metadata: Metadata) -> Self {
        Self { response, metadata }
    }

    /// The whole `CheckResponse`, metadata included.
    pub fn into_response(self) -> CheckResponse {
        CheckResponse {
            dynamic_metadata: Some(self.metadata.to_struct()),
            ..self.response
        }
    }

    /// The `CheckResponse`'s protobuf encoding, the same message
    /// [`Answer::into_response`] gives once decoded. The metadata goes last,
    /// written directly.
    pub fn encode(&self, buf: &mut impl prost::bytes::BufMut) {
        self.response.encode_raw(buf);
        self.metadata.encode(DYNAMIC_METADATA, buf);
    }
}

/// The response to a tenant's well-formed decision.
pub fn decided(decision: &TenantDecision, info: &DecisionInfo<'_>) -> Answer {
    match decision {
        TenantDecision::Bool(allowed) => Answer::new(
            CheckResponse {
                status: Some(status(if *allowed { OK } else { PERMISSION_DENIED }, "")),
                dynamic_metadata: None,
                http_response: None,
            },
            Metadata::new(None, info),
        ),
        TenantDecision::Object(object) => object_response(object, info),
    }
}

fn object_response(d: &ObjectDecision, info: &DecisionInfo<'_>) -> Answer {
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
    Answer::new(
        CheckResponse {
            status: Some(status(if d.allowed { OK } else { PERMISSION_DENIED }, "")),
            dynamic_metadata: None,
            http_response: Some(http_response),
        },
        Metadata::new(d.dynamic_metadata.as_ref(), info),
    )
}

/// A denial the service makes itself: 403 with a JSON body naming the reason.
pub fn service_denied(code: &str, reasons: &[String], info: &DecisionInfo<'_>) -> Answer {
    let body = serde_json::json!({
        "code": code,
        "reasons": reasons,
        "decision_id": info.decision_id,
    });
    denied_with(403, code, &body.to_string(), "application/json", info)
}

/// A request that could not be parsed: 400, in OPA-Envoy's form.
pub fn parse_error(error: &str, info: &DecisionInfo<'_>) -> Answer {
    let message = format!("request_parse_error: {error}");
    let mut answer = denied_with(400, "request_parse_error", &message, "text/plain", info);
    answer.response.status = Some(status(PERMISSION_DENIED, &message));
    answer
}

/// A failure answered as an explicit 403 (`on_error = "deny"`).
pub fn failure_denied(failure: &Failure, info: &DecisionInfo<'_>) -> Answer {
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
) -> Answer {
    let headers = header_options(&[
        ("content-type".to_owned(), content_type.to_owned()),
        (REASON_HEADER.to_owned(), code.to_owned()),
    ]);
    Answer::new(
        CheckResponse {
            status: Some(status(PERMISSION_DENIED, "")),
            dynamic_metadata: None,
            http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                status: Some(HttpStatus { code: http_status }),
                headers,
                body: body.to_owned(),
            })),
        },
        Metadata::new(None, info),
    )
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

mod metadata;

#[cfg(test)]
mod tests;
