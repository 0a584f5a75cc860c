//! The REST API's HTTP edge: routes, access control, JSON in and out, and
//! the store call. Everything about services themselves is in
//! [`super::service`] (PURE); this file only turns HTTP into those calls.
//!
//! Order of checks on every request (dynresolve's codes):
//!
//! 1. client address outside `[rest] allow`: the connection was closed at
//!    accept, unread (see [`super::Server::run`]);
//! 2. unknown path → 404, wrong method → 405 (JSON bodies); then a
//!    transfer coding other than `chunked` (once) → 501, or 400 for
//!    `chunked` twice, the token unchecked
//!    ([`super::body::transfer_coding`]; hyper itself answers 400 when the
//!    last coding is not `chunked`, or Content-Length is given twice with
//!    different values);
//! 3. a source that used its `[rest] auth_failures` this minute → 429 +
//!    Retry-After, the token unchecked ([`super::throttle`]);
//! 4. `Authorization: Bearer <token>`, compared in constant time against
//!    every configured token → 401 when missing or wrong, counted as a
//!    failure of the source (`/v1/openapi.json` is the one path served
//!    without a token);
//! 5. writes only: the source's bucket (`source_rate_limit`), then the
//!    token's own (`rate_limit`; tokens do not share) → 429 + Retry-After;
//! 6. the body, for the requests that take one: a Content-Type other than
//!    JSON (or a Content-Encoding other than `identity`, in any of its
//!    lines) → 415, Content-Type given twice → 400, before a byte of it is
//!    read (no Content-Type is read as JSON; see
//!    [`super::body::media_type`]); a Content-Length over 1 MB (10 MB for
//!    `/v1/state`) → 413 at once, unread; not all there within
//!    `body_timeout` → 408; a chunked body growing over the limit → 413
//!    (the connection closed after each of these three, once what is left
//!    of the body was read and dropped: [`super::linger`]); bad JSON, a key
//!    given twice, an unknown field or a bad value → 400 with
//!    `{"error": "..."}` naming the field, nothing written. Every field a GET answers is accepted back (GET-modify-PUT);
//!    see [`super::body`];
//! 7. the token's zones → 403; then the store write, whose change set must
//!    lie in the token's `names` (checked inside `compute`, so on the zone
//!    as it is when written) → 403 naming the record. A 2xx is sent only
//!    after [`Store::write`] returned, i.e. once the change is durable.
//!
//! A 5xx body says what failed in words; paths and file contents go to
//! the log only. Request data in log lines (names, values, paths) is
//! written with `Debug` (`?`), quoted and escaped, so a value holding a
//! newline cannot forge a second log line.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{self, BodyError};
use subtle::ConstantTimeEq;
use tracing::{error, info};

use super::ClientAddr;
use super::service::{self, Error as SvcError, Service, Wanted};
use super::throttle::AuthThrottle;
use crate::config::RestConfig;
use crate::config::rest::Token;
use crate::edge::guard::{Noise, RejectLog};
use crate::edge::sources::Source;
use crate::rr::{Name, RecordType};
use crate::served::State as ServerState;
use crate::store::{Store, WriteError, WriteOutcome, WriteRequest};

/// Largest request body, except for `/v1/state`.
pub const BODY_LIMIT: usize = 1 << 20;
/// Largest `/v1/state` body.
pub const STATE_BODY_LIMIT: usize = 10 << 20;

/// The message of a 413.
const TOO_LARGE: &str = "request body too large (1 MB at most; 10 MB for /v1/state)";

/// The OpenAPI 3 document of this API (kept true by a test).
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// Every route: path (axum syntax) and its methods. The router is built
/// from this table, and the OpenAPI test checks it against the document.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/v1/openapi.json", &["GET"]),
    ("/v1/services", &["GET"]),
    ("/v1/services/{name}", &["GET", "PUT", "DELETE"]),
    ("/v1/services/{name}/records", &["POST", "DELETE"]),
    ("/v1/state", &["PUT"]),
    ("/v1/zones/{zone}/services", &["GET"]),
    (
        "/v1/zones/{zone}/services/{name}",
        &["GET", "PUT", "DELETE"],
    ),
    (
        "/v1/zones/{zone}/services/{name}/records",
        &["POST", "DELETE"],
    ),
    ("/v1/zones/{zone}/state", &["PUT"]),
    ("/v1/git/sync", &["POST"]),
];

/// Sources tracked by the per-source write limiter before idle ones are
/// forgotten (`retain_recent`).
const SOURCE_LIMITER_SWEEP: usize = 4096;

/// What the handlers share.
pub struct Api {
    config: RestConfig,
    state: Arc<ServerState>,
    store: Arc<Store>,
    /// The write rate limits of the config in effect (rebuilt when a
    /// reload changes `[rest] rate_limit` or `source_rate_limit`).
    limits: arc_swap::ArcSwap<WriteLimits>,
    /// Failed authentications per source and minute.
    auth_throttle: Option<AuthThrottle>,
    /// Sampled logging of failed authentications.
    auth_log: RejectLog,
}

impl Api {
    pub fn new(config: RestConfig, state: Arc<ServerState>, store: Arc<Store>) -> Api {
        Api {
            limits: arc_swap::ArcSwap::from_pointee(WriteLimits::new(
                config.rate_limit,
                config.source_rate_limit,
            )),
            auth_throttle: config.auth_failures.map(AuthThrottle::new),
            auth_log: RejectLog::default(),
            config,
            state,
            store,
        }
    }
}

/// The caller, once authenticated.
#[derive(Clone)]
struct Caller {
    token: Token,
    client: std::net::SocketAddr,
}

/// An error answer: status and `{"error": message}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.0, axum::Json(json!({ "error": self.1 }))).into_response();
        if matches!(
            self.0,
            StatusCode::REQUEST_TIMEOUT
                | StatusCode::PAYLOAD_TOO_LARGE
                | StatusCode::NOT_IMPLEMENTED
        ) {
            // The rest of the body (stalled, too large, or in a coding not
            // understood) is not read: hyper closes the connection after
            // this answer.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

impl From<SvcError> for ApiError {
    fn from(e: SvcError) -> ApiError {
        match e {
            SvcError::Invalid(m) => ApiError(StatusCode::BAD_REQUEST, m),
            SvcError::Forbidden(m) => ApiError(StatusCode::FORBIDDEN, m),
            SvcError::NotFound(m) => ApiError(StatusCode::NOT_FOUND, m),
            SvcError::Conflict(m) => ApiError(StatusCode::CONFLICT, m),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> ApiError {
        match e {
            BodyError::Unsupported(m) => ApiError(StatusCode::UNSUPPORTED_MEDIA_TYPE, m),
            BodyError::Invalid(m) => ApiError(StatusCode::BAD_REQUEST, m),
            BodyError::NotImplemented(m) => ApiError(StatusCode::NOT_IMPLEMENTED, m),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> ApiError {
        let status = r.status();
        let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
            TOO_LARGE.to_string()
        } else {
            r.body_text()
        };
        ApiError(status, msg)
    }
}

type ApiResult = Result<Response, ApiError>;

/// The router over `api`, built from [`ROUTES`].
pub fn router(api: Arc<Api>) -> Router {
    let mut r = Router::new();
    for (path, methods) in ROUTES {
        r = r.route(path, method_router(path, methods));
    }
    r.route_layer(middleware::from_fn_with_state(api.clone(), authenticate))
        .route_layer(middleware::from_fn(mark_route))
        .layer(middleware::from_fn(framing))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such path".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this path".into(),
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(super::linger::layer))
        .layer(middleware::from_fn_with_state(api.clone(), count))
        .with_state(api)
}

/// The route pattern a request matched, passed out on its response for
/// [`count`] (which runs before routing and cannot see it).
#[derive(Clone)]
struct RouteLabel(String);

/// The route pattern as soon as routing matched one, for [`count`] to
/// read when the request ends without a response (the client hung up).
#[derive(Clone, Default)]
struct RouteSlot(Arc<std::sync::OnceLock<String>>);

async fn mark_route(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned());
    if let (Some(r), Some(slot)) = (&route, req.extensions().get::<RouteSlot>()) {
        let _ = slot.0.set(r.clone());
    }
    let mut response = next.run(req).await;
    if let Some(r) = route {
        response.extensions_mut().insert(RouteLabel(r));
    }
    response
}

/// `zonewright_rest_requests_total{route,status}`: by route pattern, never
/// the path asked for (`unmatched` for paths no route has). A request
/// whose client hung up before its answer is counted with status 499
/// (nginx's "client closed request"; round 28: such requests were not
/// counted at all).
async fn count(State(api): State<Arc<Api>>, mut req: Request, next: Next) -> Response {
    let slot = RouteSlot::default();
    req.extensions_mut().insert(slot.clone());
    let mut unanswered = Unanswered {
        api: Some(api.clone()),
        slot,
    };
    let response = next.run(req).await;
    unanswered.api = None;
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or("unmatched", |r| r.0.as_str());
    api.state.metrics().rest(route, response.status().as_u16());
    response
}

/// Counts its request as hung up (status 499) when dropped before the
/// response came (`api` still set): hyper drops a request's future when
/// its connection closes.
struct Unanswered {
    api: Option<Arc<Api>>,
    slot: RouteSlot,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(api) = self.api.take() {
            let route = self.slot.0.get().map_or("unmatched", String::as_str);
            api.state.metrics().rest(route, CLIENT_CLOSED);
        }
    }
}

/// The status a request is counted with when its client hung up first.
const CLIENT_CLOSED: u16 = 499;

/// A handler panicked (a bug in zonewright): 500 for this request only; the
/// server and every other request go on. Nothing was written, or the store
/// finished its write before answering.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    error!("a REST request handler panicked (this is a bug in zonewright)");
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error (a bug in zonewright; see the server log)".into(),
    )
    .into_response()
}

fn method_router(path: &str, methods: &[&str]) -> MethodRouter<Arc<Api>> {
    // The short routes and their /v1/zones/{zone}/... twins share handlers:
    // a `Target` says which zone (if any) and name the path gave.
    let records = path.ends_with("/records");
    let mut m: MethodRouter<Arc<Api>> = MethodRouter::new();
    for method in methods {
        m = match (path, *method) {
            ("/v1/openapi.json", _) => m.get(openapi),
            ("/v1/git/sync", _) => m.post(git_sync),
            (p, "PUT") if p.ends_with("/state") => m
                .put(replace_state)
                .layer(DefaultBodyLimit::max(STATE_BODY_LIMIT)),
            (p, _) if p.ends_with("/services") => m.get(list),
            (_, "POST") if records => m.post(add),
            (_, "DELETE") if records => m.delete(remove),
            (_, "GET") => m.get(get_one),
            (_, "PUT") => m.put(put_one),
            (_, _) => m.delete(delete_one),
        };
    }
    m
}

/// Before anything else, on every request: a transfer coding other than
/// `chunked` is a 501 (see [`body::transfer_coding`]), whatever the path.
async fn framing(req: Request, next: Next) -> Response {
    let lines: Vec<&[u8]> = req
        .headers()
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if let Err(e) = body::transfer_coding(&lines) {
        return ApiError::from(e).into_response();
    }
    next.run(req).await
}

/// Steps 3 to 5: the failed-auth throttle, the bearer token, then the
/// write rates.
async fn authenticate(State(api): State<Arc<Api>>, mut req: Request, next: Next) -> Response {
    if req.uri().path() == "/v1/openapi.json" {
        return next.run(req).await;
    }
    let client = req
        .extensions()
        .get::<ClientAddr>()
        .map(|c| c.0)
        .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let source = Source::of(client.ip());
    let now = std::time::Instant::now();
    if let Some(wait) = api
        .auth_throttle
        .as_ref()
        .and_then(|t| t.blocked(source, now))
    {
        return too_many(
            "too many failed authentications from this address; try again later",
            wait,
        );
    }
    // RFC 9110 §11.6.2: one set of credentials; a request with two
    // Authorization lines is refused as if it had none (which one a proxy
    // or a client library reads is anyone's guess).
    let mut lines = req.headers().get_all(header::AUTHORIZATION).iter();
    let only = match (lines.next(), lines.next()) {
        (Some(v), None) => Some(v),
        _ => None,
    };
    let presented = only.and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, rest) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    let failed = || {
        if let Some(t) = &api.auth_throttle {
            t.failed(source, now);
        }
    };
    let Some(presented) = presented else {
        failed();
        return unauthorized("missing Authorization: Bearer <token> (exactly one)");
    };
    // Compare with every token (no early exit), each in constant time.
    // The tokens of the config in effect (SIGHUP replaces them).
    let config = api.state.config();
    let tokens = config
        .rest
        .as_ref()
        .map_or(&api.config.tokens, |r| &r.tokens);
    let mut found: Option<&Token> = None;
    for t in tokens {
        if bool::from(t.secret.as_bytes().ct_eq(presented.as_bytes())) {
            found = Some(t);
        }
    }
    let Some(token) = found.cloned() else {
        failed();
        // Sampled over all addresses: the per-address throttle alone lets
        // many addresses write a line each.
        if api.auth_log.line(Noise::RestAuth) {
            info!(%client, "REST request with a wrong token");
        }
        return unauthorized("invalid token");
    };
    if req.method() != Method::GET
        && let Some(refused) = write_rate(&api, source, &token)
    {
        return refused;
    }
    req.extensions_mut().insert(Caller { token, client });
    next.run(req).await
}

/// The write buckets: the source's (over all its tokens), then the
/// token's own; a 429 when either is empty.
/// `[rest] rate_limit` and `source_rate_limit` with their token buckets.
struct WriteLimits {
    rate: Option<u32>,
    source_rate: Option<u32>,
    /// Writes per second of each token (keyed by token name).
    token: Option<DefaultKeyedRateLimiter<String>>,
    /// Writes per second of each source, over all its tokens.
    source: Option<DefaultKeyedRateLimiter<Source>>,
}

impl WriteLimits {
    fn new(rate: Option<u32>, source_rate: Option<u32>) -> WriteLimits {
        let per_second =
            |n: Option<u32>| n.and_then(std::num::NonZeroU32::new).map(Quota::per_second);
        WriteLimits {
            rate,
            source_rate,
            token: per_second(rate).map(RateLimiter::keyed),
            source: per_second(source_rate).map(RateLimiter::keyed),
        }
    }
}

/// The limits of the config in effect: the same buckets while the numbers
/// stay, new ones once a reload changed them.
fn current_limits(api: &Api) -> Arc<WriteLimits> {
    let config = api.state.config();
    let (rate, source_rate) = config
        .rest
        .as_ref()
        .map_or((api.config.rate_limit, api.config.source_rate_limit), |r| {
            (r.rate_limit, r.source_rate_limit)
        });
    let now = api.limits.load_full();
    if (now.rate, now.source_rate) == (rate, source_rate) {
        return now;
    }
    let fresh = Arc::new(WriteLimits::new(rate, source_rate));
    api.limits.store(fresh.clone());
    fresh
}

fn write_rate(api: &Api, source: Source, token: &Token) -> Option<Response> {
    let limits = current_limits(api);
    if let Some(limiter) = &limits.source {
        if limiter.len() > SOURCE_LIMITER_SWEEP {
            limiter.retain_recent();
        }
        if let Err(not_until) = limiter.check_key(&source) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(limiter.clock()));
            let msg = format!(
                "write rate limit of {} per second from this address exceeded",
                limits.source_rate.unwrap_or(0)
            );
            return Some(too_many(&msg, wait));
        }
    }
    if let Some(limiter) = &limits.token
        && let Err(not_until) = limiter.check_key(&token.name)
    {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(limiter.clock()));
        let msg = format!(
            "write rate limit of {} per second for token {:?} exceeded",
            limits.rate.unwrap_or(0),
            token.name
        );
        return Some(too_many(&msg, wait));
    }
    None
}

/// 429 with Retry-After: `wait` rounded up to whole seconds, at least 1.
fn too_many(msg: &str, wait: std::time::Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut resp = ApiError(StatusCode::TOO_MANY_REQUESTS, msg.to_string()).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    resp
}

fn unauthorized(msg: &str) -> Response {
    let mut resp = ApiError(StatusCode::UNAUTHORIZED, msg.to_string()).into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

// ---------------------------------------------------------------------------
// Request shapes
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct TypeQuery {
    #[serde(rename = "type")]
    rtype: Option<String>,
}

/// What a path addresses: `/v1/zones/{zone}/...` gives the zone, the short
/// routes none; `{name}` where the route has one.
struct Target {
    zone: Option<String>,
    name: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Target {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
        let mut t = Target {
            zone: None,
            name: None,
        };
        for (k, v) in &params {
            match k {
                "zone" => t.zone = Some(v.to_owned()),
                "name" => t.name = Some(v.to_owned()),
                _ => {}
            }
        }
        Ok(t)
    }
}

impl Target {
    /// The zone (which the token must be allowed to write) and the
    /// service's absolute name.
    fn service(&self, api: &Api, caller: &Caller) -> Result<(Name, Name), ApiError> {
        let name = self.name.as_deref().unwrap_or_default();
        let zone = pick_zone(api, caller, self.zone.as_deref(), Some(name))?;
        let fqdn = service::service_name(name, &zone)?;
        Ok((zone, fqdn))
    }

    /// [`Target::service`] for a write: a name outside the token's
    /// `names` is refused (403) before anything is computed, also when the
    /// write would change nothing (round 51: a PUT of a service's current
    /// value outside the token's names answered 200; the change set was
    /// empty, so no record was there to check).
    fn service_to_write(&self, api: &Api, caller: &Caller) -> Result<(Name, Name), ApiError> {
        let (zone, fqdn) = self.service(api, caller)?;
        if !caller.token.may_write(&zone, &fqdn) {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                format!(
                    "token {:?} may not write {}",
                    caller.token.name,
                    service::short(&fqdn, &zone)
                ),
            ));
        }
        Ok((zone, fqdn))
    }
}

/// A write to one service: who, where, and the body's validated values.
struct Edit {
    caller: Caller,
    zone: Name,
    fqdn: Name,
    rtype: RecordType,
    /// The records as given (for the audit log).
    values: Vec<String>,
    records: Vec<crate::rr::Rdata>,
    ttl: Option<u32>,
}

impl Edit {
    async fn read(api: &Api, t: Target, req: Request) -> Result<Edit, ApiError> {
        let (caller, body) = caller_and_body(api, req, BODY_LIMIT).await?;
        let (zone, fqdn) = t.service_to_write(api, &caller)?;
        let b = body::service(&body)?;
        body::check_zone(b.zone.as_deref(), None, &service::zone_text(&zone))?;
        let rtype = service::parse_type(b.rtype.as_deref())?;
        let values = b.records.unwrap_or_default();
        let records = service::parse_records(rtype, &values)?;
        Ok(Edit {
            caller,
            zone,
            fqdn,
            rtype,
            values,
            records,
            ttl: b.ttl,
        })
    }
}

fn extension_from(parts: &axum::http::Extensions) -> Result<Caller, ApiError> {
    parts
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "not authenticated".into()))
}

// ---------------------------------------------------------------------------
// Zones and names
// ---------------------------------------------------------------------------

/// The zone a request addresses: `/v1/zones/{zone}/...`, or for the short
/// routes the REST zone a full name lies in, else the first REST zone.
/// The token must be allowed to write it (403).
fn pick_zone(
    api: &Api,
    caller: &Caller,
    zone: Option<&str>,
    name: Option<&str>,
) -> Result<Name, ApiError> {
    let zones = &api.config.zones;
    let chosen = match zone {
        Some(z) => {
            let parsed = crate::config::parse_zone_name(z.trim_end_matches('.'));
            match parsed.filter(|p| zones.contains(p)) {
                Some(p) => p,
                None => {
                    return Err(ApiError(
                        StatusCode::NOT_FOUND,
                        format!("zone {z:?} is not served by the REST API"),
                    ));
                }
            }
        }
        None => match name.and_then(|n| service::zone_of(n, zones)) {
            Some(z) => z.clone(),
            None => zones
                .first()
                .cloned()
                .ok_or_else(|| ApiError(StatusCode::SERVICE_UNAVAILABLE, "no REST zones".into()))?,
        },
    };
    if !caller.token.zones.contains(&chosen) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "token {:?} may not use zone {}",
                caller.token.name,
                service::zone_text(&chosen)
            ),
        ));
    }
    Ok(chosen)
}

/// The served snapshot of `zone`.
fn snapshot(api: &Api, zone: &Name) -> Result<Arc<crate::zone::Zone>, ApiError> {
    api.state.snapshot().get(zone).cloned().ok_or_else(|| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "zone {} is not being served (is its file missing or broken? see the server log)",
                service::zone_text(zone)
            ),
        )
    })
}

/// One service as GET answers it. `name` is the name the API takes back
/// ([`service::listed_name`], as the listing keys it): `valkey`, but
/// `a.b.service.local` for a dotted one (`a.b` would be read as a full
/// name, not in the zone).
fn service_json(zone: &Name, name: &Name, s: &Service) -> Value {
    json!({
        "name": service::listed_name(name, zone).unwrap_or_else(|| service::short(name, zone)),
        "fqdn": service::zone_text(name),
        "zone": service::zone_text(zone),
        "type": s.rtype.to_string(),
        "records": s.records,
        "ttl": s.ttl,
    })
}

fn list_json(s: &Service) -> Value {
    json!({ "type": s.rtype.to_string(), "records": s.records, "ttl": s.ttl })
}

fn optional_type(t: Option<&str>) -> Result<Option<RecordType>, ApiError> {
    match t {
        None => Ok(None),
        Some(t) => Ok(Some(service::parse_type(Some(t))?)),
    }
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// One write through the store; `Ok` once durable (or unchanged).
async fn write(
    api: &Api,
    caller: &Caller,
    zone: &Name,
    what: &str,
    op: &'static str,
    values: &[String],
    compute: impl Fn(&crate::zone::Zone) -> Result<crate::rr::ChangeSet, SvcError>
    + Send
    + Sync
    + 'static,
) -> Result<WriteOutcome, ApiError> {
    // The store speaks rcodes; keep the request's own error (and its
    // message) beside it for the answer.
    let refusal: Arc<std::sync::Mutex<Option<SvcError>>> = Arc::default();
    let keep = refusal.clone();
    let token = caller.token.clone();
    let state = api.state.clone();
    let req = WriteRequest {
        zone: zone.clone(),
        actor: caller.token.name.clone(),
        client: caller.client,
        via: "rest",
        compute: Box::new(move |z| {
            // The token as the config in effect has it now: the write may
            // have waited behind others while a reload removed it or
            // narrowed what it may write.
            let config = state.config();
            let now = config.rest.as_ref().and_then(|r| {
                r.tokens
                    .iter()
                    .find(|t| t.name == token.name && t.secret == token.secret)
                    .cloned()
            });
            let checked = match now {
                Some(token) => Ok(token),
                None => Err(SvcError::Forbidden(format!(
                    "token {:?} was removed by a config reload while this write waited; \
                     nothing was written",
                    token.name
                ))),
            }
            .and_then(|token| compute(z).map(|cs| (cs, token)))
            .and_then(|(cs, token)| {
                // Least privilege: every record changed must lie in the
                // token's zones and `names` (recomputed with the change).
                match cs
                    .add
                    .iter()
                    .chain(&cs.remove)
                    .find(|r| !token.may_write(z.origin(), &r.name))
                {
                    Some(r) => Err(SvcError::Forbidden(format!(
                        "token {:?} may not write {}",
                        token.name,
                        service::short(&r.name, z.origin())
                    ))),
                    None => Ok(cs),
                }
            });
            checked.map_err(|e| {
                let rcode = e.rcode();
                if let Ok(mut slot) = keep.lock() {
                    *slot = Some(e);
                }
                rcode
            })
        }),
    };
    // The write and its audit line in a task of their own: a client that
    // hangs up drops this handler, not the write (which the store carries
    // through), and the line must be there for every write made.
    let store = api.store.clone();
    let (client, token_name, what_text, values_text) = (
        caller.client,
        caller.token.name.clone(),
        what.to_owned(),
        values.join(" "),
    );
    let task = tokio::spawn(async move {
        let result = store.write(req).await;
        let outcome = match &result {
            Ok(WriteOutcome::Unchanged) => "unchanged".to_string(),
            Ok(WriteOutcome::Written { new_serial, .. }) => {
                format!("written, serial {new_serial}")
            }
            Err(e) => format!("refused: {e}"),
        };
        info!(
            target: "zonewright::rest::audit",
            client = %client,
            token = %token_name,
            op,
            name = ?what_text,
            values = ?values_text,
            outcome = ?outcome,
            "REST write"
        );
        result
    });
    let result = task.await.unwrap_or_else(|e| {
        Err(WriteError::Failed(format!(
            "the write's task ended without an answer: {e}"
        )))
    });
    result.map_err(|e| match e {
        WriteError::Rejected(rc) => refusal
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or_else(|| service::from_rcode(rc, what))
            .into(),
        WriteError::NoZone(z) => ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("zone {} is not being served", service::zone_text(&z)),
        ),
        WriteError::Invalid(m) => ApiError(
            StatusCode::CONFLICT,
            format!("the change would leave the zone invalid: {m}"),
        ),
        WriteError::Failed(m) => {
            // The details (file paths, zone-file lines) are for the
            // operator's log, not for the client.
            error!(name = ?what, "REST write failed: {m}");
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "the write to {what} failed and nothing was changed \
                     (the zone file could not be read, written or committed; \
                     the server log has the details)"
                ),
            )
        }
    })
}

// ---------------------------------------------------------------------------
// Handlers (default zone and explicit zone share one body each)
// ---------------------------------------------------------------------------

async fn list(State(api): State<Arc<Api>>, t: Target, req: Request) -> ApiResult {
    let api = &*api;
    let caller = extension_from(req.extensions())?;
    let zone = pick_zone(api, &caller, t.zone.as_deref(), None)?;
    let z = snapshot(api, &zone)?;
    let services: serde_json::Map<String, Value> = service::list(&z)
        .iter()
        .map(|(k, s)| (k.clone(), list_json(s)))
        .collect();
    Ok(
        axum::Json(json!({ "zone": service::zone_text(&zone), "services": services }))
            .into_response(),
    )
}

async fn get_one(
    State(api): State<Arc<Api>>,
    t: Target,
    Query(q): Query<TypeQuery>,
    req: Request,
) -> ApiResult {
    let api = &*api;
    let caller = extension_from(req.extensions())?;
    let (zone, fqdn) = t.service(api, &caller)?;
    let rtype = optional_type(q.rtype.as_deref())?;
    let z = snapshot(api, &zone)?;
    match service::get(&z, &fqdn, rtype) {
        Some(s) => Ok(axum::Json(service_json(&zone, &fqdn, &s)).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("service {} not found", service::short(&fqdn, &zone)),
        )),
    }
}

/// The caller and the body, which must arrive whole within `[rest]
/// body_timeout`, once its headers say it is JSON (else 415, the body
/// unread) and its declared length is within `limit` (else 413 at once,
/// the body unread: a `Content-Length: 99999999` with a short body waited
/// for `body_timeout` and got 408). A chunked body over `limit` is cut off
/// by the route's `DefaultBodyLimit` (413) as it arrives.
/// `POST /v1/git/sync` (a token with `git_sync = true`; a forge's push
/// webhook): pull from `[git] remote` and push now, and answer with what
/// the pull did. The body, if any, is not read (a webhook's payload says
/// nothing the fetch does not).
async fn git_sync(State(api): State<Arc<Api>>, req: Request) -> ApiResult {
    let caller = extension_from(req.extensions())?;
    if !caller.token.git_sync {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "token {:?} may not ask for a git sync (it needs git_sync = true)",
                caller.token.name
            ),
        ));
    }
    let Some(handle) = api.store.sync() else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "git sync is not configured on this server ([git] remote)".into(),
        ));
    };
    info!(token = %caller.token.name, client = %caller.client, "REST: git sync asked for");
    match handle.sync_now().await {
        Ok(report) => Ok((StatusCode::OK, axum::Json(report)).into_response()),
        Err(crate::store::remote::SyncError::Busy) => Ok(too_many(
            "syncs are queued already (this one runs with them); try again shortly",
            std::time::Duration::from_secs(2),
        )),
        Err(crate::store::remote::SyncError::Failed(e)) => {
            Err(ApiError(StatusCode::BAD_GATEWAY, e))
        }
    }
}

async fn caller_and_body(
    api: &Api,
    req: Request,
    limit: usize,
) -> Result<(Caller, Bytes), ApiError> {
    let caller = extension_from(req.extensions())?;
    let headers = req.headers();
    let lines = |name| -> Vec<&[u8]> {
        headers
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect()
    };
    body::media_type(
        &lines(header::CONTENT_TYPE),
        &lines(header::CONTENT_ENCODING),
    )?;
    // hyper sets the size hint to the Content-Length it framed the body
    // by (one valid length, or 400 before we get here).
    let declared = axum::body::HttpBody::size_hint(req.body()).lower();
    if declared > u64::try_from(limit).unwrap_or(u64::MAX) {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{TOO_LARGE}; Content-Length is {declared}"),
        ));
    }
    let read = <Bytes as axum::extract::FromRequest<()>>::from_request(req, &());
    match tokio::time::timeout(api.config.body_timeout, read).await {
        Ok(body) => Ok((caller, body?)),
        Err(_) => {
            info!(client = %caller.client, "REST request body not received in time; closing");
            Err(ApiError(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    api.config.body_timeout.as_secs_f32()
                ),
            ))
        }
    }
}

async fn put_one(State(api): State<Arc<Api>>, t: Target, req: Request) -> ApiResult {
    let Edit {
        caller,
        zone,
        fqdn,
        rtype,
        values,
        records,
        ttl,
    } = Edit::read(&api, t, req).await?;
    let api = &*api;
    let ttl = service::ttl_or(ttl, api.config.ttl);
    let (n, r) = (fqdn.clone(), records.clone());
    let what = service::zone_text(&fqdn);
    write(api, &caller, &zone, &what, "put", &values, move |z| {
        service::put(z, &n, rtype, &r, ttl)
    })
    .await?;
    let s = Service {
        rtype,
        records: values_text(rtype, &records),
        ttl,
    };
    Ok(axum::Json(service_json(&zone, &fqdn, &s)).into_response())
}

/// The request's values as the API answers them (normalised, deduplicated).
fn values_text(rtype: RecordType, records: &[crate::rr::Rdata]) -> Vec<String> {
    records
        .iter()
        .map(|r| match rtype {
            RecordType::A => <[u8; 4]>::try_from(r.as_bytes())
                .map(|o| std::net::Ipv4Addr::from(o).to_string())
                .unwrap_or_default(),
            RecordType::AAAA => <[u8; 16]>::try_from(r.as_bytes())
                .map(|o| std::net::Ipv6Addr::from(o).to_string())
                .unwrap_or_default(),
            _ => String::from_utf8_lossy(r.as_bytes().get(1..).unwrap_or_default()).into_owned(),
        })
        .collect()
}

async fn delete_one(
    State(api): State<Arc<Api>>,
    t: Target,
    Query(q): Query<TypeQuery>,
    req: Request,
) -> ApiResult {
    let api = &*api;
    let caller = extension_from(req.extensions())?;
    let (zone, fqdn) = t.service_to_write(api, &caller)?;
    let rtype = optional_type(q.rtype.as_deref())?;
    let n = fqdn.clone();
    let what = service::zone_text(&fqdn);
    write(api, &caller, &zone, &what, "delete", &[], move |z| {
        service::delete(z, &n, rtype)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn add(State(api): State<Arc<Api>>, t: Target, req: Request) -> ApiResult {
    let Edit {
        caller,
        zone,
        fqdn,
        rtype,
        values,
        records,
        ttl,
    } = Edit::read(&api, t, req).await?;
    let api = &*api;
    let default_ttl = api.config.ttl;
    let n = fqdn.clone();
    let what = service::zone_text(&fqdn);
    write(
        api,
        &caller,
        &zone,
        &what,
        "add-records",
        &values,
        move |z| service::add_records(z, &n, rtype, &records, ttl, default_ttl),
    )
    .await?;
    let z = snapshot(api, &zone)?;
    match service::get(&z, &fqdn, Some(rtype)) {
        Some(s) => Ok(axum::Json(service_json(&zone, &fqdn, &s)).into_response()),
        // Deleted by another writer in between: the add itself landed.
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

async fn remove(State(api): State<Arc<Api>>, t: Target, req: Request) -> ApiResult {
    let Edit {
        caller,
        zone,
        fqdn,
        rtype,
        values,
        records,
        ..
    } = Edit::read(&api, t, req).await?;
    let api = &*api;
    let n = fqdn.clone();
    let what = service::zone_text(&fqdn);
    write(
        api,
        &caller,
        &zone,
        &what,
        "remove-records",
        &values,
        move |z| service::remove_records(z, &n, rtype, &records).map(|(cs, _)| cs),
    )
    .await?;
    let z = snapshot(api, &zone)?;
    match service::get(&z, &fqdn, Some(rtype)) {
        Some(s) => Ok(axum::Json(service_json(&zone, &fqdn, &s)).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

async fn replace_state(State(api): State<Arc<Api>>, t: Target, req: Request) -> ApiResult {
    let api = &*api;
    let (caller, body) = caller_and_body(api, req, STATE_BODY_LIMIT).await?;
    let zone = pick_zone(api, &caller, t.zone.as_deref(), None)?;
    let b = body::state(&body)?;
    let ztext = service::zone_text(&zone);
    body::check_zone(b.zone.as_deref(), None, &ztext)?;
    let Some(services) = b.services else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "missing \"services\" (use {\"services\": {}} to remove every service)".into(),
        ));
    };
    let mut wanted: Vec<Wanted> = Vec::with_capacity(services.len());
    let mut all_values = Vec::new();
    for (raw, s) in &services {
        body::check_zone(s.zone.as_deref(), Some(&format!("services.{raw}")), &ztext)?;
        let name = service::service_name(raw, &zone).map_err(|e| match e {
            SvcError::Invalid(m) => SvcError::Invalid(format!("services.{raw}: {m}")),
            other => other,
        })?;
        let rtype = service::parse_type(s.rtype.as_deref())?;
        let values = s.records.clone().unwrap_or_default();
        let records = service::parse_records(rtype, &values).map_err(|e| match e {
            SvcError::Invalid(m) => SvcError::Invalid(format!("services.{raw}: {m}")),
            other => other,
        })?;
        if wanted.iter().any(|w| w.name == name && w.rtype == rtype) {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("services.{raw}: the same service is given twice"),
            ));
        }
        all_values.push(format!("{}={}", raw, values.join(",")));
        wanted.push(Wanted {
            name,
            rtype,
            records,
            ttl: service::ttl_or(s.ttl, api.config.ttl),
        });
    }
    let count = wanted.len();
    let what = format!("{} (state)", service::zone_text(&zone));
    write(api, &caller, &zone, &what, "replace-state", &all_values, {
        let token = caller.token.clone();
        move |z| service::replace_state(z, &wanted, |n| token.may_write(z.origin(), n))
    })
    .await?;
    Ok(axum::Json(json!({ "zone": service::zone_text(&zone), "count": count })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_router_goes_on() {
        async fn boom() -> Response {
            panic!("a bug")
        }
        let app: Router = Router::new()
            .route("/boom", axum::routing::get(boom))
            .route("/fine", axum::routing::get(|| async { "ok" }))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked));
        let req = |p: &str| {
            axum::http::Request::builder()
                .uri(p)
                .body(axum::body::Body::empty())
                .expect("request")
        };
        let r = app.clone().oneshot(req("/boom")).await.expect("answer");
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .expect("body");
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("internal error"))
        );
        let r = app.oneshot(req("/fine")).await.expect("answer");
        assert_eq!(r.status(), StatusCode::OK);
    }
}
