//! Compact JWS serialization: `header.payload.signature`, each base64url.
//!
//! Decoding is as lenient as OPA's (and Go's default decoder): padding may be
//! present or absent, unused trailing bits are ignored, and line breaks
//! inside a part are skipped.

use base64::{
    Engine as _, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};

use super::JoseError;

const LENIENT_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes base64url text with or without padding. `None` when it is not
/// base64url (including a length that no encoding produces).
pub fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    let cleaned: String;
    let text = if text.contains(['\r', '\n']) {
        cleaned = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        &cleaned
    } else {
        text
    };
    if !text.ends_with('=') && text.len() % 4 == 1 {
        return None;
    }
    LENIENT_URL.decode(text).ok()
}

/// A compact JWS split into its three parts; nothing is verified yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactJws<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    signing_input: &'a str,
}

impl<'a> CompactJws<'a> {
    /// Splits `token` into exactly three dot-separated parts.
    pub fn parse(token: &'a str) -> Result<Self, JoseError> {
        if !token.contains('.') {
            return Err(JoseError::Malformed("no period separators".into()));
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts[..] else {
            return Err(JoseError::Malformed(format!(
                "expected 3 sections, found {}",
                parts.len()
            )));
        };
        let signing_input = &token[..header.len() + 1 + payload.len()];
        Ok(Self {
            header,
            payload,
            signature,
            signing_input,
        })
    }

    /// The encoded header, as in the token.
    pub fn header_b64(&self) -> &'a str {
        self.header
    }

    /// The encoded payload, as in the token.
    pub fn payload_b64(&self) -> &'a str {
        self.payload
    }

    /// The bytes the signature covers: `header.payload` as encoded.
    pub fn signing_input(&self) -> &'a [u8] {
        self.signing_input.as_bytes()
    }

    /// The decoded header bytes.
    pub fn header(&self) -> Result<Vec<u8>, JoseError> {
        decode_base64url(self.header).ok_or(JoseError::Base64 { part: "header" })
    }

    /// The decoded header as a JSON object.
    pub fn header_json(&self) -> Result<serde_json::Map<String, serde_json::Value>, JoseError> {
        let bytes = self.header()?;
        match serde_json::from_slice(&bytes) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            Ok(_) => Err(JoseError::Json {
                part: "header",
                reason: "not an object".into(),
            }),
            Err(err) => Err(JoseError::Json {
                part: "header",
                reason: err.to_string(),
            }),
        }
    }

    /// The decoded payload bytes.
    pub fn payload(&self) -> Result<Vec<u8>, JoseError> {
        decode_base64url(self.payload).ok_or(JoseError::Base64 { part: "payload" })
    }

    /// The decoded signature bytes.
    pub fn signature(&self) -> Result<Vec<u8>, JoseError> {
        decode_base64url(self.signature).ok_or(JoseError::Base64 { part: "signature" })
    }
}
