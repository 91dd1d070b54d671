//! Compiles the descriptors of Envoy's external authorization API from
//! `proto/` into a descriptor set for gRPC server reflection (see
//! `proto/README.md`). `protox` is a pure-Rust protobuf compiler, so the
//! build needs no `protoc`.

use std::{env, error::Error, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let proto = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    println!("cargo:rerun-if-changed={}", proto.display());

    let descriptors = protox::compile(["envoy/service/auth/v3/external_auth.proto"], [&proto])?;
    let encoded = prost::Message::encode_to_vec(&descriptors);
    let out = PathBuf::from(env::var("OUT_DIR")?).join("ext_authz_descriptors.bin");
    fs::write(out, encoded)?;
    Ok(())
}
