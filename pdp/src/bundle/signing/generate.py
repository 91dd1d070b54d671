#!/usr/bin/env python3
"""Writes testdata.json for the bundle signature tests.

An independent signer: keys from Python's `cryptography`, JWTs assembled by
hand, file hashes computed in OPA's canonical form (sorted keys, no spaces,
numbers as written). Run it again only to change the fixtures:

    python3 pdp/src/bundle/signing/generate.py
"""

import base64
import hashlib
import hmac
import json
import pathlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = pathlib.Path(__file__).parent

FILES = {
    ".manifest": '{"revision": "signed-1",\n "roots": ["envoy"]}\n',
    "envoy/authz/policy.rego": "package envoy.authz\n\nallow := true\n",
    "envoy/authz/data.json": '{"zeta": 1.0, "alpha": [true, null, "x"]}',
    "envoy/limits/data.yaml": "limit: 10\nname: acme\n",
}

HS_SECRET = "correct horse battery staple"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def canonical(path: str, text: str) -> bytes:
    name = path.rsplit("/", 1)[-1]
    if name in ("data.json", ".manifest"):
        # Numbers must keep their text: parse floats as their literal.
        value = json.loads(text, parse_float=lambda s: RawNumber(s), parse_int=lambda s: RawNumber(s))
        return encode(value).encode()
    if name == "data.yaml":
        # The fixture's YAML is simple: `key: value` lines.
        value = {}
        for line in text.splitlines():
            key, raw = line.split(": ", 1)
            value[key] = RawNumber(raw) if raw.isdigit() else raw
        return encode(value).encode()
    return text.encode()


class RawNumber(str):
    pass


def encode(value) -> str:
    if isinstance(value, RawNumber):
        return str(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: kv[0].encode())
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + encode(v) for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def file_list(algorithm="SHA-256"):
    digest = {"SHA-256": hashlib.sha256, "MD5": hashlib.md5, "SHA-512": hashlib.sha512}[algorithm]
    return [
        {"name": path, "hash": digest(canonical(path, text)).hexdigest(), "algorithm": algorithm}
        for path, text in sorted(FILES.items())
    ]


def token(alg: str, key, header_extra: dict, payload: dict) -> str:
    header = {"alg": alg, "typ": "JWT", **header_extra}
    signing_input = (b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())).encode()
    if alg == "HS256":
        signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    elif alg == "RS256":
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        raise ValueError(alg)
    return signing_input.decode() + "." + b64(signature)


def main():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def public_pem(key):
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    tokens = {
        "rs256_kid": token("RS256", rsa_key, {"kid": "rsa"}, {"files": file_list()}),
        "es256_kid": token("ES256", ec_key, {"kid": "ec"}, {"files": file_list("SHA-512")}),
        "hs256_kid_scoped": token("HS256", HS_SECRET.encode(), {"kid": "hmac"}, {"files": file_list("MD5"), "scope": "write"}),
        "rs256_no_kid": token("RS256", rsa_key, {}, {"files": file_list()}),
        "rs256_payload_keyid": token("RS256", rsa_key, {}, {"files": file_list(), "keyid": "rsa"}),
        "rs256_other_key": token("RS256", other_rsa, {"kid": "rsa"}, {"files": file_list()}),
        "rs256_missing_file": token("RS256", rsa_key, {"kid": "rsa"}, {"files": file_list()[1:]}),
        "rs256_extra_file": token(
            "RS256", rsa_key, {"kid": "rsa"},
            {"files": file_list() + [{"name": "gone.rego", "hash": "00", "algorithm": "SHA-256"}]},
        ),
    }
    data = {
        "files": FILES,
        "keys": {"rsa": public_pem(rsa_key), "ec": public_pem(ec_key), "hmac": HS_SECRET},
        "tokens": tokens,
    }
    (HERE / "testdata.json").write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
