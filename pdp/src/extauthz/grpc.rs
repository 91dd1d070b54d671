//! The `envoy.service.auth.v3.Authorization` gRPC service, served by
//! tonic with a codec of our own.
//!
//! The server `tonic` would generate decodes with prost alone; this one
//! decodes requests through [`super::wire`], which keeps the headers out of
//! a hash map, answers `Check` straight from [`CheckService`], with no
//! `async_trait` future in between, and encodes the answer's metadata
//! without building protobuf's `Struct` (see [`Answer::encode`]). Framing,
//! status codes and the message size limit are tonic's.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
};

use prost::bytes::Buf;
use tonic::{
    Status,
    body::Body,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::{BoxFuture, Service, StdError, http},
    server::{Grpc, NamedService, UnaryService},
};

use super::{
    CheckService,
    response::Answer,
    wire::{self, WireCheck},
};

/// The one method served.
const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// The Authorization service for tonic's router.
#[derive(Debug, Clone)]
pub struct AuthorizationService {
    check: CheckService,
    max_decoding_message_size: usize,
}

impl AuthorizationService {
    /// Serves `check`, refusing requests larger than
    /// `max_decoding_message_size` bytes.
    pub fn new(check: CheckService, max_decoding_message_size: usize) -> Self {
        Self {
            check,
            max_decoding_message_size,
        }
    }
}

impl NamedService for AuthorizationService {
    const NAME: &'static str = "envoy.service.auth.v3.Authorization";
}

impl<B> Service<http::Request<B>> for AuthorizationService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != CHECK_PATH {
            return Box::pin(ready(Ok(Status::unimplemented("").into_http())));
        }
        let check = Check(self.check.clone());
        let limit = self.max_decoding_message_size;
        Box::pin(async move {
            let mut grpc = Grpc::new(WireCodec).max_decoding_message_size(limit);
            Ok(grpc.unary(check, request).await)
        })
    }
}

/// `Check`, answered synchronously: a decision never waits.
struct Check(CheckService);

impl UnaryService<WireCheck> for Check {
    type Response = Answer;
    type Future = Ready<Result<tonic::Response<Answer>, Status>>;

    fn call(&mut self, request: tonic::Request<WireCheck>) -> Self::Future {
        ready(
            self.0
                .decide_wire(request.get_ref())
                .map(tonic::Response::new),
        )
    }
}

/// Decodes with [`wire::decode`], encodes with [`Answer::encode`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WireCodec;

impl Codec for WireCodec {
    type Encode = Answer;
    type Decode = WireCheck;
    type Encoder = WireCodec;
    type Decoder = WireCodec;

    fn encoder(&mut self) -> Self::Encoder {
        WireCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        WireCodec
    }
}

impl Encoder for WireCodec {
    type Item = Answer;
    type Error = Status;

    fn encode(&mut self, item: Answer, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // The buffer grows as needed: encoding cannot fail.
        item.encode(dst);
        Ok(())
    }
}

impl Decoder for WireCodec {
    type Item = WireCheck;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<WireCheck>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        wire::decode(&bytes)
            .map(Some)
            .map_err(|err| Status::internal(format!("cannot decode the check request: {err}")))
    }
}
