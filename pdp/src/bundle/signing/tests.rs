//! Signature verification against fixtures from an independent signer
//! (`generate.py`) and file digests from OPA's own tests.

use std::collections::BTreeMap;

use super::*;
use crate::config::Secret;

/// Keys, files and tokens written by `generate.py`, an independent signer.
fn testdata() -> serde_json::Value {
    serde_json::from_str(include_str!("testdata.json")).unwrap()
}

fn keys() -> BTreeMap<String, SigningKeyConfig> {
    let data = testdata();
    let key = |name: &str, algorithm: &str, scope: Option<&str>| SigningKeyConfig {
        algorithm: algorithm.to_owned(),
        key: Secret::Inline(data["keys"][name].as_str().unwrap().to_owned()),
        scope: scope.map(str::to_owned),
    };
    [
        ("rsa".to_owned(), key("rsa", "RS256", None)),
        ("ec".to_owned(), key("ec", "ES256", None)),
        ("hmac".to_owned(), key("hmac", "HS256", Some("write"))),
    ]
    .into()
}

fn verifier(signing: SigningConfig) -> Verifier {
    Verifier::new(&signing, &keys()).unwrap()
}

/// The fixture's files, signed with `token`, changed by `edit`.
fn bundle(token: &str, edit: impl FnOnce(&mut BTreeMap<String, String>)) -> BundleFiles {
    let data = testdata();
    let mut files: BTreeMap<String, String> = data["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let jwt = data["tokens"][token].as_str().unwrap();
    files.insert(
        SIGNATURES_FILE.to_owned(),
        format!("{{\"signatures\": [\"{jwt}\"]}}"),
    );
    edit(&mut files);
    BundleFiles::from_files(
        files
            .into_iter()
            .map(|(path, text)| BundleFile {
                path,
                bytes: text.into_bytes(),
            })
            .collect(),
    )
}

fn unchanged(_: &mut BTreeMap<String, String>) {}

#[test]
fn bundles_signed_with_each_algorithm_verify() {
    let v = verifier(SigningConfig::default());
    assert_eq!(v.verify(&bundle("rs256_kid", unchanged)), Ok(()));
    assert_eq!(v.verify(&bundle("es256_kid", unchanged)), Ok(()));
    assert_eq!(v.verify(&bundle("hs256_kid_scoped", unchanged)), Ok(()));
}

#[test]
fn whitespace_and_key_order_of_data_files_do_not_matter() {
    let v = verifier(SigningConfig::default());
    let reformatted = bundle("rs256_kid", |files| {
        files.insert(
            "envoy/authz/data.json".to_owned(),
            "{\n  \"alpha\": [true, null, \"x\"],\n  \"zeta\": 1.0\n}\n".to_owned(),
        );
    });
    assert_eq!(v.verify(&reformatted), Ok(()));
    let renumbered = bundle("rs256_kid", |files| {
        files.insert(
            "envoy/authz/data.json".to_owned(),
            r#"{"zeta": 1, "alpha": [true, null, "x"]}"#.to_owned(),
        );
    });
    assert_eq!(
        v.verify(&renumbered),
        Err(SignatureError::Digest("envoy/authz/data.json".to_owned()))
    );
}

#[test]
fn a_tampered_file_is_refused() {
    let v = verifier(SigningConfig::default());
    let tampered = bundle("rs256_kid", |files| {
        files.insert(
            "envoy/authz/policy.rego".to_owned(),
            "package envoy.authz\n\nallow := false\n".to_owned(),
        );
    });
    assert_eq!(
        v.verify(&tampered),
        Err(SignatureError::Digest("envoy/authz/policy.rego".to_owned()))
    );
}

#[test]
fn the_file_list_must_match_the_bundle_exactly() {
    let v = verifier(SigningConfig::default());
    let added = bundle("rs256_kid", |files| {
        files.insert("extra.rego".to_owned(), "package extra\n".to_owned());
    });
    assert_eq!(
        v.verify(&added),
        Err(SignatureError::NotListed("extra.rego".to_owned()))
    );
    assert!(matches!(
        v.verify(&bundle("rs256_missing_file", unchanged)),
        Err(SignatureError::NotListed(_))
    ));
    assert_eq!(
        v.verify(&bundle("rs256_extra_file", unchanged)),
        Err(SignatureError::Missing(vec!["gone.rego".to_owned()]))
    );

    let excluding = verifier(SigningConfig {
        exclude_files: vec!["*.rego".to_owned()],
        ..SigningConfig::default()
    });
    assert_eq!(
        excluding.verify(&added),
        Ok(()),
        "excluded files need no hash"
    );
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let v = verifier(SigningConfig::default());
    assert!(matches!(
        v.verify(&bundle("rs256_other_key", unchanged)),
        Err(SignatureError::BadSignature { .. })
    ));
}

#[test]
fn the_key_id_comes_from_config_then_header_then_payload() {
    let v = verifier(SigningConfig::default());
    assert_eq!(
        v.verify(&bundle("rs256_no_kid", unchanged)),
        Err(SignatureError::NoKeyId)
    );
    assert_eq!(v.verify(&bundle("rs256_payload_keyid", unchanged)), Ok(()));

    let configured = verifier(SigningConfig {
        keyid: Some("rsa".to_owned()),
        ..SigningConfig::default()
    });
    assert_eq!(
        configured.verify(&bundle("rs256_no_kid", unchanged)),
        Ok(())
    );
    // The configured key wins over the token's `kid`.
    let wrong = verifier(SigningConfig {
        keyid: Some("ec".to_owned()),
        ..SigningConfig::default()
    });
    assert!(matches!(
        wrong.verify(&bundle("rs256_kid", unchanged)),
        Err(SignatureError::BadSignature { .. })
    ));
}

#[test]
fn the_scope_must_match() {
    // The HMAC key's own scope is `write`, as the token's.
    let default = verifier(SigningConfig::default());
    assert_eq!(
        default.verify(&bundle("hs256_kid_scoped", unchanged)),
        Ok(())
    );
    let read = verifier(SigningConfig {
        scope: Some("read".to_owned()),
        ..SigningConfig::default()
    });
    assert!(matches!(
        read.verify(&bundle("hs256_kid_scoped", unchanged)),
        Err(SignatureError::Scope { .. })
    ));
    // A scope in the config but none in the token is a mismatch too.
    assert!(matches!(
        read.verify(&bundle("rs256_kid", unchanged)),
        Err(SignatureError::Scope { .. })
    ));
}

#[test]
fn unsigned_bundles_are_refused_when_verifying_and_signed_ones_when_not() {
    let v = verifier(SigningConfig::default());
    let unsigned = bundle("rs256_kid", |files| {
        files.remove(SIGNATURES_FILE);
    });
    assert_eq!(v.verify(&unsigned), Err(SignatureError::Unsigned));
    assert_eq!(refuse_signed(&unsigned), Ok(()));
    assert_eq!(
        refuse_signed(&bundle("rs256_kid", unchanged)),
        Err(SignatureError::NotExpected)
    );
}

#[test]
fn malformed_signature_files_are_refused() {
    let v = verifier(SigningConfig::default());
    for text in [
        "not json",
        r#"{"signatures": []}"#,
        r#"{"signatures": ["a.b.c", "d.e.f"]}"#,
        r#"{"signatures": ["not-a-jwt"]}"#,
    ] {
        let files = bundle("rs256_kid", |files| {
            files.insert(SIGNATURES_FILE.to_owned(), text.to_owned());
        });
        assert!(
            matches!(v.verify(&files), Err(SignatureError::Malformed(_))),
            "{text}: {:?}",
            v.verify(&files)
        );
    }
}

#[test]
fn file_hashes_match_opa_for_its_own_examples() {
    // Digests OPA's own tests expect for these files (MD5 and SHA-512).
    let cases = [
        (
            ".manifest",
            r#"{"revision": "quickbrownfaux"}"#,
            "MD5",
            "a005c38a509dc2d5a7407b9494efb2ad",
        ),
        (
            "a/b/d/data.json",
            "true",
            "MD5",
            "b326b5062b2f0e69046810717534cb09",
        ),
        (
            "example/example.rego",
            "package example",
            "MD5",
            "ceecc199d432a4eeae305914ea4816cb",
        ),
        (
            "data.json",
            r#"{"x": {"y": true}, "a": {"b": {"z": true}}}"#,
            "MD5",
            "36669864a622563256817033b1fc53db",
        ),
    ];
    for (path, text, algorithm, expected) in cases {
        let file = BundleFile {
            path: path.to_owned(),
            bytes: text.as_bytes().to_vec(),
        };
        let listed = ListedFile {
            name: path.to_owned(),
            hash: expected.to_owned(),
            algorithm: algorithm.to_owned(),
        };
        assert_eq!(check_hash(&file, &listed), Ok(()), "{path}");
    }
}
