//! The configuration file: defaults, every table and source kind, errors
//! for unknown keys and bad values, redacted secrets, relative paths.

use super::*;

#[test]
fn defaults_are_valid() {
    let config = Config::default();
    assert_eq!(config.decision.default_path.as_slash(), "envoy/authz/allow");
    assert_eq!(
        config.decision.system_deny_path.as_slash(),
        "multi_tenant/policy/deny"
    );
    for path in [
        &config.decision.default_path,
        &config.decision.system_deny_path,
    ] {
        assert_eq!(&RulePath::parse(path.as_slash()).unwrap(), path);
    }
    assert_eq!(config.server.grpc_addr.port(), 9191);
    assert_eq!(config.server.http_addr.port(), 8181);
}

#[test]
fn empty_file_gives_defaults() {
    assert_eq!(Config::from_toml("").unwrap(), Config::default());
}

#[test]
fn every_table_can_be_set() {
    let config = Config::from_toml(
        r#"
        [server]
        grpc_addr = "0.0.0.0:9000"
        [bundles]
        root = "/srv/bundles"
        [bundles.limits]
        max_files = 10
        [decision]
        default_path = "authz/decision"
        on_error = "deny"
        [tenancy]
        destination = ["principal", "host"]
        hosts = { "*.acme.example" = "acme" }
        [engine]
        eval_timeout_ms = 20
        [log]
        format = "json"
        "#,
    )
    .unwrap();
    assert_eq!(config.server.grpc_addr.port(), 9000);
    assert_eq!(config.bundles.limits.max_files, 10);
    assert_eq!(config.decision.on_error, OnError::Deny);
    assert_eq!(config.tenancy.hosts.len(), 1);
    assert_eq!(config.engine.eval_timeout_ms, 20);
    assert_eq!(config.log.format, LogFormat::Json);
}

#[test]
fn unknown_keys_and_bad_values_are_errors() {
    let err = Config::from_toml("[server]\ngrpc_adr = \"x\"\n").unwrap_err();
    assert!(err.contains("grpc_adr"), "{err}");
    let err = Config::from_toml("[decision]\ndefault_path = \"a/0\"\n").unwrap_err();
    assert!(err.contains("numeric segment"), "{err}");
    let err = Config::from_toml("[tenancy]\nnamespaces = { a = \"Bad\" }\n").unwrap_err();
    assert!(err.contains("tenant name"), "{err}");
}

#[test]
fn sources_of_every_kind_parse() {
    let config = Config::from_toml(
        r#"
        [reload]
        debounce_ms = 50
        cache_dir = "/var/cache/pdp"
        admin_token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

        [[sources]]
        kind = "directory"
        name = "local"
        path = "/srv/bundles"

        [[sources]]
        kind = "bundle"
        name = "acme-file"
        path = "/srv/acme.tar.gz"
        tenant = "acme"
        watch = false
        poll_interval_secs = 10

        [[sources]]
        kind = "git"
        name = "policies"
        url = "https://git.example/org/policies.git"
        tag = "v1.2.0"
        subdir = "bundles"
        test_gate = true
        [sources.webhook]
        github_secret = { file = "/run/secrets/github" }
        gitlab_token = "inline-token"
        "#,
    )
    .unwrap();
    assert_eq!(config.sources.len(), 3);
    let SourceConfig::Git(git) = &config.sources[2] else {
        panic!("expected a git source");
    };
    assert_eq!(git.pin(), Ok(GitPin::Tag("v1.2.0".to_owned())));
    assert_eq!(git.poll_interval_secs, 30, "git sources poll by default");
    assert!(git.test_gate);
    let SourceConfig::Directory(dir) = &config.sources[0] else {
        panic!("expected a directory source");
    };
    assert!(dir.watch, "folders are watched by default");
    assert_eq!(config.effective_sources().len(), 3);
}

#[test]
fn without_sources_the_bundle_root_is_the_one_source() {
    let config = Config::from_toml("[bundles]\nroot = \"/srv/b\"\n").unwrap();
    let sources = config.effective_sources();
    let [SourceConfig::Directory(dir)] = sources.as_slice() else {
        panic!("expected one directory source: {sources:?}");
    };
    assert_eq!(dir.path, PathBuf::from("/srv/b"));
    assert!(dir.watch);
}

#[test]
fn bad_sources_are_errors() {
    let cases = [
        (
            "[[sources]]\nkind = \"git\"\nname = \"g\"\nurl = \"/r\"\nbranch = \"main\"\ntag = \"v1\"\n",
            "at most one",
        ),
        (
            "[[sources]]\nkind = \"git\"\nname = \"g\"\nurl = \"/r\"\ncommit = \"abc\"\n",
            "40-digit",
        ),
        (
            "[[sources]]\nkind = \"directory\"\nname = \"d\"\npath = \"/x\"\nbranch = \"main\"\n",
            "branch",
        ),
        ("[[sources]]\nkind = \"ftp\"\nname = \"d\"\n", "ftp"),
        (
            "[[sources]]\nkind = \"directory\"\nname = \"Bad Name\"\npath = \"/x\"\n",
            "source name",
        ),
        (
            "[[sources]]\nkind = \"directory\"\nname = \"d\"\npath = \"/x\"\n[[sources]]\nkind = \"directory\"\nname = \"d\"\npath = \"/y\"\n",
            "two sources",
        ),
        (
            "[[sources]]\nkind = \"git\"\nname = \"g\"\nurl = \"/r\"\nsubdir = \"../up\"\n",
            "`..`",
        ),
        (
            "[reload]\nadmin_token_sha256 = \"secret\"\n",
            "64 hexadecimal",
        ),
        (
            "[[sources]]\nkind = \"bundle\"\nname = \"b\"\npath = \"/a.tar.gz\"\ntenant = \"a\"\n[sources.signing]\nkeyid = \"nope\"\n",
            "no key `nope`",
        ),
    ];
    for (text, expected) in cases {
        let err = Config::from_toml(text).unwrap_err();
        assert!(err.contains(expected), "{text}\n=> {err}");
    }
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let secret = Secret::Inline("hunter2".to_owned());
    assert!(!format!("{secret:?}").contains("hunter2"));
    let json = serde_json::to_string(&secret).unwrap();
    assert!(!json.contains("hunter2"));
}

#[test]
fn relative_paths_are_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pdp.toml");
    std::fs::write(
        &file,
        "[reload]\ncache_dir = \"cache\"\n[[sources]]\nkind = \"git\"\nname = \"g\"\nurl = \"repo\"\n",
    )
    .unwrap();
    let config = Config::from_file(&file).unwrap();
    assert_eq!(config.reload.cache_dir, dir.path().join("cache"));
    let SourceConfig::Git(git) = &config.sources[0] else {
        panic!("expected a git source");
    };
    assert_eq!(git.url, dir.path().join("repo").display().to_string());
}
