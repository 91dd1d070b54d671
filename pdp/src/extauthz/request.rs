//! A read-only view of a `CheckRequest` for the parts of the service that
//! must not know protobuf types: tenant resolution and body parsing.
//!
//! Envoy sends request headers in one of two shapes: the `headers` map
//! (repeated headers joined with `,`), or, with `encode_raw_headers`, the
//! `header_map` list with one entry per header line and the value as bytes.
//! The view folds the second shape into the first, so every consumer sees
//! the same headers whichever way Envoy was configured. The gRPC server
//! hands over the map's entries already lifted out of the message as a
//! sorted list (see [`super::wire`]); the view reads that list instead.

use std::{borrow::Cow, collections::HashMap};

use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, attribute_context::HttpRequest,
};

use super::{
    body::HeaderLookup,
    wire::{HeaderList, WireCheck},
};
use crate::tenant::TenantAttributes;

/// Borrowed access to the attributes of one check request.
#[derive(Debug)]
pub struct RequestView<'a> {
    attributes: Option<&'a AttributeContext>,
    http: Option<&'a HttpRequest>,
    headers: Headers<'a>,
}

/// A request's headers, keyed by lowercase name, in whichever form they
/// came.
#[derive(Debug)]
pub enum Headers<'a> {
    /// Envoy's `headers` map as prost decoded it, or `header_map` folded
    /// into one map with the `headers` entries for names it does not hold.
    Map(Cow<'a, HashMap<String, String>>),
    /// The `headers` map's entries lifted out of the wire bytes.
    List(&'a HeaderList),
}

impl Headers<'_> {
    /// The value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        match self {
            Self::Map(map) => map.get(name).map(String::as_str),
            Self::List(list) => list.get(name),
        }
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Map(map) => map.is_empty(),
            Self::List(list) => list.is_empty(),
        }
    }

    /// Calls `f` with every header, in no particular order. A name can come
    /// twice only from a [`HeaderList`], in wire order: the later value is
    /// the header's value.
    pub fn for_each(&self, mut f: impl FnMut(&str, &str)) {
        match self {
            Self::Map(map) => map.iter().for_each(|(k, v)| f(k, v)),
            Self::List(list) => list.iter().for_each(|(k, v)| f(k, v)),
        }
    }
}

impl<'a> RequestView<'a> {
    /// Builds the view, folding `header_map` into one map when present.
    pub fn new(request: &'a CheckRequest) -> Self {
        let (attributes, http) = parts(request);
        let headers = match http {
            Some(http) => fold_headers(http, Headers::Map(Cow::Borrowed(&http.headers))),
            None => Headers::Map(Cow::Owned(HashMap::new())),
        };
        Self {
            attributes,
            http,
            headers,
        }
    }

    /// Builds the view of a request the gRPC server decoded, reading the
    /// headers from the lifted list when there is one.
    pub fn of_wire(check: &'a WireCheck) -> Self {
        let Some(list) = &check.headers else {
            return Self::new(&check.request);
        };
        let (attributes, http) = parts(&check.request);
        let headers = match http {
            Some(http) => fold_headers(http, Headers::List(list)),
            None => Headers::List(list),
        };
        Self {
            attributes,
            http,
            headers,
        }
    }

    /// The request headers, keyed by lowercase name.
    pub fn headers(&self) -> &Headers<'a> {
        &self.headers
    }

    /// The HTTP request, when Envoy sent one (it does not for TCP checks).
    pub fn http(&self) -> Option<&'a HttpRequest> {
        self.http
    }

    /// A header's value (lowercase name).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The request target (`:path`), or an empty string.
    pub fn path(&self) -> &'a str {
        self.http.map_or("", |h| h.path.as_str())
    }
}

fn parts(request: &CheckRequest) -> (Option<&AttributeContext>, Option<&HttpRequest>) {
    let attributes = request.attributes.as_ref();
    let http = attributes
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref());
    (attributes, http)
}

/// `map` as it is when Envoy sent no `header_map`, else `header_map`
/// folded, with `map`'s entries for the names it lacks.
fn fold_headers<'a>(http: &'a HttpRequest, map: Headers<'a>) -> Headers<'a> {
    let raw = match &http.header_map {
        Some(raw) if !raw.headers.is_empty() => raw,
        _ => return map,
    };

    let mut folded: HashMap<String, String> = HashMap::with_capacity(raw.headers.len());
    for header in &raw.headers {
        let value = if header.raw_value.is_empty() {
            Cow::Borrowed(header.value.as_str())
        } else {
            String::from_utf8_lossy(&header.raw_value)
        };
        let key = header.key.to_ascii_lowercase();
        match folded.get_mut(&key) {
            Some(existing) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => {
                folded.insert(key, value.into_owned());
            }
        }
    }
    // `get`, not the value at hand: a name twice in a lifted list takes
    // its later value.
    map.for_each(|key, _| {
        if let (false, Some(value)) = (folded.contains_key(key), map.get(key)) {
            folded.insert(key.to_owned(), value.to_owned());
        }
    });
    Headers::Map(Cow::Owned(folded))
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

impl TenantAttributes for RequestView<'_> {
    fn context_extension(&self, key: &str) -> Option<&str> {
        self.attributes?
            .context_extensions
            .get(key)
            .map(String::as_str)
            .and_then(non_empty)
    }

    fn destination_principal(&self) -> Option<&str> {
        non_empty(&self.attributes?.destination.as_ref()?.principal)
    }

    fn source_principal(&self) -> Option<&str> {
        non_empty(&self.attributes?.source.as_ref()?.principal)
    }

    fn authority(&self) -> Option<&str> {
        self.header_value(":authority")
            .or_else(|| self.http.map(|h| h.host.as_str()).and_then(non_empty))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.header_value(name)
    }
}

impl HeaderLookup for RequestView<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.header_value(name)
    }
}
