//! A read-only view of a `CheckRequest` for the parts of the service that
//! must not know protobuf types: tenant resolution and body parsing.
//!
//! Envoy sends request headers in one of two shapes: the `headers` map
//! (repeated headers joined with `,`), or, with `encode_raw_headers`, the
//! `header_map` list with one entry per header line and the value as bytes.
//! The view folds the second shape into the first, so every consumer sees
//! the same headers whichever way Envoy was configured.

use std::{borrow::Cow, collections::HashMap};

use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, attribute_context::HttpRequest,
};

use super::body::HeaderLookup;
use crate::tenant::TenantAttributes;

/// Borrowed access to the attributes of one check request.
#[derive(Debug)]
pub struct RequestView<'a> {
    attributes: Option<&'a AttributeContext>,
    http: Option<&'a HttpRequest>,
    headers: Cow<'a, HashMap<String, String>>,
}

impl<'a> RequestView<'a> {
    /// Builds the view, folding `header_map` into one map when present.
    pub fn new(request: &'a CheckRequest) -> Self {
        let attributes = request.attributes.as_ref();
        let http = attributes
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref());

        let headers = match http {
            Some(http) => fold_headers(http),
            None => Cow::Owned(HashMap::new()),
        };
        Self {
            attributes,
            http,
            headers,
        }
    }

    /// The request headers, keyed by lowercase name.
    pub fn headers(&self) -> &HashMap<String, String> {
        &self.headers
    }

    /// The HTTP request, when Envoy sent one (it does not for TCP checks).
    pub fn http(&self) -> Option<&'a HttpRequest> {
        self.http
    }

    /// A header's value (lowercase name).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The request target (`:path`), or an empty string.
    pub fn path(&self) -> &'a str {
        self.http.map_or("", |h| h.path.as_str())
    }
}

fn fold_headers(http: &HttpRequest) -> Cow<'_, HashMap<String, String>> {
    let raw = match &http.header_map {
        Some(map) if !map.headers.is_empty() => map,
        _ => return Cow::Borrowed(&http.headers),
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
    for (key, value) in &http.headers {
        folded.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Cow::Owned(folded)
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
