//! What each source reports in `/v1/status`, and how a read updates it.

use std::sync::Mutex;

use serde::Serialize;

use super::SourceRead;
use crate::metrics::Metrics;

/// What a source reports in `/v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceStatus {
    /// The source's name.
    pub name: String,
    /// `directory`, `bundle` or `git`.
    pub kind: &'static str,
    /// Path or URL (without credentials).
    pub location: String,
    /// What a Git source follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// The Git commit last read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// When the source was last read, successfully or not (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
    /// When it was last read without error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_successful_sync: Option<String>,
    /// The error of the last read, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Reads so far.
    pub syncs: u64,
    /// Reads that failed.
    pub errors: u64,
}

/// Updates a source's status and metrics after a read.
pub(super) fn record_read(
    name: &str,
    status: &Mutex<SourceStatus>,
    read: &Result<Option<SourceRead>, String>,
    metrics: &Metrics,
) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut status = status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    status.syncs += 1;
    status.last_sync = Some(now.clone());
    let outcome = match read {
        Ok(read) => {
            status.last_successful_sync = Some(now);
            status.last_error = None;
            if let Some(commit) = read.as_ref().and_then(|r| r.commit.clone()) {
                status.commit = Some(commit);
            }
            if read.is_some() {
                "changed"
            } else {
                "unchanged"
            }
        }
        Err(err) => {
            status.errors += 1;
            status.last_error = Some(err.clone());
            "error"
        }
    };
    metrics.record_sync(name, outcome);
}

/// A URL with any `user:password@` replaced, for status and logs.
pub(super) fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_leave_the_url() {
        assert_eq!(
            without_credentials("https://bot:s3cret@git.example/org/policies.git"),
            "https://***@git.example/org/policies.git"
        );
        assert_eq!(
            without_credentials("https://git.example/a@b"),
            "https://git.example/a@b"
        );
        assert_eq!(without_credentials("/srv/policies"), "/srv/policies");
    }
}
