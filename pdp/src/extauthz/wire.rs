//! Decoding a `CheckRequest` off the wire, with the headers kept out of a
//! hash map.
//!
//! prost decodes Envoy's `headers` field (`map<string, string>`) into a
//! `HashMap` keyed with SipHash and grown one insert at a time, which costs
//! more instructions than the policy decision itself. The service only
//! looks headers up by name and copies them into the input, so the decoder
//! lifts the map's entries out of the encoded message first, into one
//! buffer, and lets prost decode the rest. Every other field is
//! exactly what prost would have produced, and whenever the bytes are not
//! what the lifting walk expects, the whole message is decoded by prost
//! instead, so the two can differ in speed only, never in outcome.

#[cfg(test)]
mod tests;

use envoy_types::pb::envoy::service::auth::v3::CheckRequest;
use prost::Message;

/// A request as the gRPC server decoded it.
#[derive(Debug, Default)]
pub struct WireCheck {
    /// The request. Its `headers` map is empty when the headers were lifted.
    pub request: CheckRequest,
    /// The headers lifted out of the map, or `None` when prost decoded the
    /// map itself (into `request`).
    pub headers: Option<HeaderList>,
}

/// Entries of Envoy's `headers` map in wire order, names and values in one
/// buffer. A map names each header once; should the encoding name one
/// twice, the later entry wins, as it does in a map decoded by prost.
///
/// Lookups scan the list: Envoy admits 100 request headers by default, the
/// service looks up a handful per request, and comparing lengths first
/// rejects almost every entry at once, which is cheaper than sorting the
/// list or hashing its names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    /// Every name and value, one after another.
    text: String,
    /// Where each entry's name starts, where its value starts, and where
    /// the value ends, in `text`.
    entries: Vec<[usize; 3]>,
}

impl HeaderList {
    /// Every entry in wire order, later ones overriding earlier ones of
    /// the same name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|&[name, value, end]| (&self.text[name..value], &self.text[value..end]))
    }

    /// The value of header `name`: the last entry of that name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|&&[start, value, _]| &self.text[start..value] == name)
            .map(|&[_, value, end]| &self.text[value..end])
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Decodes an encoded `CheckRequest`, lifting the headers map out when the
/// bytes allow it. The error is prost's, for bytes prost cannot decode.
pub fn decode(bytes: &[u8]) -> Result<WireCheck, prost::DecodeError> {
    let mut rest = Vec::with_capacity(bytes.len());
    let mut headers = Lifted::for_message(bytes.len());
    if lift(bytes, 0, &mut rest, &mut headers).is_ok()
        && let (Ok(headers), Ok(request)) =
            (headers.finish(), CheckRequest::decode(rest.as_slice()))
    {
        return Ok(WireCheck {
            request,
            headers: Some(headers),
        });
    }
    Ok(WireCheck {
        request: CheckRequest::decode(bytes)?,
        headers: None,
    })
}

/// Field numbers from `CheckRequest` down to `HttpRequest`:
/// `CheckRequest.attributes`, `AttributeContext.request`, `Request.http`.
const PATH: [u64; 3] = [1, 4, 2];

/// `HttpRequest.headers`.
const HEADERS: u64 = 3;

/// Protobuf wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;
const FIXED32: u64 = 5;

/// The bytes are not what the walk handles; prost decodes them instead.
#[derive(Debug)]
struct Unexpected;

/// Names and values as lifted, before they are checked to be UTF-8.
struct Lifted {
    bytes: Vec<u8>,
    entries: Vec<[usize; 3]>,
}

impl Lifted {
    /// Room for the entries of a message of `size` bytes: the names and
    /// values are part of it, so they fit in its size.
    fn for_message(size: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(size),
            entries: Vec::with_capacity(32),
        }
    }

    fn push(&mut self, name: &[u8], value: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(name);
        self.bytes.extend_from_slice(value);
        self.entries
            .push([start, start + name.len(), self.bytes.len()]);
    }

    /// The list, if every name and value is UTF-8. One check of the whole
    /// buffer is much cheaper than one per string; each string is then
    /// valid exactly when the buffer is and every string boundary falls
    /// between two characters.
    fn finish(self) -> Result<HeaderList, Unexpected> {
        let text = String::from_utf8(self.bytes).map_err(|_| Unexpected)?;
        let boundaries = self
            .entries
            .iter()
            .flat_map(|&[_, value, end]| [value, end]);
        if !boundaries.into_iter().all(|at| text.is_char_boundary(at)) {
            return Err(Unexpected);
        }
        Ok(HeaderList {
            text,
            entries: self.entries,
        })
    }
}

/// Copies the message at `depth` on [`PATH`] into `out`, minus the headers
/// map's entries, which go to `headers`.
fn lift(
    mut message: &[u8],
    depth: usize,
    out: &mut Vec<u8>,
    headers: &mut Lifted,
) -> Result<(), Unexpected> {
    while !message.is_empty() {
        let field_start = message;
        let key = varint(&mut message)?;
        let (number, wire_type) = (key >> 3, key & 7);
        match wire_type {
            VARINT => {
                varint(&mut message)?;
            }
            FIXED64 => {
                take(&mut message, 8)?;
            }
            FIXED32 => {
                take(&mut message, 4)?;
            }
            LENGTH_DELIMITED => {
                let length = usize::try_from(varint(&mut message)?).map_err(|_| Unexpected)?;
                let payload = take(&mut message, length)?;
                if depth < PATH.len() && number == PATH[depth] {
                    let mut inner = Vec::with_capacity(payload.len());
                    lift(payload, depth + 1, &mut inner, headers)?;
                    put_varint(out, key);
                    put_varint(out, inner.len() as u64);
                    out.extend_from_slice(&inner);
                    continue;
                }
                if depth == PATH.len() && number == HEADERS {
                    let (name, value) = map_entry(payload)?;
                    headers.push(name, value);
                    continue;
                }
            }
            // Groups are not proto3; prost decides what they mean.
            _ => return Err(Unexpected),
        }
        let length = field_start.len() - message.len();
        out.extend_from_slice(&field_start[..length]);
    }
    Ok(())
}

/// One map entry: `key` is field 1, `value` field 2, both strings that
/// default to empty; a repeated field keeps its last value.
fn map_entry(mut entry: &[u8]) -> Result<(&[u8], &[u8]), Unexpected> {
    let (mut key, mut value) = (&[][..], &[][..]);
    while !entry.is_empty() {
        let tag = varint(&mut entry)?;
        if tag & 7 != LENGTH_DELIMITED || !(1..=2).contains(&(tag >> 3)) {
            return Err(Unexpected);
        }
        let length = usize::try_from(varint(&mut entry)?).map_err(|_| Unexpected)?;
        let bytes = take(&mut entry, length)?;
        if tag >> 3 == 1 {
            key = bytes;
        } else {
            value = bytes;
        }
    }
    Ok((key, value))
}

fn varint(bytes: &mut &[u8]) -> Result<u64, Unexpected> {
    // Tags and short lengths take one byte.
    if let Some((&byte, rest)) = bytes.split_first()
        && byte < 0x80
    {
        *bytes = rest;
        return Ok(u64::from(byte));
    }
    let mut value = 0_u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        // The tenth byte holds bit 63 only; prost refuses anything more.
        if i == 9 && byte > 1 {
            return Err(Unexpected);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Ok(value);
        }
    }
    Err(Unexpected)
}

fn take<'a>(bytes: &mut &'a [u8], length: usize) -> Result<&'a [u8], Unexpected> {
    if bytes.len() < length {
        return Err(Unexpected);
    }
    let (taken, rest) = bytes.split_at(length);
    *bytes = rest;
    Ok(taken)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}
