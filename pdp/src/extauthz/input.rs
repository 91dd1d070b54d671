//! OPA-Envoy's `input` document, built straight from the protobuf.
//!
//! The shape follows OPA-Envoy for v3 requests: `attributes` holds every set
//! field of the `AttributeContext` under its protobuf JSON name; fields left
//! at their default are absent. The encoding choices are OPA-Envoy's since
//! v1.1.0-envoy, which walks the message rather than going through protojson:
//!
//! - `google.protobuf.Timestamp` (`attributes.request.time`) is an object
//!   `{"seconds": n, "nanos": n}`, not an RFC 3339 string;
//! - 64-bit integers (`attributes.request.http.size`) are numbers;
//! - enums are numbers; bytes are base64 strings.
//!
//! Two departures, both documented in the README: headers sent as
//! `header_map` (Envoy's `encode_raw_headers`) appear under `headers` as if
//! sent in the map, and the resolved tenants are written to
//! `attributes.{source,destination}.labels.tenant` when Envoy sent no such
//! label, because Envoy never fills peer labels under Istio.
//!
//! Only the parts a request's policies read are built (see
//! [`crate::decision::InputPlan`]); the request is still checked whole, so a
//! malformed path or body is refused whether or not the policy reads it.
//!
//! Each message is unpacked field by field, so a new field in a future
//! Envoy API breaks the build here instead of going silently missing.

mod attributes;
pub(super) mod fields;

use envoy_types::pb::envoy::service::auth::v3::CheckRequest;
use regorus::Value;

use fields::{Fields, key};

use super::{
    body::{BodyError, BodyMode, ParsedBody, form_value, parse_body},
    path::{TargetError, check_target, parse_target},
    request::RequestView,
};
use crate::decision::Need;

/// The tenants written into peer labels.
#[derive(Debug, Clone, Copy, Default)]
pub struct TenantLabels<'a> {
    /// The destination (owning) tenant.
    pub destination: Option<&'a str>,
    /// The source (calling) tenant.
    pub source: Option<&'a str>,
}

/// A request that cannot be turned into an input: answered with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The path or query does not decode.
    #[error("{0}")]
    Target(#[from] TargetError),
    /// The body does not parse as its content type says.
    #[error("{0}")]
    Body(#[from] BodyError),
}

/// Options for building the input.
#[derive(Debug, Clone, Copy, Default)]
pub struct InputOptions {
    /// Leave out `parsed_body` and `truncated_body` (OPA-Envoy's
    /// `skip-request-body-parse`).
    pub skip_body: bool,
}

/// Builds the `input` document for `request`: the parts `need` names (use
/// [`Need::All`] for all of it).
pub fn build_input(
    request: &CheckRequest,
    view: &RequestView<'_>,
    tenants: TenantLabels<'_>,
    options: InputOptions,
    need: Need<'_>,
) -> Result<Value, InputError> {
    let prepared =
        PreparedInput::prepare(request, view, tenants, options, need.wants("parsed_body"))?;
    Ok(prepared.build(need))
}

/// A request checked as OPA-Envoy would parse it, from which inputs for
/// different policies (each with its own plan) are built.
#[derive(Debug)]
pub struct PreparedInput<'a> {
    request: &'a CheckRequest,
    view: &'a RequestView<'a>,
    tenants: TenantLabels<'a>,
    /// `None` with `skip_body`.
    body: Option<ParsedBody>,
}

impl<'a> PreparedInput<'a> {
    /// Checks the path, query and body. A request OPA-Envoy would refuse
    /// with 400 is refused here, whatever the policies read. The body is
    /// built only when `build_body`; otherwise it is only checked.
    pub fn prepare(
        request: &'a CheckRequest,
        view: &'a RequestView<'a>,
        tenants: TenantLabels<'a>,
        options: InputOptions,
        build_body: bool,
    ) -> Result<Self, InputError> {
        check_target(view.path())?;
        let body = if options.skip_body {
            None
        } else {
            let (body, raw_body) = view
                .http()
                .map_or(("", &[][..]), |h| (h.body.as_str(), h.raw_body.as_slice()));
            let mode = if build_body {
                BodyMode::Build
            } else {
                BodyMode::Check
            };
            Some(parse_body(view, body, raw_body, mode)?)
        };
        Ok(Self {
            request,
            view,
            tenants,
            body,
        })
    }

    /// The input document with the parts `need` names. `parsed_body` is
    /// `null` unless the body was built in [`PreparedInput::prepare`].
    pub fn build(&self, need: Need<'_>) -> Value {
        let attributes = self.request.attributes.as_ref();
        let mut input = Fields::new();

        if let Some(n) = need.child("attributes")
            && let Some(attrs) =
                attributes::attribute_context(attributes, self.view, n, self.tenants)
        {
            input.put(key!("attributes"), attrs.done());
        }
        let (wants_path, wants_query) = (need.wants("parsed_path"), need.wants("parsed_query"));
        if wants_path || wants_query {
            // Checked in `prepare`, so parsing cannot fail here.
            if let Ok(target) = parse_target(self.view.path()) {
                if wants_path {
                    let segments: Vec<Value> = target
                        .path
                        .iter()
                        .map(|s| Value::from(s.as_str()))
                        .collect();
                    input.put(key!("parsed_path"), Value::from(segments));
                }
                if wants_query {
                    input.put(key!("parsed_query"), form_value(&target.query));
                }
            }
        }
        if let Some(body) = &self.body {
            if need.wants("parsed_body") {
                input.put(key!("parsed_body"), body.value.clone());
            }
            if need.wants("truncated_body") {
                input.put(key!("truncated_body"), Value::Bool(body.truncated));
            }
        }
        if need.wants("version") {
            let mut version = Fields::new();
            version.put(key!("ext_authz"), Value::from("v3"));
            version.put(key!("encoding"), Value::from("protojson"));
            input.put(key!("version"), version.done());
        }
        let principal = attributes
            .and_then(|a| a.source.as_ref())
            .map_or("", |p| p.principal.as_str());
        if !principal.is_empty() && need.wants("source_principal") {
            input.put(key!("source_principal"), Value::from(principal));
        }
        input.done()
    }
}

#[cfg(test)]
mod tests;
