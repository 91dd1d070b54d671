use serde_json::Value as Json;

use super::*;

fn fixtures() -> Json {
    serde_json::from_str(include_str!("testdata.json")).unwrap()
}

fn text<'a>(fx: &'a Json, group: &str, name: &str) -> &'a str {
    fx[group][name].as_str().unwrap()
}

fn secret(fx: &Json) -> KeySet {
    KeySet::from_keys([Key::Secret(
        fx["secret"].as_str().unwrap().as_bytes().to_vec(),
    )])
}

#[test]
fn every_algorithm_verifies_with_its_key() {
    let fx = fixtures();
    for alg in Algorithm::ALL {
        let token = text(&fx, "tokens", alg.name());
        let keys = match alg.name() {
            n if n.starts_with("HS") => secret(&fx),
            "ES256" => KeySet::parse(text(&fx, "keys", "ec256_pem")).unwrap(),
            "ES384" => KeySet::parse(text(&fx, "keys", "ec384_pem")).unwrap(),
            "ES512" => KeySet::parse(text(&fx, "keys", "ec521_pem")).unwrap(),
            _ => KeySet::parse(text(&fx, "keys", "rsa_pem")).unwrap(),
        };
        let verified = verify_compact(token, &keys, &Algorithm::ALL)
            .unwrap_or_else(|err| panic!("{alg}: {err}"));
        assert_eq!(verified.algorithm, alg);
        assert_eq!(verified.claims().unwrap()["sub"], "alice");
    }
}

#[test]
fn a_certificate_lends_its_public_key() {
    let fx = fixtures();
    let keys = KeySet::parse(text(&fx, "keys", "rsa_cert")).unwrap();
    assert!(verify_compact(text(&fx, "tokens", "RS256"), &keys, &[Algorithm::RS256]).is_ok());
}

#[test]
fn a_single_jwk_and_a_jwk_set_are_both_read() {
    let fx = fixtures();
    let single = KeySet::parse(text(&fx, "keys", "rsa_jwk")).unwrap();
    assert_eq!(single.keys().len(), 1);
    assert!(verify_compact(text(&fx, "tokens", "PS384"), &single, &Algorithm::ALL).is_ok());

    let set = KeySet::parse(text(&fx, "keys", "jwks")).unwrap();
    assert_eq!(set.keys().len(), 4);
    assert_eq!(
        set.by_kid("ec-1").and_then(|k| k.alg.as_deref()),
        Some("ES256")
    );
    assert!(verify_compact(text(&fx, "tokens", "ES384"), &set, &Algorithm::ALL).is_ok());
    assert!(verify_compact(text(&fx, "tokens", "HS256"), &set, &Algorithm::ALL).is_ok());
}

#[test]
fn a_kid_in_the_set_selects_that_key_only() {
    let fx = fixtures();
    let set = KeySet::parse(text(&fx, "keys", "jwks")).unwrap();
    assert!(verify_compact(text(&fx, "special", "kid_rsa"), &set, &Algorithm::ALL).is_ok());
    assert!(verify_compact(text(&fx, "special", "kid_ec"), &set, &Algorithm::ALL).is_ok());
    // An unknown kid falls back to every key whose alg matches.
    assert!(verify_compact(text(&fx, "special", "kid_unknown"), &set, &Algorithm::ALL).is_ok());
}

#[test]
fn a_key_whose_alg_differs_from_the_token_is_not_tried() {
    let fx = fixtures();
    // The set's RSA key says RS256; a PS256 token must not use it.
    let set = KeySet::parse(text(&fx, "keys", "jwks")).unwrap();
    assert_eq!(
        verify_compact(text(&fx, "tokens", "PS256"), &set, &Algorithm::ALL),
        Err(JoseError::BadSignature)
    );
}

#[test]
fn tampered_tokens_and_other_keys_fail() {
    let fx = fixtures();
    let keys = KeySet::parse(text(&fx, "keys", "rsa_pem")).unwrap();
    for name in ["tampered", "other_key"] {
        assert_eq!(
            verify_compact(text(&fx, "special", name), &keys, &Algorithm::ALL),
            Err(JoseError::BadSignature),
            "{name}"
        );
    }
}

#[test]
fn a_key_of_the_wrong_type_never_verifies() {
    let fx = fixtures();
    let rsa = KeySet::parse(text(&fx, "keys", "rsa_pem")).unwrap();
    assert_eq!(
        verify_compact(text(&fx, "tokens", "ES256"), &rsa, &Algorithm::ALL),
        Err(JoseError::BadSignature)
    );
    let key = &rsa.keys()[0].key;
    assert_eq!(
        key.verify(Algorithm::HS256, b"a.b", b"sig"),
        Err(JoseError::KeyMismatch("HS256"))
    );
    // An HMAC secret equal to the PEM text must not verify an RS256 token
    // (the classic algorithm confusion).
    let confused = KeySet::from_keys([Key::Secret(
        text(&fx, "keys", "rsa_pem").as_bytes().to_vec(),
    )]);
    assert!(verify_compact(text(&fx, "tokens", "RS256"), &confused, &Algorithm::ALL).is_err());
}

#[test]
fn algorithms_outside_the_allowed_list_are_refused() {
    let fx = fixtures();
    assert_eq!(
        verify_compact(
            text(&fx, "tokens", "HS256"),
            &secret(&fx),
            &[Algorithm::RS256]
        ),
        Err(JoseError::AlgorithmNotAllowed("HS256".into()))
    );
    assert_eq!(
        verify_compact(
            text(&fx, "special", "none_alg"),
            &secret(&fx),
            &Algorithm::ALL
        ),
        Err(JoseError::UnsupportedAlgorithm("none".into()))
    );
}

#[test]
fn malformed_tokens_are_refused_before_any_key_is_used() {
    let keys = KeySet::default();
    assert!(matches!(
        verify_compact("abc", &keys, &Algorithm::ALL),
        Err(JoseError::Malformed(_))
    ));
    assert!(matches!(
        verify_compact("a.b", &keys, &Algorithm::ALL),
        Err(JoseError::Malformed(_))
    ));
    assert_eq!(
        verify_compact("!!.e30.", &keys, &Algorithm::ALL),
        Err(JoseError::Base64 { part: "header" })
    );
}

#[test]
fn padded_base64url_is_accepted() {
    let fx = fixtures();
    assert!(
        verify_compact(
            text(&fx, "special", "padded"),
            &secret(&fx),
            &Algorithm::ALL
        )
        .is_ok()
    );
    assert_eq!(decode_base64url("YQ").unwrap(), b"a");
    assert_eq!(decode_base64url("YQ==").unwrap(), b"a");
    assert!(decode_base64url("Y").is_none());
}

#[test]
fn pem_with_trailing_data_is_refused() {
    let fx = fixtures();
    let pem = format!("{}\nmore", text(&fx, "keys", "rsa_pem"));
    assert!(matches!(Key::from_pem(&pem), Err(JoseError::Pem(_))));
    let private = text(&fx, "keys", "rsa_private_pkcs8");
    assert!(matches!(Key::from_pem(private), Err(JoseError::Pem(_))));
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let key = Key::Secret(b"hunter2".to_vec());
    assert_eq!(format!("{key:?}"), "Key::Secret(<redacted>)");
}

#[test]
fn unsupported_jwk_types_are_skipped_in_a_set() {
    let set = KeySet::parse(
        r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AA"},{"kty":"oct","k":"c2VjcmV0"}]}"#,
    )
    .unwrap();
    assert_eq!(set.keys().len(), 1);
    assert!(KeySet::parse("not json").is_err());
}
