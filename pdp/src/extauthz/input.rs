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

use std::collections::HashMap;

use base64::Engine as _;
use envoy_types::pb::{
    envoy::{
        config::core::v3::{
            Address, EnvoyInternalAddress, Metadata, Pipe, SocketAddress, address,
            envoy_internal_address, socket_address,
        },
        service::auth::v3::{
            AttributeContext, CheckRequest,
            attribute_context::{HttpRequest, Peer, Request, TlsSession},
        },
    },
    google::protobuf::{self as pbuf, value::Kind},
};
use regorus::{Value, value::Object};

use super::{
    body::{BodyError, BodyMode, ParsedBody, parse_body},
    path::{ParsedTarget, TargetError, parse_target},
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
    target: ParsedTarget,
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
        let target = parse_target(view.path())?;
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
            target,
            body,
        })
    }

    /// The input document with the parts `need` names. `parsed_body` is
    /// `null` unless the body was built in [`PreparedInput::prepare`].
    pub fn build(&self, need: Need<'_>) -> Value {
        let attributes = self.request.attributes.as_ref();
        let mut input = Object::new();

        if let Some(need) = need.child("attributes") {
            let attrs = attribute_context(attributes, self.view, need, self.tenants);
            if !attrs.is_empty() || attributes.is_some() {
                input.insert(key("attributes"), attrs.into_value());
            }
        }
        if need.wants("parsed_path") {
            let segments: Vec<Value> = self
                .target
                .path
                .iter()
                .map(|s| Value::from(s.as_str()))
                .collect();
            input.insert(key("parsed_path"), Value::from(segments));
        }
        if need.wants("parsed_query") {
            input.insert(
                key("parsed_query"),
                super::body::form_value(&self.target.query),
            );
        }
        if let Some(body) = &self.body {
            if need.wants("parsed_body") {
                input.insert(key("parsed_body"), body.value.clone());
            }
            if need.wants("truncated_body") {
                input.insert(key("truncated_body"), Value::Bool(body.truncated));
            }
        }
        if need.wants("version") {
            let mut version = Object::new();
            version.insert(key("ext_authz"), Value::from("v3"));
            version.insert(key("encoding"), Value::from("protojson"));
            input.insert(key("version"), version.into_value());
        }
        let principal = attributes
            .and_then(|a| a.source.as_ref())
            .map_or("", |p| p.principal.as_str());
        if !principal.is_empty() && need.wants("source_principal") {
            input.insert(key("source_principal"), Value::from(principal));
        }
        input.into_value()
    }
}

fn key(name: &str) -> Value {
    Value::from(name)
}

/// Insert helpers that skip default values, as the reflective walk does,
/// and keys the plan does not need.
trait ObjectExt {
    fn text(&mut self, need: Need<'_>, name: &str, value: &str);
    fn flag(&mut self, need: Need<'_>, name: &str, value: bool);
    fn int(&mut self, need: Need<'_>, name: &str, value: i64);
    fn object(&mut self, name: &str, value: Object);
    fn string_map(&mut self, need: Need<'_>, name: &str, map: &HashMap<String, String>);
}

impl ObjectExt for Object {
    fn text(&mut self, need: Need<'_>, name: &str, value: &str) {
        if !value.is_empty() && need.wants(name) {
            self.insert(key(name), Value::from(value));
        }
    }

    fn flag(&mut self, need: Need<'_>, name: &str, value: bool) {
        if value && need.wants(name) {
            self.insert(key(name), Value::Bool(true));
        }
    }

    fn int(&mut self, need: Need<'_>, name: &str, value: i64) {
        if value != 0 && need.wants(name) {
            self.insert(key(name), Value::from(value));
        }
    }

    fn object(&mut self, name: &str, value: Object) {
        self.insert(key(name), value.into_value());
    }

    /// A map field; when the plan names keys, only those entries.
    fn string_map(&mut self, need: Need<'_>, name: &str, map: &HashMap<String, String>) {
        let Some(need) = need.child(name) else {
            return;
        };
        if map.is_empty() {
            return;
        }
        let mut out = Object::new();
        match need.keys() {
            None => {
                for (k, v) in map {
                    out.insert(Value::from(k.as_str()), Value::from(v.as_str()));
                }
            }
            Some(keys) => {
                for k in keys {
                    if let Some(v) = map.get(k) {
                        out.insert(Value::from(k), Value::from(v.as_str()));
                    }
                }
            }
        }
        self.object(name, out);
    }
}

fn attribute_context(
    ctx: Option<&AttributeContext>,
    view: &RequestView<'_>,
    need: Need<'_>,
    tenants: TenantLabels<'_>,
) -> Object {
    let empty = AttributeContext::default();
    let AttributeContext {
        source,
        destination,
        request,
        context_extensions,
        metadata_context,
        route_metadata_context,
        tls_session,
    } = ctx.unwrap_or(&empty);

    let mut out = Object::new();
    for (name, peer_msg, tenant) in [
        ("source", source, tenants.source),
        ("destination", destination, tenants.destination),
    ] {
        if let Some(n) = need.child(name)
            && let Some(p) = peer(peer_msg.as_ref(), n, tenant)
        {
            out.object(name, p);
        }
    }
    if let (Some(r), Some(n)) = (request, need.child("request")) {
        out.object("request", request_attrs(r, view, n));
    }
    out.string_map(need, "contextExtensions", context_extensions);
    if let (Some(m), Some(n)) = (metadata_context, need.child("metadataContext")) {
        out.object("metadataContext", metadata(m, n));
    }
    if let (Some(m), Some(n)) = (route_metadata_context, need.child("routeMetadataContext")) {
        out.object("routeMetadataContext", metadata(m, n));
    }
    if let (Some(t), Some(n)) = (tls_session, need.child("tlsSession")) {
        let TlsSession { sni } = t;
        let mut tls = Object::new();
        tls.text(n, "sni", sni);
        out.object("tlsSession", tls);
    }
    out
}

/// A peer, with the resolved tenant added to its labels unless Envoy sent a
/// `tenant` label; a peer Envoy did not send is created to carry the label.
fn peer(p: Option<&Peer>, need: Need<'_>, tenant: Option<&str>) -> Option<Object> {
    let label_needed = need.child("labels").is_some_and(|n| n.wants("tenant"));
    let tenant = tenant.filter(|_| label_needed);
    if p.is_none() && tenant.is_none() {
        return None;
    }
    let empty = Peer::default();
    let Peer {
        address,
        service,
        labels,
        principal,
        certificate,
    } = p.unwrap_or(&empty);

    let mut out = Object::new();
    if let (Some(a), Some(n)) = (address, need.child("address")) {
        out.object("address", address_attrs(a, n));
    }
    out.text(need, "service", service);
    match tenant {
        Some(tenant) if !labels.contains_key("tenant") => {
            let mut with_tenant = Object::new();
            with_tenant.insert(key("tenant"), Value::from(tenant));
            if let Some(n) = need.child("labels") {
                for (k, v) in labels {
                    if n.wants(k) {
                        with_tenant.insert(Value::from(k.as_str()), Value::from(v.as_str()));
                    }
                }
            }
            out.object("labels", with_tenant);
        }
        _ => out.string_map(need, "labels", labels),
    }
    out.text(need, "principal", principal);
    out.text(need, "certificate", certificate);
    Some(out)
}

fn address_attrs(a: &Address, need: Need<'_>) -> Object {
    let Address { address } = a;
    let mut out = Object::new();
    match address {
        Some(address::Address::SocketAddress(s)) => {
            if let Some(n) = need.child("socketAddress") {
                out.object("socketAddress", socket(s, n));
            }
        }
        Some(address::Address::Pipe(p)) => {
            if let Some(n) = need.child("pipe") {
                let Pipe { path, mode } = p;
                let mut pipe = Object::new();
                pipe.text(n, "path", path);
                pipe.int(n, "mode", i64::from(*mode));
                out.object("pipe", pipe);
            }
        }
        Some(address::Address::EnvoyInternalAddress(e)) => {
            if let Some(n) = need.child("envoyInternalAddress") {
                let EnvoyInternalAddress {
                    endpoint_id,
                    address_name_specifier,
                } = e;
                let mut internal = Object::new();
                if let Some(envoy_internal_address::AddressNameSpecifier::ServerListenerName(name)) =
                    address_name_specifier
                    && n.wants("serverListenerName")
                {
                    internal.insert(key("serverListenerName"), Value::from(name.as_str()));
                }
                internal.text(n, "endpointId", endpoint_id);
                out.object("envoyInternalAddress", internal);
            }
        }
        None => {}
    }
    out
}

fn socket(s: &SocketAddress, need: Need<'_>) -> Object {
    let SocketAddress {
        protocol,
        address,
        resolver_name,
        ipv4_compat,
        network_namespace_filepath,
        port_specifier,
    } = s;
    let mut out = Object::new();
    out.int(need, "protocol", i64::from(*protocol));
    out.text(need, "address", address);
    // A oneof member is present whenever it is set, even to zero.
    match port_specifier {
        Some(socket_address::PortSpecifier::PortValue(port)) if need.wants("portValue") => {
            out.insert(key("portValue"), Value::from(u64::from(*port)));
        }
        Some(socket_address::PortSpecifier::NamedPort(name)) if need.wants("namedPort") => {
            out.insert(key("namedPort"), Value::from(name.as_str()));
        }
        _ => {}
    }
    out.text(need, "resolverName", resolver_name);
    out.flag(need, "ipv4Compat", *ipv4_compat);
    out.text(need, "networkNamespaceFilepath", network_namespace_filepath);
    out
}

fn request_attrs(r: &Request, view: &RequestView<'_>, need: Need<'_>) -> Object {
    let Request { time, http } = r;
    let mut out = Object::new();
    if let (Some(t), Some(n)) = (time, need.child("time")) {
        out.object("time", timestamp(t, n));
    }
    if let (Some(h), Some(n)) = (http, need.child("http")) {
        out.object("http", http_attrs(h, view, n));
    }
    out
}

fn timestamp(t: &pbuf::Timestamp, need: Need<'_>) -> Object {
    let pbuf::Timestamp { seconds, nanos } = t;
    let mut out = Object::new();
    out.int(need, "seconds", *seconds);
    out.int(need, "nanos", i64::from(*nanos));
    out
}

fn http_attrs(h: &HttpRequest, view: &RequestView<'_>, need: Need<'_>) -> Object {
    let HttpRequest {
        id,
        method,
        headers: _,
        header_map: _,
        path,
        host,
        scheme,
        query,
        fragment,
        size,
        protocol,
        body,
        raw_body,
    } = h;
    let mut out = Object::new();
    out.text(need, "id", id);
    out.text(need, "method", method);
    // Both header shapes arrive here as one map (see the module docs).
    out.string_map(need, "headers", view.headers());
    out.text(need, "path", path);
    out.text(need, "host", host);
    out.text(need, "scheme", scheme);
    out.text(need, "query", query);
    out.text(need, "fragment", fragment);
    out.int(need, "size", *size);
    out.text(need, "protocol", protocol);
    out.text(need, "body", body);
    if !raw_body.is_empty() && need.wants("rawBody") {
        out.insert(key("rawBody"), Value::from(base64_std(raw_body)));
    }
    out
}

fn base64_std(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Metadata is built whole below each filter name the plan needs.
fn metadata(m: &Metadata, need: Need<'_>) -> Object {
    let Metadata {
        filter_metadata,
        typed_filter_metadata,
    } = m;
    let mut out = Object::new();
    if let (false, Some(n)) = (filter_metadata.is_empty(), need.child("filterMetadata")) {
        let mut filters = Object::new();
        for (name, fields) in filter_metadata {
            if n.wants(name) {
                filters.insert(Value::from(name.as_str()), struct_value(fields));
            }
        }
        out.object("filterMetadata", filters);
    }
    if let (false, Some(n)) = (
        typed_filter_metadata.is_empty(),
        need.child("typedFilterMetadata"),
    ) {
        let mut typed = Object::new();
        for (name, any) in typed_filter_metadata {
            if !n.wants(name) {
                continue;
            }
            let pbuf::Any { type_url, value } = any;
            let mut entry = Object::new();
            entry.text(Need::All, "typeUrl", type_url);
            if !value.is_empty() {
                entry.insert(key("value"), Value::from(base64_std(value)));
            }
            typed.insert(Value::from(name.as_str()), entry.into_value());
        }
        out.object("typedFilterMetadata", typed);
    }
    out
}

/// A `google.protobuf.Struct` as a plain object, as protobuf's own JSON
/// mapping gives it.
pub fn struct_value(s: &pbuf::Struct) -> Value {
    let mut out = Object::new();
    for (k, v) in &s.fields {
        out.insert(Value::from(k.as_str()), proto_value(v));
    }
    out.into_value()
}

fn proto_value(v: &pbuf::Value) -> Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => Value::from(*n),
        Some(Kind::StringValue(s)) => Value::from(s.as_str()),
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::StructValue(s)) => struct_value(s),
        Some(Kind::ListValue(list)) => {
            Value::from(list.values.iter().map(proto_value).collect::<Vec<_>>())
        }
    }
}

#[cfg(test)]
mod tests;
