//! `crypto.md5`, `crypto.sha1`, `crypto.sha256` and the `crypto.hmac.*`
//! family: lowercase hex digests of a string's UTF-8 bytes, as OPA returns.

use hmac::{KeyInit, Mac};
use regorus::Value;
use sha2::Digest;

use super::{Outcome, string_arg};

fn digest<D: Digest>(args: &[Value]) -> Outcome {
    let text = string_arg(args, 0)?;
    Ok(Value::from(hex::encode(D::digest(text.as_bytes()))))
}

pub(super) fn md5(args: &[Value]) -> Outcome {
    digest::<md5::Md5>(args)
}

pub(super) fn sha1(args: &[Value]) -> Outcome {
    digest::<sha1::Sha1>(args)
}

pub(super) fn sha256(args: &[Value]) -> Outcome {
    digest::<sha2::Sha256>(args)
}

/// `crypto.hmac.<hash>(message, key)`.
fn hmac_hex<M: Mac + KeyInit>(args: &[Value]) -> Outcome {
    let message = string_arg(args, 0)?;
    let key = string_arg(args, 1)?;
    // Any key length is valid for HMAC; the error arm cannot happen.
    let mut mac = <M as KeyInit>::new_from_slice(key.as_bytes())
        .map_err(|err| super::BuiltinError::new(err.to_string()))?;
    mac.update(message.as_bytes());
    Ok(Value::from(hex::encode(mac.finalize().into_bytes())))
}

pub(super) fn hmac_md5(args: &[Value]) -> Outcome {
    hmac_hex::<hmac::Hmac<md5::Md5>>(args)
}

pub(super) fn hmac_sha1(args: &[Value]) -> Outcome {
    hmac_hex::<hmac::Hmac<sha1::Sha1>>(args)
}

pub(super) fn hmac_sha256(args: &[Value]) -> Outcome {
    hmac_hex::<hmac::Hmac<sha2::Sha256>>(args)
}

pub(super) fn hmac_sha512(args: &[Value]) -> Outcome {
    hmac_hex::<hmac::Hmac<sha2::Sha512>>(args)
}

/// `crypto.hmac.equal(a, b)`: compares in time independent of where the
/// strings differ, as Go's `hmac.Equal` does.
pub(super) fn hmac_equal(args: &[Value]) -> Outcome {
    let a = string_arg(args, 0)?.as_bytes();
    let b = string_arg(args, 1)?.as_bytes();
    if a.len() != b.len() {
        return Ok(Value::Bool(false));
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    Ok(Value::Bool(difference == 0))
}
