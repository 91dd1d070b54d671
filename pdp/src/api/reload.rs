//! Reload triggers over HTTP.
//!
//! - `POST /v1/reload` (every source) and `POST /v1/reload/{source}`: for
//!   operators, with `Authorization: Bearer <token>`. The config holds only
//!   the token's SHA-256; the presented token is hashed and the two hashes
//!   compared in constant time. `?wait=true` answers once a sync that
//!   started after the request has finished, with the sources' status.
//! - `POST /v1/webhooks/{source}`: for Git hosts. GitHub deliveries are
//!   checked against `X-Hub-Signature-256` (HMAC-SHA256 of the body), GitLab
//!   ones against `X-Gitlab-Token`; both comparisons are constant-time. A
//!   push to a ref the source does not follow is acknowledged and ignored.
//!
//! Triggers never queue: requests that arrive while a source syncs give
//! one more sync (see [`crate::source::trigger`]).

use std::{collections::HashMap, time::Duration};

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use hmac::{KeyInit, Mac};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiState;
use crate::config::GitPin;

/// Longest a `?wait=true` request waits for its sync.
const WAIT_LIMIT: Duration = Duration::from_secs(300);

pub(super) async fn reload_all(
    State(state): State<ApiState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    manual_reload(state, None, &params, &headers).await
}

pub(super) async fn reload_one(
    State(state): State<ApiState>,
    Path(source): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    manual_reload(state, Some(&source), &params, &headers).await
}

async fn manual_reload(
    state: ApiState,
    source: Option<&str>,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let Some(expected) = state.admin_token_sha256 else {
        return error(
            StatusCode::FORBIDDEN,
            "reload_disabled",
            "manual reload is off: set `reload.admin_token_sha256`",
        );
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let authorised = presented.is_some_and(|token| {
        let hash: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        bool::from(hash.ct_eq(&expected))
    });
    if !authorised {
        tracing::warn!(
            source = source.unwrap_or("*"),
            "manual reload refused: bad or missing token"
        );
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin bearer token is required",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }

    let Some(reloader) = state.reloader else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no sources are configured",
        );
    };
    let Some(tickets) = reloader.trigger(source) else {
        let message = format!("no source named `{}`", source.unwrap_or_default());
        return error(StatusCode::NOT_FOUND, "not_found", &message);
    };
    tracing::info!(source = source.unwrap_or("*"), "manual reload requested");

    let wait = params
        .get("wait")
        .is_some_and(|v| v.is_empty() || v == "true");
    if !wait {
        return (StatusCode::ACCEPTED, Json(json!({"triggered": true}))).into_response();
    }
    if tokio::time::timeout(WAIT_LIMIT, reloader.served(&tickets))
        .await
        .is_err()
    {
        return error(
            StatusCode::GATEWAY_TIMEOUT,
            "reload_timeout",
            "the reload did not finish in time; it goes on in the background",
        );
    }
    let sources: Vec<_> = reloader
        .status()
        .into_iter()
        .filter(|s| source.is_none_or(|name| s.name == name))
        .collect();
    Json(json!({"result": {"sources": sources}})).into_response()
}

pub(super) async fn webhook(
    State(state): State<ApiState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(reloader) = state.reloader else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no sources are configured",
        );
    };
    let Some((config, pin)) = reloader.webhook(&source) else {
        let message = format!("source `{source}` takes no webhooks");
        return error(StatusCode::NOT_FOUND, "not_found", &message);
    };

    let verdict = if let Some(signature) = header_str(&headers, "x-hub-signature-256") {
        match &config.github_secret {
            Some(secret) => match secret.read() {
                Ok(secret) => github_signature_valid(&secret, &body, signature),
                Err(err) => return secret_unreadable(&source, &err),
            },
            None => false,
        }
    } else if let Some(token) = header_str(&headers, "x-gitlab-token") {
        match &config.gitlab_token {
            Some(secret) => match secret.read() {
                Ok(secret) => tokens_equal(&secret, token.as_bytes()),
                Err(err) => return secret_unreadable(&source, &err),
            },
            None => false,
        }
    } else {
        false
    };
    if !verdict {
        tracing::warn!(source, "webhook refused: missing or invalid signature");
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid webhook signature",
        );
    }

    let event = header_str(&headers, "x-github-event")
        .or_else(|| header_str(&headers, "x-gitlab-event"))
        .unwrap_or("");
    if event == "ping" {
        return Json(json!({"triggered": false, "reason": "ping"})).into_response();
    }
    if let Some(reason) = ignored_ref(&body, &pin) {
        tracing::debug!(source, reason, "webhook ignored");
        return (
            StatusCode::ACCEPTED,
            Json(json!({"triggered": false, "reason": reason})),
        )
            .into_response();
    }
    reloader.trigger(Some(&source));
    tracing::info!(source, event, "webhook accepted; fetching");
    (StatusCode::ACCEPTED, Json(json!({"triggered": true}))).into_response()
}

/// GitHub's `sha256=<hex>` over the raw body.
fn github_signature_valid(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(signature) = header
        .strip_prefix("sha256=")
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
    else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Compares two secrets in constant time, through their hashes so that even
/// their lengths do not leak.
fn tokens_equal(expected: &[u8], presented: &[u8]) -> bool {
    let a: [u8; 32] = Sha256::digest(expected).into();
    let b: [u8; 32] = Sha256::digest(presented).into();
    bool::from(a.ct_eq(&b))
}

/// Why a push event does not concern the source, if it does not: it moved
/// another branch or tag, or the source is pinned to a commit.
fn ignored_ref(body: &[u8], pin: &GitPin) -> Option<String> {
    let pushed = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("ref").and_then(|r| r.as_str()).map(str::to_owned));
    let followed = match pin {
        GitPin::Commit(_) => return Some("the source is pinned to a commit".to_owned()),
        GitPin::Branch(b) => format!("refs/heads/{b}"),
        GitPin::Tag(t) => format!("refs/tags/{t}"),
    };
    match pushed {
        Some(pushed) if pushed != followed => Some(format!(
            "push to `{pushed}`; the source follows `{followed}`"
        )),
        _ => None,
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn secret_unreadable(source: &str, err: &crate::config::ConfigError) -> Response {
    tracing::error!(source, error = %err, "cannot read webhook secret");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the webhook secret cannot be read",
    )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"code": code, "message": message}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_signatures_are_checked_against_the_body() {
        let secret = b"It's a Secret to Everybody";
        let body = b"Hello, World!";
        // The example from GitHub's documentation on validating deliveries.
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(github_signature_valid(secret, body, good));
        assert!(!github_signature_valid(secret, b"Hello, World?", good));
        assert!(!github_signature_valid(b"another secret", body, good));
        assert!(!github_signature_valid(secret, body, "sha1=757107ea"));
        assert!(!github_signature_valid(secret, body, "sha256=zz"));
    }

    #[test]
    fn pushes_to_other_refs_are_ignored() {
        let main = GitPin::Branch("main".to_owned());
        assert_eq!(ignored_ref(br#"{"ref": "refs/heads/main"}"#, &main), None);
        assert!(ignored_ref(br#"{"ref": "refs/heads/dev"}"#, &main).is_some());
        assert_eq!(ignored_ref(b"not json", &main), None);
        let tag = GitPin::Tag("v1".to_owned());
        assert_eq!(ignored_ref(br#"{"ref": "refs/tags/v1"}"#, &tag), None);
        assert!(ignored_ref(br#"{"ref": "refs/heads/v1"}"#, &tag).is_some());
    }

    #[test]
    fn tokens_compare_by_value() {
        assert!(tokens_equal(b"token", b"token"));
        assert!(!tokens_equal(b"token", b"token2"));
        assert!(!tokens_equal(b"token", b""));
    }
}
