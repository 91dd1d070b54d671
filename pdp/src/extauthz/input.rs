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
    body::{BodyError, parse_body},
    path::{TargetError, parse_target},
    request::RequestView,
};

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

/// Builds the `input` document for `request`.
pub fn build_input(
    request: &CheckRequest,
    view: &RequestView<'_>,
    tenants: TenantLabels<'_>,
    options: InputOptions,
) -> Result<Value, InputError> {
    let CheckRequest { attributes } = request;

    let mut input = Object::new();
    let mut attrs = match attributes {
        Some(attributes) => attribute_context(attributes, view),
        None => Object::new(),
    };
    label_peer(&mut attrs, "source", tenants.source);
    label_peer(&mut attrs, "destination", tenants.destination);
    if !attrs.is_empty() || attributes.is_some() {
        input.insert(key("attributes"), attrs.into_value());
    }

    let target = parse_target(view.path())?;
    input.insert(
        key("parsed_path"),
        Value::from(target.path.into_iter().map(Value::from).collect::<Vec<_>>()),
    );
    input.insert(key("parsed_query"), super::body::form_value(target.query));

    if !options.skip_body {
        let (body, raw_body) = view
            .http()
            .map_or(("", &[][..]), |h| (h.body.as_str(), h.raw_body.as_slice()));
        let parsed = parse_body(view, body, raw_body)?;
        input.insert(key("parsed_body"), parsed.value);
        input.insert(key("truncated_body"), Value::Bool(parsed.truncated));
    }

    let mut version = Object::new();
    version.insert(key("ext_authz"), Value::from("v3"));
    version.insert(key("encoding"), Value::from("protojson"));
    input.insert(key("version"), version.into_value());

    let principal = attributes
        .as_ref()
        .and_then(|a| a.source.as_ref())
        .map_or("", |p| p.principal.as_str());
    if !principal.is_empty() {
        input.insert(key("source_principal"), Value::from(principal));
    }

    Ok(input.into_value())
}

fn key(name: &str) -> Value {
    Value::from(name)
}

/// Adds `labels.tenant` to a peer, creating the peer when Envoy sent none,
/// unless Envoy already set a `tenant` label.
fn label_peer(attrs: &mut Object, side: &str, tenant: Option<&str>) {
    let Some(tenant) = tenant else {
        return;
    };
    let side_key = key(side);
    let mut peer = match attrs.remove(&side_key) {
        Some(Value::Object(peer)) => (*peer).clone(),
        _ => Object::new(),
    };
    let labels_key = key("labels");
    let mut labels = match peer.remove(&labels_key) {
        Some(Value::Object(labels)) => (*labels).clone(),
        _ => Object::new(),
    };
    let tenant_key = key("tenant");
    if labels.get(&tenant_key).is_none() {
        labels.insert(tenant_key, Value::from(tenant));
    }
    peer.insert(labels_key, labels.into_value());
    attrs.insert(side_key, peer.into_value());
}

/// Inserts helpers that skip default values, as the reflective walk does.
trait ObjectExt {
    fn text(&mut self, name: &str, value: &str);
    fn flag(&mut self, name: &str, value: bool);
    fn int(&mut self, name: &str, value: i64);
    fn object(&mut self, name: &str, value: Object);
    fn string_map(&mut self, name: &str, map: &HashMap<String, String>);
}

impl ObjectExt for Object {
    fn text(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            self.insert(key(name), Value::from(value));
        }
    }

    fn flag(&mut self, name: &str, value: bool) {
        if value {
            self.insert(key(name), Value::Bool(true));
        }
    }

    fn int(&mut self, name: &str, value: i64) {
        if value != 0 {
            self.insert(key(name), Value::from(value));
        }
    }

    fn object(&mut self, name: &str, value: Object) {
        self.insert(key(name), value.into_value());
    }

    fn string_map(&mut self, name: &str, map: &HashMap<String, String>) {
        if map.is_empty() {
            return;
        }
        let mut out = Object::new();
        for (k, v) in map {
            out.insert(Value::from(k.as_str()), Value::from(v.as_str()));
        }
        self.object(name, out);
    }
}

fn attribute_context(ctx: &AttributeContext, view: &RequestView<'_>) -> Object {
    let AttributeContext {
        source,
        destination,
        request,
        context_extensions,
        metadata_context,
        route_metadata_context,
        tls_session,
    } = ctx;

    let mut out = Object::new();
    if let Some(p) = source {
        out.object("source", peer(p));
    }
    if let Some(p) = destination {
        out.object("destination", peer(p));
    }
    if let Some(r) = request {
        out.object("request", request_attrs(r, view));
    }
    out.string_map("contextExtensions", context_extensions);
    if let Some(m) = metadata_context {
        out.object("metadataContext", metadata(m));
    }
    if let Some(m) = route_metadata_context {
        out.object("routeMetadataContext", metadata(m));
    }
    if let Some(t) = tls_session {
        let TlsSession { sni } = t;
        let mut tls = Object::new();
        tls.text("sni", sni);
        out.object("tlsSession", tls);
    }
    out
}

fn peer(p: &Peer) -> Object {
    let Peer {
        address,
        service,
        labels,
        principal,
        certificate,
    } = p;
    let mut out = Object::new();
    if let Some(a) = address {
        out.object("address", address_attrs(a));
    }
    out.text("service", service);
    out.string_map("labels", labels);
    out.text("principal", principal);
    out.text("certificate", certificate);
    out
}

fn address_attrs(a: &Address) -> Object {
    let Address { address } = a;
    let mut out = Object::new();
    match address {
        Some(address::Address::SocketAddress(s)) => out.object("socketAddress", socket(s)),
        Some(address::Address::Pipe(p)) => {
            let Pipe { path, mode } = p;
            let mut pipe = Object::new();
            pipe.text("path", path);
            pipe.int("mode", i64::from(*mode));
            out.object("pipe", pipe);
        }
        Some(address::Address::EnvoyInternalAddress(e)) => {
            let EnvoyInternalAddress {
                endpoint_id,
                address_name_specifier,
            } = e;
            let mut internal = Object::new();
            if let Some(envoy_internal_address::AddressNameSpecifier::ServerListenerName(name)) =
                address_name_specifier
            {
                internal.insert(key("serverListenerName"), Value::from(name.as_str()));
            }
            internal.text("endpointId", endpoint_id);
            out.object("envoyInternalAddress", internal);
        }
        None => {}
    }
    out
}

fn socket(s: &SocketAddress) -> Object {
    let SocketAddress {
        protocol,
        address,
        resolver_name,
        ipv4_compat,
        network_namespace_filepath,
        port_specifier,
    } = s;
    let mut out = Object::new();
    out.int("protocol", i64::from(*protocol));
    out.text("address", address);
    // A oneof member is present whenever it is set, even to zero.
    match port_specifier {
        Some(socket_address::PortSpecifier::PortValue(port)) => {
            out.insert(key("portValue"), Value::from(u64::from(*port)));
        }
        Some(socket_address::PortSpecifier::NamedPort(name)) => {
            out.insert(key("namedPort"), Value::from(name.as_str()));
        }
        None => {}
    }
    out.text("resolverName", resolver_name);
    out.flag("ipv4Compat", *ipv4_compat);
    out.text("networkNamespaceFilepath", network_namespace_filepath);
    out
}

fn request_attrs(r: &Request, view: &RequestView<'_>) -> Object {
    let Request { time, http } = r;
    let mut out = Object::new();
    if let Some(t) = time {
        out.object("time", timestamp(t));
    }
    if let Some(h) = http {
        out.object("http", http_attrs(h, view));
    }
    out
}

fn timestamp(t: &pbuf::Timestamp) -> Object {
    let pbuf::Timestamp { seconds, nanos } = t;
    let mut out = Object::new();
    out.int("seconds", *seconds);
    out.int("nanos", i64::from(*nanos));
    out
}

fn http_attrs(h: &HttpRequest, view: &RequestView<'_>) -> Object {
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
    out.text("id", id);
    out.text("method", method);
    // Both header shapes arrive here as one map (see the module docs).
    out.string_map("headers", view.headers());
    out.text("path", path);
    out.text("host", host);
    out.text("scheme", scheme);
    out.text("query", query);
    out.text("fragment", fragment);
    out.int("size", *size);
    out.text("protocol", protocol);
    out.text("body", body);
    if !raw_body.is_empty() {
        out.insert(key("rawBody"), Value::from(base64_std(raw_body)));
    }
    out
}

fn base64_std(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn metadata(m: &Metadata) -> Object {
    let Metadata {
        filter_metadata,
        typed_filter_metadata,
    } = m;
    let mut out = Object::new();
    if !filter_metadata.is_empty() {
        let mut filters = Object::new();
        for (name, fields) in filter_metadata {
            filters.insert(Value::from(name.as_str()), struct_value(fields));
        }
        out.object("filterMetadata", filters);
    }
    if !typed_filter_metadata.is_empty() {
        let mut typed = Object::new();
        for (name, any) in typed_filter_metadata {
            let pbuf::Any { type_url, value } = any;
            let mut entry = Object::new();
            entry.text("typeUrl", type_url);
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
