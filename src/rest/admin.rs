//! EDGE: the admin listener (`[admin] listen`): read-only HTTP for
//! operators and monitoring, served by the same hardened connection loop
//! as the REST API (connection caps, header and lifetime timeouts).
//!
//! ```text
//!  GET /health                  200 while the process answers at all
//!  GET /ready                   200 {"ready":true} once every listener is bound, every
//!                               zone loaded and git takes commits; else 503 with
//!                               {"ready":false,"problems":[...]}
//!  GET /metrics                 Prometheus text (see crate::metrics)
//!  GET /v1/zones/{zone}/status  serial, file, last commit, secondaries (JSON)
//! ```
//!
//! No token: nothing here changes anything, and `[admin] listen` defaults
//! to loopback (the config warns when it is not). Zone names and serials
//! are what anyone may ask the DNS listener for; the secondaries' addresses
//! and the git authors are why it should stay on loopback or a management
//! network.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::metrics::Gauges;
use crate::notify_out::Notifier;
use crate::served::State;

/// What the handlers read.
pub struct Admin {
    state: Arc<State>,
    notifier: Option<Notifier>,
}

impl Admin {
    pub fn new(state: Arc<State>, notifier: Option<Notifier>) -> Admin {
        Admin { state, notifier }
    }
}

/// The admin routes; every other path is 404, every other method 405.
pub fn router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/zones/{zone}/status", get(zone_status))
        .fallback(not_found)
        .with_state(admin)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": "no such admin endpoint (GET /health, /ready, /metrics, /v1/zones/ZONE/status)"}),
    )
}

async fn health() -> Response {
    json_response(StatusCode::OK, &json!({"status": "alive"}))
}

/// Everything that keeps the server from doing its job now.
fn readiness(admin: &Admin) -> Vec<String> {
    let state = &admin.state;
    let mut problems = Vec::new();
    if !state.is_serving() {
        problems.push("the DNS listeners are not serving yet".to_string());
    }
    let served = state.snapshot();
    for z in &state.config().zones {
        if served.get(&z.name).is_none() {
            problems.push(format!("zone {} is not loaded", z.name));
        }
    }
    for (zone, why, serving_last_good) in state.failing() {
        let what = if serving_last_good {
            "serves its last good version"
        } else {
            "is not served"
        };
        problems.push(format!("zone {zone} {what}: {why}"));
    }
    match state.committer().map(|c| c.stats()) {
        Some((_, _, Some(why))) => problems.push(format!("git does not take commits: {why}")),
        Some(_) => {}
        None => problems.push("the git committer has not started".to_string()),
    }
    problems
}

async fn ready(Extract(admin): Extract<Arc<Admin>>) -> Response {
    let problems = readiness(&admin);
    if problems.is_empty() {
        json_response(StatusCode::OK, &json!({"ready": true}))
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"ready": false, "problems": problems}),
        )
    }
}

async fn metrics(Extract(admin): Extract<Arc<Admin>>) -> Response {
    let state = &admin.state;
    let mut gauges = Gauges {
        zones: state
            .snapshot()
            .iter()
            .map(|z| (z.origin().to_ascii(), z.serial()))
            .collect(),
        ..Gauges::default()
    };
    if let Some(n) = &admin.notifier {
        gauges.secondaries = n
            .all_secondaries()
            .into_iter()
            .map(|(z, s)| (z.to_ascii(), s.target, s.serial, s.lag.as_secs_f64()))
            .collect();
    }
    if let Some((made, refused, why)) = state.committer().map(|c| c.stats()) {
        gauges.commits = (made, refused);
        gauges.git_usable = why.is_none();
    }
    let text = state.metrics().encode(&gauges);
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// How many commits `/status` walks back (first parents) to find a zone's
/// last change.
const LAST_CHANGE_WALK: usize = 10_000;

/// The newest commit that changed the zone's file: id, author, time,
/// summary.
fn last_commit(admin: &Admin, file: &std::path::Path) -> Value {
    let repo = match git2::Repository::open(&admin.state.config().zones_dir) {
        Ok(r) => r,
        Err(e) => return json!({"error": e.message()}),
    };
    match crate::git::last_change(&repo, file, LAST_CHANGE_WALK) {
        Ok(Some((id, author, time, summary))) => json!({
            "id": id,
            "author": author,
            "time": time,
            "summary": summary,
        }),
        Ok(None) => Value::Null,
        Err(e) => json!({"error": e.to_string()}),
    }
}

async fn zone_status(Extract(admin): Extract<Arc<Admin>>, Path(zone): Path<String>) -> Response {
    let Some(name) = crate::config::parse_zone_name(&zone) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": format!("{zone:?} is not a domain name")}),
        );
    };
    let Some((file, failure)) = admin.state.zone_source(&name) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("zone {name} is not served")}),
        );
    };
    let served = admin.state.snapshot();
    let zone = served.get(&name);
    let serial = zone.map(|z| z.serial());
    let secondaries: Vec<Value> = admin
        .notifier
        .as_ref()
        .map(|n| n.secondaries(&name))
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            json!({
                "target": s.target,
                "serial": s.serial,
                "lag_seconds": round_ms(s.lag),
                "in_sync": serial.is_some() && s.serial == serial,
                "error": s.error,
            })
        })
        .collect();
    // The journal walks git: off the async threads.
    let a = admin.clone();
    let f = file.clone();
    let commit = tokio::task::spawn_blocking(move || last_commit(&a, &f))
        .await
        .unwrap_or(Value::Null);
    let body = json!({
        "zone": name.to_ascii(),
        "file": file.display().to_string(),
        "served": zone.is_some(),
        "serial": serial,
        "records": zone.map(|z| z.record_count() + 1),
        "error": failure,
        "pull_error": admin.state.pull_failure(&name),
        "last_commit": commit,
        "secondaries": secondaries,
        "time": unix(SystemTime::now()),
    });
    json_response(StatusCode::OK, &body)
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
