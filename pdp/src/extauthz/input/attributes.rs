//! `input.attributes`: the `AttributeContext` under its protobuf JSON names,
//! only the fields set and only the parts the plan needs.
//!
//! Each message is unpacked field by field, so a new field in a future
//! Envoy API breaks the build here instead of going silently missing.

use std::sync::LazyLock;

use base64::Engine as _;
use envoy_types::pb::{
    envoy::{
        config::core::v3::{
            Address, EnvoyInternalAddress, Metadata, Pipe, SocketAddress, address,
            envoy_internal_address, socket_address,
        },
        service::auth::v3::{
            AttributeContext,
            attribute_context::{HttpRequest, Peer, Request, TlsSession},
        },
    },
    google::protobuf::{self as pbuf, value::Kind},
};
use regorus::Value;

use super::{
    TenantLabels,
    fields::{Fields, key},
};
use crate::{decision::Need, extauthz::request::RequestView};

/// Stand-ins for messages Envoy left out, built once rather than per
/// request: a default `AttributeContext` is a few hundred bytes to fill in
/// and drop.
static EMPTY_CONTEXT: LazyLock<AttributeContext> = LazyLock::new(AttributeContext::default);
static EMPTY_PEER: LazyLock<Peer> = LazyLock::new(Peer::default);

/// `input.attributes`; `None` when there is nothing to show.
pub(super) fn attribute_context(
    ctx: Option<&AttributeContext>,
    view: &RequestView<'_>,
    need: Need<'_>,
    tenants: TenantLabels<'_>,
) -> Option<Fields> {
    let AttributeContext {
        source,
        destination,
        request,
        context_extensions,
        metadata_context,
        route_metadata_context,
        tls_session,
    } = ctx.unwrap_or(&EMPTY_CONTEXT);

    let mut out = Fields::new();
    out.nested(need, key!("source"), |n| {
        peer(source.as_ref(), n, tenants.source)
    });
    out.nested(need, key!("destination"), |n| {
        peer(destination.as_ref(), n, tenants.destination)
    });
    out.nested(need, key!("request"), |n| {
        request.as_ref().map(|r| request_attrs(r, view, n))
    });
    out.string_map(need, key!("contextExtensions"), context_extensions);
    out.nested(need, key!("metadataContext"), |n| {
        metadata_context.as_ref().map(|m| metadata(m, n))
    });
    out.nested(need, key!("routeMetadataContext"), |n| {
        route_metadata_context.as_ref().map(|m| metadata(m, n))
    });
    out.nested(need, key!("tlsSession"), |n| {
        tls_session.as_ref().map(|t| {
            let TlsSession { sni } = t;
            let mut tls = Fields::new();
            tls.text(n, key!("sni"), sni);
            tls
        })
    });
    (ctx.is_some() || !out.is_empty()).then_some(out)
}

/// A peer, with the resolved tenant added to its labels unless Envoy sent a
/// `tenant` label; a peer Envoy did not send is created to carry the label.
fn peer(p: Option<&Peer>, need: Need<'_>, tenant: Option<&str>) -> Option<Fields> {
    let label_needed = need.child("labels").is_some_and(|n| n.wants("tenant"));
    let tenant = tenant.filter(|_| label_needed);
    if p.is_none() && tenant.is_none() {
        return None;
    }
    let Peer {
        address,
        service,
        labels,
        principal,
        certificate,
    } = p.unwrap_or(&EMPTY_PEER);

    let mut out = Fields::new();
    out.nested(need, key!("address"), |n| {
        address.as_ref().map(|a| address_attrs(a, n))
    });
    out.text(need, key!("service"), service);
    match tenant {
        Some(tenant) if !labels.contains_key("tenant") => {
            out.nested(need, key!("labels"), |n| {
                let mut with_tenant = Fields::new();
                with_tenant.put(key!("tenant"), Value::from(tenant));
                for (k, v) in labels {
                    if n.wants(k) {
                        with_tenant.put_str(k, v);
                    }
                }
                Some(with_tenant)
            });
        }
        _ => out.string_map(need, key!("labels"), labels),
    }
    out.text(need, key!("principal"), principal);
    out.text(need, key!("certificate"), certificate);
    Some(out)
}

fn address_attrs(a: &Address, need: Need<'_>) -> Fields {
    let Address { address } = a;
    let mut out = Fields::new();
    match address {
        Some(address::Address::SocketAddress(s)) => {
            out.nested(need, key!("socketAddress"), |n| Some(socket(s, n)));
        }
        Some(address::Address::Pipe(p)) => {
            out.nested(need, key!("pipe"), |n| {
                let Pipe { path, mode } = p;
                let mut pipe = Fields::new();
                pipe.text(n, key!("path"), path);
                pipe.int(n, key!("mode"), i64::from(*mode));
                Some(pipe)
            });
        }
        Some(address::Address::EnvoyInternalAddress(e)) => {
            out.nested(need, key!("envoyInternalAddress"), |n| {
                let EnvoyInternalAddress {
                    endpoint_id,
                    address_name_specifier,
                } = e;
                let mut internal = Fields::new();
                // A oneof member is present whenever it is set, even empty.
                if let Some(envoy_internal_address::AddressNameSpecifier::ServerListenerName(
                    name,
                )) = address_name_specifier
                {
                    let k = key!("serverListenerName");
                    if n.wants(k.name) {
                        internal.put(k, Value::from(name.as_str()));
                    }
                }
                internal.text(n, key!("endpointId"), endpoint_id);
                Some(internal)
            });
        }
        None => {}
    }
    out
}

fn socket(s: &SocketAddress, need: Need<'_>) -> Fields {
    let SocketAddress {
        protocol,
        address,
        resolver_name,
        ipv4_compat,
        network_namespace_filepath,
        port_specifier,
    } = s;
    let mut out = Fields::new();
    out.int(need, key!("protocol"), i64::from(*protocol));
    out.text(need, key!("address"), address);
    // A oneof member is present whenever it is set, even to zero.
    match port_specifier {
        Some(socket_address::PortSpecifier::PortValue(port)) => {
            let k = key!("portValue");
            if need.wants(k.name) {
                out.put(k, Value::from(u64::from(*port)));
            }
        }
        Some(socket_address::PortSpecifier::NamedPort(name)) => {
            let k = key!("namedPort");
            if need.wants(k.name) {
                out.put(k, Value::from(name.as_str()));
            }
        }
        None => {}
    }
    out.text(need, key!("resolverName"), resolver_name);
    out.flag(need, key!("ipv4Compat"), *ipv4_compat);
    out.text(
        need,
        key!("networkNamespaceFilepath"),
        network_namespace_filepath,
    );
    out
}

fn request_attrs(r: &Request, view: &RequestView<'_>, need: Need<'_>) -> Fields {
    let Request { time, http } = r;
    let mut out = Fields::new();
    out.nested(need, key!("time"), |n| {
        time.as_ref().map(|t| {
            let pbuf::Timestamp { seconds, nanos } = t;
            let mut stamp = Fields::new();
            stamp.int(n, key!("seconds"), *seconds);
            stamp.int(n, key!("nanos"), i64::from(*nanos));
            stamp
        })
    });
    out.nested(need, key!("http"), |n| {
        http.as_ref().map(|h| http_attrs(h, view, n))
    });
    out
}

fn http_attrs(h: &HttpRequest, view: &RequestView<'_>, need: Need<'_>) -> Fields {
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
    let mut out = Fields::new();
    out.text(need, key!("id"), id);
    out.text(need, key!("method"), method);
    // Both header shapes arrive here as one map (see the module docs).
    out.string_map(need, key!("headers"), view.headers());
    out.text(need, key!("path"), path);
    out.text(need, key!("host"), host);
    out.text(need, key!("scheme"), scheme);
    out.text(need, key!("query"), query);
    out.text(need, key!("fragment"), fragment);
    out.int(need, key!("size"), *size);
    out.text(need, key!("protocol"), protocol);
    out.text(need, key!("body"), body);
    let k = key!("rawBody");
    if !raw_body.is_empty() && need.wants(k.name) {
        out.put(k, Value::from(base64_std(raw_body)));
    }
    out
}

fn base64_std(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Metadata is built whole below each filter name the plan needs.
fn metadata(m: &Metadata, need: Need<'_>) -> Fields {
    let Metadata {
        filter_metadata,
        typed_filter_metadata,
    } = m;
    let mut out = Fields::new();
    if !filter_metadata.is_empty() {
        out.nested(need, key!("filterMetadata"), |n| {
            let mut filters = Fields::new();
            for (name, fields) in filter_metadata {
                if n.wants(name) {
                    filters.insert_value(name, struct_value(fields));
                }
            }
            Some(filters)
        });
    }
    if !typed_filter_metadata.is_empty() {
        out.nested(need, key!("typedFilterMetadata"), |n| {
            let mut typed = Fields::new();
            for (name, any) in typed_filter_metadata {
                if !n.wants(name) {
                    continue;
                }
                let pbuf::Any { type_url, value } = any;
                let mut entry = Fields::new();
                entry.text(Need::All, key!("typeUrl"), type_url);
                if !value.is_empty() {
                    entry.put(key!("value"), Value::from(base64_std(value)));
                }
                typed.insert_value(name, entry.done());
            }
            Some(typed)
        });
    }
    out
}

/// A `google.protobuf.Struct` as a plain object, as protobuf's own JSON
/// mapping gives it.
fn struct_value(s: &pbuf::Struct) -> Value {
    let mut out = Fields::new();
    for (k, v) in &s.fields {
        out.insert_value(k, proto_value(v));
    }
    out.done()
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
