//! Shared harness for the end-to-end tests: bundle folders on disk, the
//! service on ephemeral loopback ports (alone, or with edge-case tenants and
//! a client), check requests shaped like those a real Envoy sends, a minimal
//! HTTP/1.1 client, and Git repositories.

pub mod bundles;
pub mod envoy;
pub mod fixture;
pub mod git;
pub mod git_http;
pub mod http;
pub mod requests;
pub mod service;
