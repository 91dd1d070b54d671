use regorus::Value;

use super::call;

fn fixtures() -> serde_json::Value {
    serde_json::from_str(include_str!("../../jose/testdata.json")).unwrap()
}

fn s(v: &str) -> Value {
    Value::from(v)
}

fn run(name: &str, args: &[Value]) -> Result<Value, String> {
    call(name, args).expect("builtin is registered")
}

#[test]
fn hashes_are_lowercase_hex_of_the_utf8_bytes() {
    assert_eq!(
        run("crypto.sha256", &[s("abc")]).unwrap(),
        s("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(
        run("crypto.md5", &[s("")]).unwrap(),
        s("d41d8cd98f00b204e9800998ecf8427e")
    );
    assert_eq!(
        run("crypto.hmac.sha256", &[s("message"), s("key")]).unwrap(),
        s("6e9ef29b75fffc5b7abae527d58fdadb2fe42e7219011976917343065f58ed4a")
    );
    assert!(run("crypto.sha1", &[Value::from(1u64)]).is_err());
}

#[test]
fn hmac_equal_compares_whole_strings() {
    assert_eq!(
        run("crypto.hmac.equal", &[s("ab"), s("ab")]).unwrap(),
        Value::Bool(true)
    );
    assert_eq!(
        run("crypto.hmac.equal", &[s("ab"), s("abc")]).unwrap(),
        Value::Bool(false)
    );
}

#[test]
fn decode_verify_accepts_a_valid_token_and_checks_claims() {
    let fx = fixtures();
    let token = s(fx["tokens"]["HS256"].as_str().unwrap());
    let now = fx["now_ns"].as_u64().unwrap();
    let constraints = |aud: &str, time: u64| {
        Value::from_json_str(&format!(
            r#"{{"secret": "{}", "aud": "{aud}", "time": {time}}}"#,
            fx["secret"].as_str().unwrap()
        ))
        .unwrap()
    };

    let ok = run(
        "io.jwt.decode_verify",
        &[token.clone(), constraints("pdp", now)],
    )
    .unwrap();
    assert_eq!(ok[0], Value::Bool(true));
    assert_eq!(ok[2]["sub"], s("alice"));

    let wrong_aud = run(
        "io.jwt.decode_verify",
        &[token.clone(), constraints("web", now)],
    )
    .unwrap();
    assert_eq!(wrong_aud[0], Value::Bool(false));

    let expired = run(
        "io.jwt.decode_verify",
        &[token, constraints("pdp", now + 7_200_000_000_000)],
    )
    .unwrap();
    assert_eq!(expired[0], Value::Bool(false));
}

#[test]
fn decode_verify_fails_on_bad_constraints_and_malformed_tokens() {
    let secret = Value::from_json_str(r#"{"secret": "x"}"#).unwrap();
    assert!(run("io.jwt.decode_verify", &[s("not-a-token"), secret.clone()]).is_err());
    let unknown = Value::from_json_str(r#"{"secret": "x", "color": "red"}"#).unwrap();
    assert!(run("io.jwt.decode_verify", &[s("a.b.c"), unknown]).is_err());
    let none = Value::from_json_str("{}").unwrap();
    assert!(run("io.jwt.decode_verify", &[s("a.b.c"), none]).is_err());
}

#[test]
fn verify_builtins_answer_false_for_a_wrong_key() {
    let fx = fixtures();
    let token = s(fx["tokens"]["RS256"].as_str().unwrap());
    let right = s(fx["keys"]["rsa_pem"].as_str().unwrap());
    let wrong = s(fx["keys"]["ec256_pem"].as_str().unwrap());
    assert_eq!(
        run("io.jwt.verify_rs256", &[token.clone(), right]).unwrap(),
        Value::Bool(true)
    );
    assert_eq!(
        run("io.jwt.verify_rs256", &[token, wrong]).unwrap(),
        Value::Bool(false)
    );
    assert!(run("io.jwt.verify_rs256", &[s("x.y"), s("")]).is_err());
}

#[test]
fn cidr_builtins_follow_go_parsing() {
    let set =
        |items: &[&str]| Value::from_json_str(&serde_json::to_string(items).unwrap()).unwrap();
    let merged = run(
        "net.cidr_merge",
        &[set(&["10.0.0.0/25", "10.0.0.128/25", "10.0.1.0/24"])],
    )
    .unwrap();
    assert_eq!(
        merged,
        Value::from(std::collections::BTreeSet::from([s("10.0.0.0/23")]))
    );
    assert_eq!(
        run("net.cidr_intersects", &[s("10.0.0.0/8"), s("10.1.0.0/16")]).unwrap(),
        Value::Bool(true)
    );
    assert!(run("net.cidr_intersects", &[s("10.0.0.0"), s("10.1.0.0/16")]).is_err());
    let matches = run(
        "net.cidr_contains_matches",
        &[s("10.0.0.0/8"), set(&["10.1.1.1", "192.168.0.1"])],
    )
    .unwrap();
    assert_eq!(
        matches,
        Value::from(std::collections::BTreeSet::from([Value::from(vec![
            s("10.0.0.0/8"),
            Value::from(0u64)
        ])]))
    );
}

#[test]
fn a_failing_builtin_is_undefined_in_a_compiled_policy() {
    use crate::bundle::{Bundle, BundleFile, BundleFiles};
    use crate::decision::{CompiledPolicy, EngineConfig, RulePath};

    let policy = "package t\ndefault allow := false\nallow if io.jwt.decode(input.token)[1].sub == \"x\"\n\
                  bad := io.jwt.decode(input.token)\n";
    let files = BundleFiles::from_files(vec![BundleFile {
        path: "t.rego".into(),
        bytes: policy.as_bytes().to_vec(),
    }]);
    let bundle = Bundle::from_files(&files).unwrap();
    let allow = RulePath::parse("t/allow").unwrap();
    let bad = RulePath::parse("t/bad").unwrap();
    let compiled = CompiledPolicy::compile(
        &bundle,
        &[allow.clone(), bad.clone()],
        &EngineConfig::default(),
    )
    .unwrap();
    let input = Value::from_json_str(r#"{"token": "garbage"}"#).unwrap();
    assert_eq!(
        compiled.evaluate(&allow, input.clone()).unwrap(),
        Value::Bool(false)
    );
    assert_eq!(compiled.evaluate(&bad, input).unwrap(), Value::Undefined);
}
