//! SPIFFE identities in Istio's form, `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`.
//!
//! Only the exact Istio shape is accepted: an identity with extra or missing
//! segments names no namespace, rather than a guessed one.

/// The parts of an Istio workload identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpiffeId<'a> {
    /// The trust domain, e.g. `cluster.local`.
    pub trust_domain: &'a str,
    /// The Kubernetes namespace.
    pub namespace: &'a str,
    /// The service account.
    pub service_account: &'a str,
}

impl<'a> SpiffeId<'a> {
    /// Parses `uri`, or returns `None` when it is not an Istio identity.
    pub fn parse(uri: &'a str) -> Option<Self> {
        let rest = uri.strip_prefix("spiffe://")?;
        let (trust_domain, rest) = segment(rest)?;
        let ("ns", rest) = segment(rest?)? else {
            return None;
        };
        let (namespace, rest) = segment(rest?)?;
        let ("sa", rest) = segment(rest?)? else {
            return None;
        };
        let (service_account, None) = segment(rest?)? else {
            return None;
        };
        Some(Self {
            trust_domain,
            namespace,
            service_account,
        })
    }
}

/// The non-empty text before the first `/` and what follows it, if there
/// is a `/`. Called on every request for two principals, so it scans bytes
/// rather than going through the general string searcher.
fn segment(s: &str) -> Option<(&str, Option<&str>)> {
    let (head, tail) = match s.bytes().position(|b| b == b'/') {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    (!head.is_empty()).then_some((head, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_istio_identities() {
        assert_eq!(
            SpiffeId::parse("spiffe://cluster.local/ns/tenant-a/sa/client"),
            Some(SpiffeId {
                trust_domain: "cluster.local",
                namespace: "tenant-a",
                service_account: "client",
            })
        );
    }

    #[test]
    fn rejects_other_shapes() {
        for uri in [
            "",
            "cluster.local/ns/a/sa/b",
            "spiffe://cluster.local/ns/a",
            "spiffe://cluster.local/ns//sa/b",
            "spiffe://cluster.local/sa/b/ns/a",
            "spiffe://cluster.local/ns/a/sa/b/extra",
            "spiffe://cluster.local/ns/a/sa/b/",
            "spiffe://cluster.local/ns/a/sa/",
            "spiffe:///ns/a/sa/b",
            "https://cluster.local/ns/a/sa/b",
        ] {
            assert_eq!(SpiffeId::parse(uri), None, "{uri}");
        }
    }
}
