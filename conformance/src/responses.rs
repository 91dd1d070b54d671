//! Response goldens: the `CheckResponse` OPA-Envoy sends for each decision
//! form and each failure, checked against the whole service in process.
//!
//! Each `envoy/responses/<name>.json` holds a decision (a JSON value, or
//! the Rego `policy` that computes it), the request, and what OPA-Envoy
//! answers: a `response` in protobuf's JSON form, or a `grpc_error`. The
//! goldens are written by hand from OPA-Envoy's `envoyauth/response.go`
//! and `internal/internal.go`; nothing here generates them.
//!
//! [`run`] loads every golden as a tenant of one [`Service`] (the decision
//! at `envoy/authz/decision`, beside the repository's system bundle),
//! sends its request, and turns the answer into the same JSON form. Three
//! things are normalised on both sides, because they are not fixed:
//!
//! - `dynamicMetadata.decision_id`, a fresh UUID per decision, becomes
//!   `"<uuid>"` (ours must be a UUID);
//! - header lists are sorted, since OPA-Envoy walks a Go map;
//! - the reason after `request_parse_error: ` is Go's error text in
//!   OPA-Envoy and the service's own wording here, so it becomes `<reason>`.
//!
//! The service's documented additions are removed from its answer: the
//! `pdp` dynamic-metadata entry (tenant and revisions), and on a denial the
//! service makes itself (a request that cannot be parsed) the
//! `x-pdp-reason` and `content-type` headers and the decision ID, which
//! OPA-Envoy leaves out there. A gRPC error's message is compared when the
//! golden gives one.

use std::path::{Path, PathBuf};

use envoy_types::pb::{
    envoy::{
        config::core::v3::HeaderValueOption,
        service::auth::v3::{CheckResponse, check_response::HttpResponse},
        r#type::v3::StatusCode,
    },
    google::protobuf::{self as pbuf, value::Kind},
};
use pdp::{config::Config, server::Service};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

use crate::{
    envoy::{RequestSpec, check_request},
    report::Suite,
    run::{CaseResult, Verdict},
};

/// One golden file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Golden {
    /// What the golden shows, and the OPA-Envoy rule behind it.
    pub about: String,
    /// The decision, as a JSON value.
    #[serde(default)]
    pub decision: Option<Json>,
    /// Rego rules of `package envoy.authz` defining `decision`, instead.
    #[serde(default)]
    pub policy: Option<String>,
    /// The request; a `GET /` when absent.
    #[serde(default)]
    pub request: Option<GoldenRequest>,
    /// OPA-Envoy's `CheckResponse`, in protobuf's JSON form.
    #[serde(default)]
    pub response: Option<Json>,
    /// Or the gRPC error OPA-Envoy fails the call with.
    #[serde(default)]
    pub grpc_error: Option<GrpcError>,
}

/// The request of a golden.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenRequest {
    /// HTTP method.
    #[serde(default)]
    pub method: Option<String>,
    /// `:path`, with query.
    pub path: String,
    /// A body.
    #[serde(default)]
    pub body: Option<String>,
    /// The body's content type.
    #[serde(default)]
    pub content_type: Option<String>,
}

/// A failed call.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GrpcError {
    /// The gRPC code's name, e.g. `Unknown`.
    pub code: String,
    /// The message, when it is part of OPA-Envoy's contract.
    #[serde(default)]
    pub message: Option<String>,
}

/// One golden run through the service, with both answers.
#[derive(Debug)]
pub struct Outcome {
    /// The golden's name.
    pub name: String,
    /// What the golden says (normalised).
    pub golden: String,
    /// What the service answered (normalised).
    pub ours: String,
    /// Whether they are equal.
    pub agree: bool,
    /// Whether the golden allows (status OK).
    pub golden_allows: bool,
    /// Whether the service's answer allows.
    pub ours_allows: bool,
}

/// A response allows when its gRPC status is OK (code 0, left out).
fn allows(response: &Json) -> bool {
    response
        .get("status")
        .is_some_and(|status| status.get("code").is_none())
}

/// Reads every golden under `envoy/responses/`, sorted by name.
pub fn load(dir: &Path) -> anyhow::Result<Vec<(String, Golden)>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut goldens = Vec::new();
    for path in paths {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let golden: Golden = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .map_err(|err| anyhow::anyhow!("`{}`: {err}", path.display()))?;
        anyhow::ensure!(
            golden.decision.is_some() != golden.policy.is_some(),
            "`{name}`: give exactly one of `decision` and `policy`"
        );
        anyhow::ensure!(
            golden.response.is_some() != golden.grpc_error.is_some(),
            "`{name}`: give exactly one of `response` and `grpc_error`"
        );
        goldens.push((name, golden));
    }
    Ok(goldens)
}

/// The tenant bundle of a golden: its policy and a manifest naming the
/// decision rule.
fn write_bundle(dir: &Path, golden: &Golden) -> anyhow::Result<()> {
    let rules = match (&golden.decision, &golden.policy) {
        (Some(decision), _) => format!("decision := {decision}\n"),
        (None, Some(policy)) => policy.clone(),
        (None, None) => anyhow::bail!("no decision"),
    };
    std::fs::create_dir_all(dir.join("envoy/authz"))?;
    std::fs::write(
        dir.join("envoy/authz/policy.rego"),
        format!("package envoy.authz\n\n{rules}"),
    )?;
    let manifest = json!({
        "revision": "golden",
        "roots": ["envoy"],
        "metadata": {"decision_path": "envoy/authz/decision"},
    });
    std::fs::write(dir.join(".manifest"), manifest.to_string())?;
    Ok(())
}

fn copy_system(to: &Path) -> anyhow::Result<()> {
    let from = crate::root().join("../bundles/system");
    let mut stack = vec![from.clone()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let target = to.join(path.strip_prefix(&from)?);
            if path.is_dir() {
                std::fs::create_dir_all(&target)?;
                stack.push(path);
            } else {
                std::fs::copy(&path, &target)?;
            }
        }
    }
    Ok(())
}

/// Runs every golden through one service.
pub fn run() -> anyhow::Result<Vec<Outcome>> {
    let goldens = load(&crate::root().join("envoy/responses"))?;
    let work = tempfile::tempdir()?;
    copy_system(&work.path().join("system"))?;
    for (name, golden) in &goldens {
        write_bundle(&work.path().join("tenants").join(name), golden)?;
    }
    let mut config = Config::default();
    config.bundles.root = work.path().to_owned();
    config.engine.worker_threads = 1;
    let (service, report) = Service::load(config)?;
    anyhow::ensure!(
        report.failed.is_empty(),
        "bundles failed: {:?}",
        report.failed
    );

    let mut outcomes = Vec::new();
    for (name, golden) in &goldens {
        let request = golden.request.as_ref();
        let spec = RequestSpec {
            name: name.clone(),
            method: request
                .and_then(|r| r.method.clone())
                .unwrap_or_else(|| "GET".into()),
            path: request.map_or_else(|| "/".into(), |r| r.path.clone()),
            headers: std::collections::BTreeMap::new(),
            source_principal: None,
            body: request.and_then(|r| r.body.clone()),
            content_type: request.and_then(|r| r.content_type.clone()),
            raw_headers: false,
        };
        let answer = service.check().decide(&check_request(&spec, Some(name)));
        let (ours, expected) = match (answer, golden) {
            (
                Ok(response),
                Golden {
                    response: Some(want),
                    ..
                },
            ) => (
                normalise(response_json(&response)?),
                normalise(want.clone()),
            ),
            (
                Err(status),
                Golden {
                    grpc_error: Some(want),
                    ..
                },
            ) => {
                let code = format!("{:?}", status.code());
                let message = want.message.as_ref().map(|_| status.message().to_owned());
                (
                    json!({"grpc_error": {"code": code, "message": message}}),
                    json!({"grpc_error": {"code": want.code, "message": want.message}}),
                )
            }
            (Ok(response), _) => (response_json(&response)?, golden_json(golden)),
            (Err(status), _) => (
                json!({"grpc_error": {"code": format!("{:?}", status.code()), "message": status.message()}}),
                golden_json(golden),
            ),
        };
        outcomes.push(Outcome {
            name: name.clone(),
            golden: expected.to_string(),
            ours: ours.to_string(),
            agree: ours == expected,
            golden_allows: allows(&expected),
            ours_allows: allows(&ours),
        });
    }
    Ok(outcomes)
}

/// The goldens as a report suite; a golden never counts as a known
/// divergence.
pub fn suite() -> anyhow::Result<Suite> {
    let results = run()?
        .into_iter()
        .map(|outcome| CaseResult {
            name: format!("responses/{}", outcome.name),
            category: "responses".into(),
            verdict: if outcome.agree {
                Verdict::Pass
            } else {
                Verdict::Diverge
            },
            ours_allows: outcome.ours_allows,
            theirs_allows: outcome.golden_allows,
            ours: outcome.ours,
            theirs: outcome.golden,
            note: None,
        })
        .collect();
    Ok(Suite {
        title: "Response goldens (CheckResponses, by OPA-Envoy's rules)".into(),
        results,
    })
}

fn golden_json(golden: &Golden) -> Json {
    match (&golden.response, &golden.grpc_error) {
        (Some(response), _) => response.clone(),
        (None, Some(error)) => {
            json!({"grpc_error": {"code": error.code, "message": error.message}})
        }
        (None, None) => Json::Null,
    }
}

/// A `CheckResponse` in protobuf's JSON form (fields at their default
/// left out, enums by name, `Struct` as a plain object), without the
/// service's additions.
pub fn response_json(response: &CheckResponse) -> anyhow::Result<Json> {
    let mut out = Map::new();
    if let Some(status) = &response.status {
        let mut s = Map::new();
        if status.code != 0 {
            s.insert("code".into(), json!(status.code));
        }
        if !status.message.is_empty() {
            s.insert("message".into(), json!(status.message));
        }
        out.insert("status".into(), Json::Object(s));
    }

    let mut service_made = false;
    match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) => {
            let mut o = Map::new();
            put_headers(&mut o, "headers", &ok.headers, &mut service_made);
            put_strings(&mut o, "headersToRemove", &ok.headers_to_remove);
            put_headers(
                &mut o,
                "responseHeadersToAdd",
                &ok.response_headers_to_add,
                &mut service_made,
            );
            if !ok.query_parameters_to_set.is_empty() {
                let mut params: Vec<Json> = ok
                    .query_parameters_to_set
                    .iter()
                    .map(|q| json!({"key": q.key, "value": q.value}))
                    .collect();
                params.sort_by_key(Json::to_string);
                o.insert("queryParametersToSet".into(), Json::Array(params));
            }
            put_strings(
                &mut o,
                "queryParametersToRemove",
                &ok.query_parameters_to_remove,
            );
            out.insert("okResponse".into(), Json::Object(o));
        }
        Some(HttpResponse::DeniedResponse(denied)) => {
            let mut d = Map::new();
            if let Some(status) = &denied.status {
                let name = StatusCode::try_from(status.code)
                    .map_or_else(|_| status.code.to_string(), |c| c.as_str_name().to_owned());
                d.insert("status".into(), json!({"code": name}));
            }
            put_headers(&mut d, "headers", &denied.headers, &mut service_made);
            if !denied.body.is_empty() {
                d.insert("body".into(), json!(denied.body));
            }
            out.insert("deniedResponse".into(), Json::Object(d));
        }
        Some(HttpResponse::ErrorResponse(_)) => anyhow::bail!("the service sent an error response"),
        None => {}
    }
    if service_made
        && let Some(Json::Object(denied)) = out.get_mut("deniedResponse")
        && let Some(Json::Array(headers)) = denied.get_mut("headers")
    {
        headers.retain(|h| h["header"]["key"] != "content-type");
        if headers.is_empty() {
            denied.remove("headers");
        }
    }

    if let Some(metadata) = &response.dynamic_metadata {
        let mut fields = struct_json(metadata);
        fields.remove("pdp");
        let only_the_id = fields.keys().all(|k| k == "decision_id");
        if !(service_made && only_the_id) {
            out.insert("dynamicMetadata".into(), Json::Object(fields));
        }
    }
    Ok(Json::Object(out))
}

/// Headers as protobuf JSON, sorted; drops the service's reason header and
/// notes that it was there.
fn put_headers(
    out: &mut Map<String, Json>,
    name: &str,
    options: &[HeaderValueOption],
    service_made: &mut bool,
) {
    let mut headers: Vec<Json> = Vec::new();
    for option in options {
        let Some(header) = &option.header else {
            continue;
        };
        if header.key == pdp::extauthz::response::REASON_HEADER {
            *service_made = true;
            continue;
        }
        let mut entry = Map::new();
        entry.insert(
            "header".into(),
            json!({"key": header.key, "value": header.value}),
        );
        if let Some(append) = legacy_append(option) {
            entry.insert("append".into(), json!(append));
        }
        if option.append_action != 0 {
            entry.insert("appendAction".into(), json!(option.append_action));
        }
        headers.push(Json::Object(entry));
    }
    if !headers.is_empty() {
        headers.sort_by_key(Json::to_string);
        out.insert(name.into(), Json::Array(headers));
    }
}

/// The deprecated `append` flag, which OPA-Envoy leaves unset; a golden
/// shows it only if the service were to set it.
#[expect(deprecated, reason = "reading the deprecated field is the point")]
fn legacy_append(option: &HeaderValueOption) -> Option<bool> {
    option.append.map(|append| append.value)
}

fn put_strings(out: &mut Map<String, Json>, name: &str, values: &[String]) {
    if !values.is_empty() {
        out.insert(name.into(), json!(values));
    }
}

fn struct_json(s: &pbuf::Struct) -> Map<String, Json> {
    s.fields
        .iter()
        .map(|(k, v)| (k.clone(), value_json(v)))
        .collect()
}

fn value_json(value: &pbuf::Value) -> Json {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => json!(b),
        Some(Kind::NumberValue(n)) => number_json(*n),
        Some(Kind::StringValue(s)) => json!(s),
        Some(Kind::ListValue(list)) => Json::Array(list.values.iter().map(value_json).collect()),
        Some(Kind::StructValue(s)) => Json::Object(struct_json(s)),
    }
}

/// Whole doubles print without a fraction, as protobuf's JSON does.
fn number_json(n: f64) -> Json {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() < EXACT {
        // Whole and below 2^53, so the conversion is exact.
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// Replaces what is not fixed from one run to the next (see the module
/// documentation).
fn normalise(mut response: Json) -> Json {
    if let Some(Json::Object(metadata)) = response.get_mut("dynamicMetadata")
        && let Some(id) = metadata.get_mut("decision_id")
    {
        let is_uuid = id.as_str().is_some_and(|s| uuid_shaped(s) || s == "<uuid>");
        *id = json!(if is_uuid { "<uuid>" } else { "<not a uuid>" });
    }
    mask_parse_reason(&mut response);
    response
}

fn uuid_shaped(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn mask_parse_reason(value: &mut Json) {
    const PREFIX: &str = "request_parse_error: ";
    match value {
        Json::String(s) if s.starts_with(PREFIX) => *s = format!("{PREFIX}<reason>"),
        Json::Array(items) => items.iter_mut().for_each(mask_parse_reason),
        Json::Object(fields) => fields.values_mut().for_each(mask_parse_reason),
        _ => {}
    }
}
