//! Whole bundles decided from Envoy `CheckRequest`s, and the input goldens.
//!
//! **Decisions.** Each folder under `envoy/` holds a tenant bundle
//! (`bundle/`) and `requests.toml`. Each request goes through the whole
//! service in process ([`pdp::server::Service`], with the repository's
//! system bundle), and the answer is compared with what OPA-Envoy would
//! answer: OPA evaluates the system deny rule and the tenant's decision rule
//! on the same input, and [`expected`] maps OPA's decision onto a
//! `CheckResponse` by OPA-Envoy's rules (written here from its
//! `envoyauth/response.go`, independently of `pdp::extauthz::response`).
//!
//! **Inputs.** `envoy/inputs/<name>.json` is the `input` OPA-Envoy builds
//! for the request [`golden_request`] makes under that name, written from
//! OPA-Envoy's `envoyauth/request.go`. Our input must equal it, except for
//! the two documented additions: resolved tenants in peer labels (not
//! exercised: no tenants are passed) and `header_map` folded into
//! `headers` (OPA-Envoy keeps `headerMap`; the golden for raw headers says
//! so, and the comparison applies the fold to the golden).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use envoy_types::pb::{
    envoy::{
        config::core::v3::{
            Address, HeaderMap, HeaderValue, SocketAddress, address, socket_address,
        },
        service::auth::v3::{
            AttributeContext, CheckRequest, CheckResponse,
            attribute_context::{HttpRequest, Peer, Request},
            check_response::HttpResponse,
        },
    },
    google::protobuf::Timestamp,
};
use pdp::{
    bundle::{Bundle, BundleFile, BundleFiles},
    config::Config,
    decision::Need,
    extauthz::{InputOptions, RequestView, TenantLabels, build_input},
    server::Service,
};
use serde::Deserialize;

use crate::{
    exact::{self, Json},
    oracle::Oracle,
    report::Suite,
    run::{CaseResult, Verdict},
};

/// One request of `requests.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// The case name.
    pub name: String,
    /// HTTP method.
    #[serde(default = "get")]
    pub method: String,
    /// `:path`, with query.
    pub path: String,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// mTLS: the caller's SPIFFE principal.
    #[serde(default)]
    pub source_principal: Option<String>,
    /// A body, with its content type.
    #[serde(default)]
    pub body: Option<String>,
    /// The body's content type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Send headers as `header_map` (Envoy's `encode_raw_headers`).
    #[serde(default)]
    pub raw_headers: bool,
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestsFile {
    #[serde(rename = "request")]
    requests: Vec<RequestSpec>,
}

fn socket(ip: &str, port: u32) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_owned(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..SocketAddress::default()
        })),
    })
}

/// A request shaped like Envoy 1.40's for `spec`, owned by `tenant`
/// (through the `tenant` context extension) when given.
pub fn check_request(spec: &RequestSpec, tenant: Option<&str>) -> CheckRequest {
    let mut headers: BTreeMap<String, String> = [
        (":authority", "api.example.svc:8080"),
        (":method", spec.method.as_str()),
        (":path", spec.path.as_str()),
        (":scheme", "http"),
        ("user-agent", "curl/8.5.0"),
        ("accept", "*/*"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "7b0f1c2e-3d4a-4b5c-8d6e-9f0a1b2c3d4e"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    headers.extend(spec.headers.clone());
    let mut http = HttpRequest {
        id: "11731415521239813061".into(),
        method: spec.method.clone(),
        path: spec.path.clone(),
        host: "api.example.svc:8080".into(),
        scheme: "http".into(),
        protocol: "HTTP/1.1".into(),
        ..HttpRequest::default()
    };
    if let Some(body) = &spec.body {
        let content_type = spec
            .content_type
            .clone()
            .unwrap_or_else(|| "text/plain".into());
        headers.insert("content-type".into(), content_type);
        headers.insert("content-length".into(), body.len().to_string());
        http.body = body.clone();
        http.size = i64::try_from(body.len()).unwrap_or(i64::MAX);
    }
    let mut source = Peer {
        address: socket("10.244.1.17", 43982),
        ..Peer::default()
    };
    if let Some(principal) = &spec.source_principal {
        source.principal = principal.clone();
        headers.insert(
            "x-forwarded-client-cert".into(),
            format!(
                "By=spiffe://cluster.local/ns/api/sa/api;Hash=6f1c0d;Subject=\"\";URI={principal}"
            ),
        );
    }
    if spec.raw_headers {
        http.header_map = Some(HeaderMap {
            headers: headers
                .into_iter()
                .map(|(key, value)| HeaderValue {
                    key,
                    value: String::new(),
                    raw_value: value.into_bytes(),
                })
                .collect(),
        });
    } else {
        http.headers = headers.into_iter().collect();
    }
    let mut context_extensions = std::collections::HashMap::new();
    if let Some(tenant) = tenant {
        context_extensions.insert("tenant".to_owned(), tenant.to_owned());
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(source),
            destination: Some(Peer {
                address: socket("10.244.2.31", 8080),
                ..Peer::default()
            }),
            request: Some(Request {
                time: Some(Timestamp {
                    seconds: 1_764_781_200,
                    nanos: 512_000_000,
                }),
                http: Some(http),
            }),
            context_extensions,
            ..AttributeContext::default()
        }),
    }
}

/// A `CheckResponse` reduced to what Envoy acts on, for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The RPC failed; Envoy answers its `status_on_error`.
    RpcError,
    /// A response.
    Response {
        /// gRPC status code in `status`.
        code: i32,
        /// Denied: the HTTP status; allowed with an OK response: 200.
        http_status: Option<i32>,
        /// Headers (sorted), to the upstream on allow, the client on deny.
        headers: Vec<(String, String)>,
        /// Denied body.
        body: String,
        /// `headers_to_remove`.
        remove: Vec<String>,
        /// `response_headers_to_add` (sorted).
        response_headers: Vec<(String, String)>,
        /// `query_parameters_to_set` (sorted) and `_to_remove`.
        query: (Vec<(String, String)>, Vec<String>),
        /// Dynamic metadata keys set by the policy (sorted).
        metadata_keys: Vec<String>,
    },
}

fn observe(response: Result<CheckResponse, tonic::Status>) -> Observed {
    let Ok(response) = response else {
        return Observed::RpcError;
    };
    let code = response.status.as_ref().map_or(0, |s| s.code);
    let mut metadata_keys: Vec<String> = response
        .dynamic_metadata
        .map(|m| {
            m.fields
                .into_keys()
                .filter(|k| k != "decision_id" && k != "pdp")
                .collect()
        })
        .unwrap_or_default();
    metadata_keys.sort();
    let pairs = |options: &[envoy_types::pb::envoy::config::core::v3::HeaderValueOption]| {
        let mut out: Vec<(String, String)> = options
            .iter()
            .filter_map(|o| o.header.as_ref().map(|h| (h.key.clone(), h.value.clone())))
            .collect();
        out.sort();
        out
    };
    let service_denial = response
        .http_response
        .as_ref()
        .is_some_and(|r| matches!(r, HttpResponse::DeniedResponse(d) if d.headers.iter().any(|h| h.header.as_ref().is_some_and(|h| h.key == "x-pdp-reason" && h.value != "request_parse_error"))));
    let mut observed = Observed::Response {
        code,
        http_status: None,
        headers: Vec::new(),
        body: String::new(),
        remove: Vec::new(),
        response_headers: Vec::new(),
        query: (Vec::new(), Vec::new()),
        metadata_keys,
    };
    if let Observed::Response {
        http_status,
        headers,
        body,
        remove,
        response_headers,
        query,
        ..
    } = &mut observed
    {
        match response.http_response {
            Some(HttpResponse::OkResponse(ok)) => {
                *http_status = Some(200);
                *headers = pairs(&ok.headers);
                *remove = ok.headers_to_remove;
                *response_headers = pairs(&ok.response_headers_to_add);
                let mut set: Vec<(String, String)> = ok
                    .query_parameters_to_set
                    .into_iter()
                    .map(|q| (q.key, q.value))
                    .collect();
                set.sort();
                *query = (set, ok.query_parameters_to_remove);
            }
            Some(HttpResponse::DeniedResponse(denied)) => {
                *http_status = denied.status.map(|s| s.code);
                *headers = pairs(&denied.headers);
                // The service's own denials carry a fresh decision id.
                *body = if service_denial {
                    String::new()
                } else {
                    denied.body
                };
            }
            // The service never sends Envoy's error response.
            Some(HttpResponse::ErrorResponse(_)) => *http_status = Some(-1),
            None => {}
        }
    }
    observed
}

/// Statuses both Go's `net/http` and Envoy's `StatusCode` know.
const STATUSES: &[i64] = &[
    100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308,
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421,
    422, 423, 424, 426, 428, 429, 431, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
];

fn header_pairs(value: Option<&Json>) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let objects = match value {
        None => return Some(out),
        Some(Json::Object(_)) => vec![value?],
        Some(Json::Array(items)) => items.iter().collect(),
        Some(_) => return None,
    };
    for object in objects {
        let Json::Object(fields) = object else {
            return None;
        };
        for (name, v) in fields {
            match v {
                Json::String(s) => out.push((name.clone(), s.clone())),
                Json::Array(items) => {
                    for item in items {
                        out.push((name.clone(), item.as_str()?.to_owned()));
                    }
                }
                _ => return None,
            }
        }
    }
    out.sort();
    Some(out)
}

fn strings(value: Option<&Json>) -> Option<Vec<String>> {
    match value {
        None => Some(Vec::new()),
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Some(_) => None,
    }
}

/// OPA-Envoy's response for a decision value (`None`: undefined or error).
pub fn expected(decision: Option<&Json>) -> Observed {
    let Some(decision) = decision else {
        return Observed::RpcError;
    };
    let object = match decision {
        Json::Bool(allowed) => {
            return Observed::Response {
                code: if *allowed { 0 } else { 7 },
                http_status: None,
                headers: Vec::new(),
                body: String::new(),
                remove: Vec::new(),
                response_headers: Vec::new(),
                query: (Vec::new(), Vec::new()),
                metadata_keys: Vec::new(),
            };
        }
        Json::Object(_) => decision,
        _ => return Observed::RpcError,
    };
    let Some(Json::Bool(allowed)) = object.get("allowed") else {
        return Observed::RpcError;
    };
    let Some(headers) = header_pairs(object.get("headers")) else {
        return Observed::RpcError;
    };
    let metadata_keys = match object.get("dynamic_metadata") {
        None => Vec::new(),
        Some(Json::Object(fields)) => {
            let mut keys: Vec<String> = fields
                .iter()
                .map(|(k, _)| k.clone())
                .filter(|k| k != "decision_id" && k != "pdp")
                .collect();
            keys.sort();
            keys
        }
        Some(_) => return Observed::RpcError,
    };
    if *allowed {
        let (Some(remove), Some(response_headers), Some(query_remove)) = (
            strings(object.get("request_headers_to_remove")),
            header_pairs(object.get("response_headers_to_add")),
            strings(object.get("query_parameters_to_remove")),
        ) else {
            return Observed::RpcError;
        };
        let mut query_set = Vec::new();
        match object.get("query_parameters_to_set") {
            None => {}
            Some(Json::Object(fields)) => {
                for (k, v) in fields {
                    match v {
                        Json::String(s) => query_set.push((k.clone(), s.clone())),
                        Json::Array(items) => {
                            for item in items {
                                let Some(s) = item.as_str() else {
                                    return Observed::RpcError;
                                };
                                query_set.push((k.clone(), s.to_owned()));
                            }
                        }
                        _ => return Observed::RpcError,
                    }
                }
            }
            Some(_) => return Observed::RpcError,
        }
        query_set.sort();
        return Observed::Response {
            code: 0,
            http_status: Some(200),
            headers,
            body: String::new(),
            remove,
            response_headers,
            query: (query_set, query_remove),
            metadata_keys,
        };
    }
    let body = match object.get("body") {
        None => String::new(),
        Some(Json::String(s)) => s.clone(),
        Some(_) => return Observed::RpcError,
    };
    let http_status = match object.get("http_status") {
        None => 403,
        Some(Json::Number(n)) => match n.parse::<i64>() {
            Ok(code) if STATUSES.contains(&code) => code,
            _ => return Observed::RpcError,
        },
        Some(_) => return Observed::RpcError,
    };
    Observed::Response {
        code: 7,
        http_status: Some(i32::try_from(http_status).unwrap_or(403)),
        headers,
        body,
        remove: Vec::new(),
        response_headers: Vec::new(),
        query: (Vec::new(), Vec::new()),
        metadata_keys,
    }
}

/// Reads every file of a bundle folder.
fn bundle_files(dir: &Path) -> anyhow::Result<Vec<BundleFile>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
                out.push(BundleFile {
                    path: rel,
                    bytes: std::fs::read(&path)?,
                });
            }
        }
    }
    Ok(out)
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for file in bundle_files(from)? {
        let target = to.join(&file.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(target, file.bytes)?;
    }
    Ok(())
}

/// An OPA engine holding one bundle's modules and data.
fn oracle_engine<'a>(
    oracle: &'a Oracle,
    bundle: &Bundle,
) -> anyhow::Result<crate::oracle::Engine<'a>> {
    let mut engine = oracle.engine()?;
    for module in &bundle.modules {
        if let Err(failure) = engine.add_policy(&module.path, &module.source)? {
            anyhow::bail!("OPA refused `{}`: {}", module.path, failure.message);
        }
    }
    if let Err(failure) = engine.add_data(&exact::value_to_json(&bundle.data))? {
        anyhow::bail!("OPA refused the data: {}", failure.message);
    }
    Ok(engine)
}

fn decision_path(bundle: &Bundle) -> String {
    match bundle.manifest.metadata.get("decision_path") {
        Some(serde_json::Value::String(path)) => path.replace('/', "."),
        _ => "envoy.authz.allow".into(),
    }
}

/// Runs every bundle under `envoy/` through the service and through OPA.
pub fn suite(oracle: &Oracle) -> anyhow::Result<Suite> {
    let root = crate::root();
    let system_dir = root.join("../bundles/system");
    let system = Bundle::from_files(&BundleFiles::from_files(bundle_files(&system_dir)?))?;
    let mut results = Vec::new();

    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("envoy"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("requests.toml").exists())
        .collect();
    dirs.sort();
    for dir in dirs {
        let tenant = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let requests: RequestsFile =
            toml::from_str(&std::fs::read_to_string(dir.join("requests.toml"))?)?;
        let bundle =
            Bundle::from_files(&BundleFiles::from_files(bundle_files(&dir.join("bundle"))?))?;

        // The service, on a folder with the system bundle and this tenant.
        let work = tempfile::tempdir()?;
        copy_tree(&system_dir, &work.path().join("system"))?;
        copy_tree(
            &dir.join("bundle"),
            &work.path().join("tenants").join(&tenant),
        )?;
        let mut config = Config::default();
        config.bundles.root = work.path().to_owned();
        config.engine.worker_threads = 1;
        let (service, report) = Service::load(config)?;
        anyhow::ensure!(
            report.failed.is_empty(),
            "bundles failed: {:?}",
            report.failed
        );

        let mut system_engine = oracle_engine(oracle, &system)?;
        let mut tenant_engine = oracle_engine(oracle, &bundle)?;
        let path = decision_path(&bundle);

        for spec in &requests.requests {
            let request = check_request(spec, Some(&tenant));
            let ours = observe(service.check().decide(&request));

            // OPA sees the input the service builds (checked against
            // OPA-Envoy's own by the input goldens).
            let view = RequestView::new(&request);
            let source = spec
                .source_principal
                .as_deref()
                .and_then(|p| p.split("/ns/").nth(1))
                .and_then(|rest| rest.split('/').next());
            let labels = TenantLabels {
                destination: Some(&tenant),
                source,
            };
            let theirs =
                match build_input(&request, &view, labels, InputOptions::default(), Need::All) {
                    Err(err) => expected_parse_error(&err.to_string()),
                    Ok(input) => {
                        let input = exact::value_to_json(&input);
                        let deny = system_engine
                            .eval_document("multi_tenant.policy.deny", Some(&input))?;
                        let denied = matches!(&deny, Ok(Some(raw)) if raw != "[]");
                        if denied {
                            expected_system_denial()
                        } else {
                            let decision = tenant_engine.eval_document(&path, Some(&input))?;
                            let json = match decision {
                                Ok(Some(raw)) => {
                                    Some(exact::parse(&raw).map_err(anyhow::Error::msg)?)
                                }
                                Err(failure)
                                    if crate::run::classify_opa(&failure)
                                        == crate::run::ErrorKind::Builtin =>
                                {
                                    // OPA-Envoy is non-strict; the strict oracle
                                    // cannot say what it would answer here.
                                    anyhow::bail!(
                                        "{tenant}/{}: OPA reports a builtin error; \
                                     such paths belong in the curated corpus",
                                        spec.name
                                    );
                                }
                                _ => None,
                            };
                            expected(json.as_ref())
                        }
                    }
                };
            let verdict = if ours == theirs {
                Verdict::Pass
            } else {
                Verdict::Diverge
            };
            results.push(CaseResult {
                name: format!("{tenant}/{}", spec.name),
                category: tenant.clone(),
                verdict,
                ours: format!("{ours:?}"),
                theirs: format!("{theirs:?}"),
                ours_allows: matches!(ours, Observed::Response { code: 0, .. }),
                theirs_allows: matches!(theirs, Observed::Response { code: 0, .. }),
                note: None,
            });
        }
    }
    Ok(Suite {
        title: "OPA-Envoy corpus (whole bundles, CheckRequests)".into(),
        results,
    })
}

/// OPA-Envoy's answer to a request it cannot parse.
fn expected_parse_error(error: &str) -> Observed {
    Observed::Response {
        code: 7,
        http_status: Some(400),
        headers: vec![
            ("content-type".into(), "text/plain".into()),
            ("x-pdp-reason".into(), "request_parse_error".into()),
        ],
        body: format!("request_parse_error: {error}"),
        remove: Vec::new(),
        response_headers: Vec::new(),
        query: (Vec::new(), Vec::new()),
        metadata_keys: Vec::new(),
    }
}

/// The service's own answer when the system deny set is not empty: a 403
/// (OPA-Envoy has no system bundle; its answer would be the deny itself).
fn expected_system_denial() -> Observed {
    Observed::Response {
        code: 7,
        http_status: Some(403),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-pdp-reason".into(), "system_policy_denied".into()),
        ],
        body: String::new(),
        remove: Vec::new(),
        response_headers: Vec::new(),
        query: (Vec::new(), Vec::new()),
        metadata_keys: Vec::new(),
    }
}

/// The requests of the input goldens, by name.
pub fn golden_request(name: &str) -> Option<CheckRequest> {
    let spec = |path: &str| RequestSpec {
        name: name.into(),
        method: "GET".into(),
        path: path.into(),
        headers: BTreeMap::new(),
        source_principal: None,
        body: None,
        content_type: None,
        raw_headers: false,
    };
    let mut s = match name {
        "plain" => spec("/api/orders?id=7&id=8&q=a+b"),
        "mtls-spiffe" => RequestSpec {
            source_principal: Some("spiffe://cluster.local/ns/acme/sa/web".into()),
            ..spec("/api/orders")
        },
        "raw-headers" => RequestSpec {
            raw_headers: true,
            ..spec("/raw")
        },
        "json-body" => RequestSpec {
            method: "POST".into(),
            body: Some(r#"{"amount": 12.5, "items": [1, 2], "note": "café"}"#.into()),
            content_type: Some("application/json".into()),
            ..spec("/api/orders")
        },
        "form-body" => RequestSpec {
            method: "POST".into(),
            body: Some("name=a+b&tag=x&tag=y%21".into()),
            content_type: Some("application/x-www-form-urlencoded".into()),
            ..spec("/form")
        },
        "multipart-body" => RequestSpec {
            method: "POST".into(),
            body: Some(
                "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n\
                 --XyZ\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"k\": 1}\r\n\
                 --XyZ--\r\n"
                    .into(),
            ),
            content_type: Some("multipart/form-data; boundary=XyZ".into()),
            ..spec("/upload")
        },
        "double-slash" => spec("//admin/dashboard"),
        "escaped-path" => spec("/caf%C3%A9/a%2Fb?x=%41"),
        "partial-body" => {
            let mut s = RequestSpec {
                method: "POST".into(),
                body: Some(r#"{"truncated": tr"#.into()),
                content_type: Some("application/json".into()),
                ..spec("/partial")
            };
            s.headers.insert("x-envoy-auth-partial-body".into(), "true".into());
            s
        }
        _ => return None,
    };
    s.name = name.into();
    Some(check_request(&s, None))
}

/// Names of the input goldens.
pub const GOLDENS: &[&str] = &[
    "plain",
    "mtls-spiffe",
    "raw-headers",
    "json-body",
    "form-body",
    "multipart-body",
    "double-slash",
    "escaped-path",
    "partial-body",
];

/// Our input for golden `name`, and the golden with the documented
/// `header_map` fold applied.
pub fn golden_pair(name: &str) -> anyhow::Result<(regorus::Value, Json)> {
    let request = golden_request(name).ok_or_else(|| anyhow::anyhow!("no golden `{name}`"))?;
    let view = RequestView::new(&request);
    let ours = build_input(
        &request,
        &view,
        TenantLabels::default(),
        InputOptions::default(),
        Need::All,
    )?;
    let path = crate::root()
        .join("envoy/inputs")
        .join(format!("{name}.json"));
    let golden = exact::parse(&std::fs::read_to_string(&path)?).map_err(anyhow::Error::msg)?;
    Ok((ours, fold_header_map(golden)))
}

/// The service's documented departure: OPA-Envoy's `headerMap` (one entry
/// per header, values base64 in `rawValue`) becomes the `headers` map.
fn fold_header_map(mut golden: Json) -> Json {
    let Some(Json::Object(http)) = object_at(&mut golden, &["attributes", "request", "http"])
    else {
        return golden;
    };
    let Some(index) = http.iter().position(|(k, _)| k == "headerMap") else {
        return golden;
    };
    let (_, map) = http.remove(index);
    let mut folded: Vec<(String, Json)> = Vec::new();
    if let Some(Json::Array(entries)) = map.get("headers") {
        for entry in entries {
            let key = entry
                .get("key")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned();
            let raw = entry
                .get("rawValue")
                .and_then(Json::as_str)
                .unwrap_or_default();
            let value = base64_decode(raw);
            folded.push((key, Json::String(value)));
        }
    }
    http.push(("headers".into(), Json::Object(folded)));
    golden
}

fn object_at<'a>(json: &'a mut Json, path: &[&str]) -> Option<&'a mut Json> {
    let mut node = json;
    for key in path {
        let Json::Object(fields) = node else {
            return None;
        };
        node = &mut fields.iter_mut().find(|(k, _)| k == key)?.1;
    }
    Some(node)
}

fn base64_decode(text: &str) -> String {
    use base64_standard::decode;
    String::from_utf8_lossy(&decode(text)).into_owned()
}

/// A tiny standard base64 decoder, enough for golden files.
mod base64_standard {
    pub(super) fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => u32::from(c - b'A'),
                b'a'..=b'z' => u32::from(c - b'a') + 26,
                b'0'..=b'9' => u32::from(c - b'0') + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            })
        };
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in text.bytes().filter_map(value) {
            acc = (acc << 6) | c;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push(((acc >> bits) & 0xff) as u8);
            }
        }
        out
    }
}
