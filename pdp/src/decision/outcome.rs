//! Reading a tenant's decision value in OPA-Envoy's two forms.
//!
//! A decision is a boolean, or an object whose `allowed` key is a boolean
//! and whose other keys shape the response. The checks follow OPA-Envoy:
//! `headers` and `dynamic_metadata` are checked on every object decision;
//! the request-side fields only when the request is allowed; `body` and
//! `http_status` only when it is denied. A field that fails its check makes
//! the whole decision malformed, which never allows.

use regorus::Value;

/// A well-formed tenant decision.
#[derive(Debug, Clone, PartialEq)]
pub enum TenantDecision {
    /// The boolean form.
    Bool(bool),
    /// The object form.
    Object(ObjectDecision),
}

impl TenantDecision {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        match self {
            Self::Bool(allowed) => *allowed,
            Self::Object(object) => object.allowed,
        }
    }
}

/// The object form, checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObjectDecision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// `headers`: added to the upstream request on allow, sent to the client
    /// on deny.
    pub headers: Vec<(String, String)>,
    /// `request_headers_to_remove` (allow only).
    pub request_headers_to_remove: Vec<String>,
    /// `response_headers_to_add` (allow only).
    pub response_headers_to_add: Vec<(String, String)>,
    /// `query_parameters_to_set` (allow only).
    pub query_parameters_to_set: Vec<(String, String)>,
    /// `query_parameters_to_remove` (allow only).
    pub query_parameters_to_remove: Vec<String>,
    /// `body` (deny only).
    pub body: Option<String>,
    /// `http_status` (deny only); 403 when absent.
    pub http_status: u16,
    /// `dynamic_metadata`, an object.
    pub dynamic_metadata: Option<Value>,
}

/// Why a decision value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedDecision {
    /// Neither a boolean nor an object.
    #[error("illegal value for policy evaluation result: {0}")]
    NotBoolOrObject(&'static str),
    /// An object without `allowed`.
    #[error("unable to determine evaluation result due to missing \"allowed\" key")]
    MissingAllowed,
    /// A field of the wrong shape.
    #[error("invalid `{field}`: {reason}")]
    Field {
        /// The decision key.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// HTTP statuses both Go's `net/http` and Envoy's `StatusCode` know; OPA-Envoy
/// refuses any other.
const VALID_STATUSES: &[u16] = &[
    100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308,
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421,
    422, 423, 424, 426, 428, 429, 431, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
];

/// Checks a decision value.
pub fn read_decision(value: &Value) -> Result<TenantDecision, MalformedDecision> {
    let object = match value {
        Value::Bool(allowed) => return Ok(TenantDecision::Bool(*allowed)),
        Value::Object(object) => object,
        other => return Err(MalformedDecision::NotBoolOrObject(type_name(other))),
    };
    let get = |key: &str| object.get(&Value::from(key));

    let allowed = match get("allowed") {
        None => return Err(MalformedDecision::MissingAllowed),
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(field_err(
                "allowed",
                format!("expected a boolean, found {}", type_name(other)),
            ));
        }
    };

    let mut decision = ObjectDecision {
        allowed,
        http_status: 403,
        ..ObjectDecision::default()
    };
    if let Some(headers) = get("headers") {
        decision.headers = header_list("headers", headers)?;
    }
    if let Some(metadata) = get("dynamic_metadata") {
        if !matches!(metadata, Value::Object(_)) {
            return Err(field_err(
                "dynamic_metadata",
                format!("expected an object, found {}", type_name(metadata)),
            ));
        }
        decision.dynamic_metadata = Some(metadata.clone());
    }

    if allowed {
        if let Some(v) = get("request_headers_to_remove") {
            decision.request_headers_to_remove = string_list("request_headers_to_remove", v)?;
        }
        if let Some(v) = get("response_headers_to_add") {
            decision.response_headers_to_add = header_list("response_headers_to_add", v)?;
        }
        if let Some(v) = get("query_parameters_to_remove") {
            decision.query_parameters_to_remove = string_list("query_parameters_to_remove", v)?;
        }
        if let Some(v) = get("query_parameters_to_set") {
            decision.query_parameters_to_set = query_list(v)?;
        }
    } else {
        if let Some(body) = get("body") {
            let Value::String(body) = body else {
                return Err(field_err(
                    "body",
                    format!("expected a string, found {}", type_name(body)),
                ));
            };
            decision.body = Some(body.to_string());
        }
        if let Some(status) = get("http_status") {
            decision.http_status = http_status(status)?;
        }
    }

    Ok(TenantDecision::Object(decision))
}

fn field_err(field: &'static str, reason: String) -> MalformedDecision {
    MalformedDecision::Field { field, reason }
}

/// The name of a value's type, as OPA's messages use it.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Set(_) => "set",
        Value::Object(_) => "object",
        Value::Undefined => "undefined",
    }
}

/// Arrays and sets are both lists; a set is read in sorted order.
fn list_items(value: &Value) -> Option<Vec<&Value>> {
    match value {
        Value::Array(items) => Some(items.iter().collect()),
        Value::Set(items) => Some(items.iter().collect()),
        _ => None,
    }
}

fn string_list(field: &'static str, value: &Value) -> Result<Vec<String>, MalformedDecision> {
    let items = list_items(value).ok_or_else(|| {
        field_err(
            field,
            format!("expected an array, found {}", type_name(value)),
        )
    })?;
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.to_string()),
            other => Err(field_err(
                field,
                format!("expected strings, found {}", type_name(other)),
            )),
        })
        .collect()
}

/// `{name: value | [value]}`, or an array of such objects.
fn header_list(
    field: &'static str,
    value: &Value,
) -> Result<Vec<(String, String)>, MalformedDecision> {
    let mut out = Vec::new();
    match value {
        Value::Object(_) => push_headers(field, value, &mut out)?,
        _ => match list_items(value) {
            Some(items) => {
                for item in items {
                    push_headers(field, item, &mut out)?;
                }
            }
            None => {
                return Err(field_err(
                    field,
                    format!("expected an object, found {}", type_name(value)),
                ));
            }
        },
    }
    Ok(out)
}

fn push_headers(
    field: &'static str,
    value: &Value,
    out: &mut Vec<(String, String)>,
) -> Result<(), MalformedDecision> {
    let Value::Object(object) = value else {
        return Err(field_err(
            field,
            format!("expected an object, found {}", type_name(value)),
        ));
    };
    for (key, values) in object.iter() {
        let Value::String(name) = key else {
            return Err(field_err(
                field,
                format!("header names must be strings, found {}", type_name(key)),
            ));
        };
        match values {
            Value::String(v) => out.push((name.to_string(), v.to_string())),
            other => {
                let items = list_items(other).ok_or_else(|| {
                    field_err(
                        field,
                        format!("header `{name}` has a {} value", type_name(other)),
                    )
                })?;
                for item in items {
                    let Value::String(v) = item else {
                        return Err(field_err(
                            field,
                            format!("header `{name}` has a {} value", type_name(item)),
                        ));
                    };
                    out.push((name.to_string(), v.to_string()));
                }
            }
        }
    }
    Ok(())
}

/// `{key: value | [value]}`: one parameter per value.
fn query_list(value: &Value) -> Result<Vec<(String, String)>, MalformedDecision> {
    const FIELD: &str = "query_parameters_to_set";
    let Value::Object(object) = value else {
        return Err(field_err(
            FIELD,
            format!("expected an object, found {}", type_name(value)),
        ));
    };
    let mut out = Vec::new();
    for (key, values) in object.iter() {
        let Value::String(key) = key else {
            return Err(field_err(
                FIELD,
                format!("keys must be strings, found {}", type_name(key)),
            ));
        };
        let items = match values {
            Value::String(v) => vec![v.to_string()],
            other => string_list(FIELD, other)?,
        };
        out.extend(items.into_iter().map(|v| (key.to_string(), v)));
    }
    Ok(out)
}

fn http_status(value: &Value) -> Result<u16, MalformedDecision> {
    const FIELD: &str = "http_status";
    let Value::Number(number) = value else {
        return Err(field_err(
            FIELD,
            format!("expected a number, found {}", type_name(value)),
        ));
    };
    let code = number
        .as_i64()
        .filter(|_| number.is_integer())
        .ok_or_else(|| {
            field_err(
                FIELD,
                format!("`{}` is not an integer", number.format_decimal()),
            )
        })?;
    u16::try_from(code)
        .ok()
        .filter(|c| VALID_STATUSES.contains(c))
        .ok_or_else(|| field_err(FIELD, format!("invalid HTTP status code {code}")))
}

#[cfg(test)]
mod tests;
