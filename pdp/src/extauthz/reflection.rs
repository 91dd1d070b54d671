//! gRPC server reflection for the ext_authz and health services, so that
//! `grpcurl` and friends can list them and build check requests by hand.
//! The descriptors are compiled from `proto/` by the build script.

use tonic_reflection::server::{
    v1::{ServerReflection, ServerReflectionServer},
    v1alpha::{
        ServerReflection as ServerReflectionV1Alpha,
        ServerReflectionServer as ServerReflectionServerV1Alpha,
    },
};

/// The encoded `FileDescriptorSet` of `envoy.service.auth.v3`.
pub const DESCRIPTORS: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ext_authz_descriptors.bin"));

/// Why reflection could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot build gRPC reflection: {0}")]
pub struct ReflectionError(#[from] tonic_reflection::server::Error);

fn builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(DESCRIPTORS)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// The `grpc.reflection.v1` service.
pub fn v1() -> Result<ServerReflectionServer<impl ServerReflection>, ReflectionError> {
    Ok(builder().build_v1()?)
}

/// The `grpc.reflection.v1alpha` service, which older clients still use.
pub fn v1alpha()
-> Result<ServerReflectionServerV1Alpha<impl ServerReflectionV1Alpha>, ReflectionError> {
    Ok(builder().build_v1alpha()?)
}

#[cfg(test)]
mod tests;
