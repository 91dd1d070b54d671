use std::collections::HashMap;

use super::*;

#[derive(Default)]
struct Request {
    extensions: HashMap<&'static str, &'static str>,
    destination_principal: Option<&'static str>,
    source_principal: Option<&'static str>,
    authority: Option<&'static str>,
    headers: HashMap<&'static str, &'static str>,
}

impl TenantAttributes for Request {
    fn context_extension(&self, key: &str) -> Option<&str> {
        self.extensions.get(key).copied()
    }
    fn destination_principal(&self) -> Option<&str> {
        self.destination_principal
    }
    fn source_principal(&self) -> Option<&str> {
        self.source_principal
    }
    fn authority(&self) -> Option<&str> {
        self.authority
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).copied()
    }
}

fn tenant(name: &str) -> TenantName {
    TenantName::parse(name).unwrap()
}

fn resolver(edit: impl FnOnce(&mut TenancyConfig)) -> Resolver {
    let mut config = TenancyConfig::default();
    edit(&mut config);
    Resolver::new(&config).unwrap()
}

fn found(name: &str, via: Via) -> Found<'_> {
    Found { name, via }
}

#[test]
fn context_extension_names_the_destination_first() {
    let r = resolver(|_| {});
    let req = Request {
        extensions: [("tenant", "tenant-a")].into(),
        destination_principal: Some("spiffe://cluster.local/ns/tenant-b/sa/api"),
        ..Request::default()
    };
    assert_eq!(
        r.resolve(&req).destination,
        Ok(found("tenant-a", Via::ContextExtension))
    );
}

#[test]
fn spiffe_namespaces_name_both_sides_in_mtls_traffic() {
    let r = resolver(|_| {});
    let req = Request {
        destination_principal: Some("spiffe://cluster.local/ns/tenant-a/sa/api"),
        source_principal: Some("spiffe://cluster.local/ns/tenant-b/sa/web"),
        ..Request::default()
    };
    let resolution = r.resolve(&req);
    assert_eq!(
        resolution.destination,
        Ok(found("tenant-a", Via::Principal))
    );
    assert_eq!(resolution.source, Some(found("tenant-b", Via::Principal)));
}

#[test]
fn namespace_map_translates_namespaces_and_leaves_others_alone() {
    let r = resolver(|c| {
        c.namespaces.insert("shop-prod".into(), tenant("shop"));
    });
    let req = Request {
        destination_principal: Some("spiffe://cluster.local/ns/shop-prod/sa/api"),
        source_principal: Some("spiffe://cluster.local/ns/other/sa/web"),
        ..Request::default()
    };
    let resolution = r.resolve(&req);
    assert_eq!(resolution.destination, Ok(found("shop", Via::Principal)));
    assert_eq!(resolution.source, Some(found("other", Via::Principal)));
}

#[test]
fn untrusted_trust_domains_are_ignored() {
    let r = resolver(|c| c.trust_domains = vec!["mesh.example".into()]);
    let req = Request {
        destination_principal: Some("spiffe://evil.example/ns/tenant-a/sa/api"),
        source_principal: Some("spiffe://evil.example/ns/tenant-a/sa/api"),
        ..Request::default()
    };
    let resolution = r.resolve(&req);
    assert_eq!(resolution.destination, Err(Unresolved::Missing));
    assert_eq!(resolution.source, None);
}

#[test]
fn host_map_matches_exact_names_then_the_longest_wildcard() {
    let r = resolver(|c| {
        c.hosts.insert("api.example.com".into(), tenant("exact"));
        c.hosts.insert("*.example.com".into(), tenant("wide"));
        c.hosts.insert("*.eu.example.com".into(), tenant("narrow"));
    });
    let cases = [
        ("api.example.com", Some("exact")),
        ("API.Example.com:8443", Some("exact")),
        ("shop.example.com", Some("wide")),
        ("a.b.example.com", Some("wide")),
        ("x.eu.example.com", Some("narrow")),
        ("example.com", None),
        ("example.com.evil", None),
    ];
    for (authority, expected) in cases {
        let req = Request {
            authority: Some(authority),
            ..Request::default()
        };
        let got = r.resolve(&req).destination.ok().map(|f| f.name);
        assert_eq!(got, expected, "{authority}");
    }
}

#[test]
fn header_is_ignored_unless_configured() {
    let req = Request {
        headers: [("x-tenant", "tenant-a"), ("x-source-tenant", "tenant-b")].into(),
        ..Request::default()
    };
    let default = resolver(|_| {});
    assert_eq!(default.resolve(&req).destination, Err(Unresolved::Missing));
    assert_eq!(default.resolve(&req).source, None);

    let opted_in = resolver(|c| {
        c.destination = vec![Attribute::Header];
        c.source = vec![Attribute::Header];
    });
    let resolution = opted_in.resolve(&req);
    assert_eq!(resolution.destination, Ok(found("tenant-a", Via::Header)));
    assert_eq!(resolution.source, Some(found("tenant-b", Via::Header)));
}

#[test]
fn first_present_attribute_decides_even_when_invalid() {
    let r = resolver(|_| {});
    let req = Request {
        extensions: [("tenant", "Not_Valid")].into(),
        destination_principal: Some("spiffe://cluster.local/ns/tenant-a/sa/api"),
        ..Request::default()
    };
    assert!(matches!(
        r.resolve(&req).destination,
        Err(Unresolved::Invalid {
            via: Via::ContextExtension,
            ..
        })
    ));
}

#[test]
fn plaintext_requests_without_attributes_are_unresolved() {
    let r = resolver(|_| {});
    let request = Request::default();
    let resolution = r.resolve(&request);
    assert_eq!(resolution.destination, Err(Unresolved::Missing));
    assert_eq!(resolution.source, None);
}

#[test]
fn settings_that_cannot_work_are_refused() {
    let config = TenancyConfig {
        source: vec![Attribute::Host],
        ..TenancyConfig::default()
    };
    assert!(matches!(
        Resolver::new(&config),
        Err(TenancyConfigError::NotForSource { .. })
    ));

    let mut config = TenancyConfig::default();
    config.hosts.insert("*.".into(), tenant("a"));
    assert!(matches!(
        Resolver::new(&config),
        Err(TenancyConfigError::BadHostPattern(_))
    ));

    let mut config = TenancyConfig::default();
    config.hosts.insert("a.*.com".into(), tenant("a"));
    assert!(Resolver::new(&config).is_err());
}

#[test]
fn ipv6_authorities_keep_their_brackets() {
    assert_eq!(strip_port("[::1]:8080"), "[::1]");
    assert_eq!(strip_port("[::1]"), "[::1]");
    assert_eq!(strip_port("host:80"), "host");
    assert_eq!(strip_port("host"), "host");
}
