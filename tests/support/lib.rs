//! Shared harness for the end-to-end tests: bundle folders on disk, the
//! service on ephemeral loopback ports, check requests shaped like those a
//! real Envoy sends, a minimal HTTP/1.1 client, and Git repositories.

pub mod bundles;
pub mod envoy;
pub mod git;
pub mod git_http;
pub mod http;
pub mod requests;
pub mod service;
