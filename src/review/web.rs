//! The review in the browser: `terreno review RUN --web` serves one page, for the analyst on
//! this machine only, with the same actions as the terminal review. Every action is a
//! [`Session::decide`] (or [`Session::undo`]): the same checks, the same `decisions.jsonl`, the
//! same fold, so the page and the terminal can be used in turn.
//!
//! Why this stack: axum on tokio is the maintained Rust server stack (tokio-rs); the page is
//! plain HTML, CSS and a little JavaScript written for it (`web/`), compiled into the binary
//! and served by it, so nothing comes from elsewhere. No front-end framework: the page is one
//! tree, one card, one list and one canvas, and a framework would be most of its weight.
//!
//! Safe by construction: the server listens on the loopback address only and answers only
//! requests that carry the random token of the printed address (as an HTTP-only cookie after
//! the first visit) and name this server as their `Host` (no DNS rebinding); a request that
//! changes anything must also carry the token in the `X-Terreno-Token` header, which no other
//! site's page can set. The Content-Security-Policy allows nothing but this server.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{effective, Action, Fates, Session};
use crate::config::Language;
use crate::error::{Error, Result};
use crate::run::RunDir;

const PAGE: &str = include_str!("web/page.html");
const SCRIPT: &str = include_str!("web/app.js");
const STYLE: &str = include_str!("web/app.css");
const COOKIE: &str = "terreno_token";
/// The header a state-changing request carries the token in.
pub const TOKEN_HEADER: &str = "x-terreno-token";
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                      connect-src 'self'; base-uri 'none'; form-action 'none'; \
                      frame-ancestors 'none'";

/// How the page is served.
#[derive(Debug, Clone)]
pub struct Options {
    /// The port on 127.0.0.1 (0: any free one).
    pub port: u16,
    /// The page's language (default: the run's report language).
    pub language: Option<Language>,
    /// Open the page in the desktop's browser.
    pub open_browser: bool,
}

/// One passage as the page shows it.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    document: String,
    speaker: String,
    role: String,
    time: Option<f64>,
    prompt: Option<String>,
    text: String,
    /// Lower-cased text, for the search.
    folded: String,
    /// Its similarity to its code's centre, as clustered.
    strength: f32,
    /// Its values of the documents' metadata attributes, in `Data::attributes` order.
    attrs: Vec<Option<String>>,
}

/// What the page reads and never changes: the run's passages, map and filters.
struct Data {
    rows: Vec<Row>,
    index: BTreeMap<String, usize>,
    /// Each passage's cluster as clustered.
    clusters: Vec<i32>,
    /// The 2-D map, one point per passage.
    points: Vec<(f32, f32)>,
    /// Metadata attributes worth filtering by (2 to 200 values), with their values.
    attributes: Vec<(String, Vec<String>)>,
    /// The documents, speakers and roles there are, for the filters.
    documents: BTreeSet<String>,
    speakers: BTreeSet<String>,
    roles: BTreeSet<String>,
    language: Language,
}

struct App {
    token: String,
    port: u16,
    session: Mutex<Session>,
    data: Data,
}

type Shared = Arc<App>;

/// Serves the review page until Ctrl-C (or SIGTERM); then writes the codebook version the
/// decisions make. Prints the address first.
pub fn serve(session: Session, options: &Options) -> Result<Option<(PathBuf, Vec<String>)>> {
    let data = load(&session.dir, options.language)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the page's server: {e}")))?;
    let dir = session.dir.clone();
    let app = runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port)))
                .await
                .map_err(|e| {
                Error::Config(format!(
                    "cannot listen on 127.0.0.1:{}: {e} (choose another with --port)",
                    options.port
                ))
            })?;
        let port = listener.local_addr().map_err(|e| Error::io(&dir, e))?.port();
        let app = Arc::new(App { token: token()?, port, session: Mutex::new(session), data });
        let address = format!("http://127.0.0.1:{port}/?token={}", app.token);
        println!("{address}");
        println!(
            "The review page of {} is at the address above, for this machine only. Every \
             decision is saved as it is made; Ctrl-C stops the server and writes the codebook.",
            dir.display()
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if options.open_browser {
            open_browser(&address);
        }
        let router = router(app.clone());
        axum::serve(listener, router)
            .with_graceful_shutdown(stopped())
            .await
            .map_err(|e| Error::Config(format!("the page's server stopped: {e}")))?;
        Ok::<_, Error>(app)
    })?;
    let app = Arc::try_unwrap(app).map_err(|_| Error::Config("the server is still busy".into()))?;
    let mut session = app.session.into_inner().unwrap_or_else(|p| p.into_inner());
    session.finish()
}

/// Ctrl-C or SIGTERM.
async fn stopped() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// 32 random bytes from the operating system, as hex.
fn token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Config(format!("no randomness for the page's token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Opens the address in the desktop's browser, where there is a desktop.
fn open_browser(address: &str) {
    let opener = if cfg!(target_os = "macos") {
        Some("open")
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        Some("xdg-open")
    } else {
        None
    };
    if let Some(cmd) = opener {
        let _ = std::process::Command::new(cmd)
            .arg(address)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}

fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/app.js", get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/app.css", get(|| async { asset(STYLE, "text/css; charset=utf-8") }))
        .route("/api/state", get(state))
        .route("/api/view", get(view))
        .route("/api/map", get(map))
        .route("/api/context", get(context))
        .route("/api/decide", post(decide))
        .route("/api/undo", post(undo))
        .route("/api/finish", post(finish))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

fn forbidden(why: &'static str) -> Response {
    (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], why)
        .into_response()
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token cookie. (One cookie, read by hand: axum-extra's cookie jar would bring a crate
/// and its signing machinery for a single `name=value` pair.)
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Every request: this server's `Host`, the token (cookie, or the address's `?token=` for the
/// page itself), and for a state-changing one the token header too. Every answer: the policy
/// headers.
async fn guard(State(app): State<Shared>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let hosts = [format!("127.0.0.1:{}", app.port), format!("localhost:{}", app.port)];
    let mut response = if !hosts.iter().any(|h| h == host) {
        forbidden("this page answers only at its own address on this machine")
    } else {
        let query_token = request
            .uri()
            .query()
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| v.to_string());
        let by_cookie = cookie_token(headers).is_some_and(|t| same(&t, &app.token));
        let by_address = request.method() == Method::GET
            && request.uri().path() == "/"
            && query_token.as_deref().is_some_and(|t| same(t, &app.token));
        let changes = request.method() != Method::GET && request.method() != Method::HEAD;
        let by_header = headers
            .get(TOKEN_HEADER)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|t| same(t, &app.token));
        if by_address {
            // The token moves into a cookie, and out of the address bar and the history.
            let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", app.token);
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/"));
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        } else if !by_cookie {
            forbidden("open the address terreno printed (it carries the page's token)")
        } else if changes && !by_header {
            forbidden("a change needs the page's token in its X-Terreno-Token header")
        } else {
            next.run(request).await
        }
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The page, with the token for the header of its changes (the page is only ever served to a
/// request that has the cookie, and no other site can read it).
async fn page(State(app): State<Shared>) -> Response {
    let lang = if app.data.language == Language::En { "en" } else { "it" };
    let html = PAGE.replace("{{token}}", &app.token).replace("{{lang}}", lang);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], Body::from(html)).into_response()
}

/// Reads what the page shows of a run.
fn load(dir: &Path, language: Option<Language>) -> Result<Data> {
    let run = RunDir::new(dir);
    let manifest = run.finished()?;
    let table = run.passages()?;
    let (vectors, clusters) = run.vectors()?;
    let points = crate::cluster::projection(&vectors, &clusters);
    let strength: Vec<f32> = run
        .table(crate::run::CLUSTERS)?
        .column("strength")?
        .cast(&polars::prelude::DataType::Float32)?
        .f32()?
        .iter()
        .map(|v| v.unwrap_or(0.0))
        .collect();
    let text = |name: &str| -> Result<Vec<Option<String>>> {
        Ok(table.column(name)?.str()?.iter().map(|v| v.map(str::to_string)).collect())
    };
    let times: Vec<Option<f64>> = table
        .column("time_start")?
        .cast(&polars::prelude::DataType::Float64)?
        .f64()?
        .iter()
        .collect();
    let (ids, docs, speakers, roles, prompts, texts) = (
        text("passage_id")?,
        text("document_id")?,
        text("speaker")?,
        text("role")?,
        text("prompt")?,
        text("text")?,
    );
    let mut attributes = Vec::new();
    let mut attr_values = Vec::new();
    for column in table.columns() {
        let name = column.name().to_string();
        if crate::run::PASSAGE_COLUMNS.contains(&name.as_str()) || name == "source_id" {
            continue;
        }
        let Ok(values) = column.str() else { continue };
        let values: Vec<Option<String>> = values.iter().map(|v| v.map(str::to_string)).collect();
        let distinct: BTreeSet<&String> = values.iter().flatten().collect();
        if (2..=200).contains(&distinct.len()) {
            attributes.push((name, distinct.into_iter().cloned().collect()));
            attr_values.push(values);
        }
    }
    let n = table.height();
    let rows: Vec<Row> = (0..n)
        .map(|i| {
            let text = texts[i].clone().unwrap_or_default();
            Row {
                id: ids[i].clone().unwrap_or_default(),
                document: docs[i].clone().unwrap_or_default(),
                speaker: speakers[i].clone().unwrap_or_default(),
                role: roles[i].clone().unwrap_or_default(),
                time: times[i],
                prompt: prompts[i].clone(),
                folded: fold(&text),
                text,
                strength: strength.get(i).copied().unwrap_or(0.0),
                attrs: attr_values.iter().map(|v| v[i].clone()).collect(),
            }
        })
        .collect();
    let index = rows.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
    let distinct = |f: fn(&Row) -> &String| rows.iter().map(|r| f(r).clone()).collect();
    Ok(Data {
        documents: distinct(|r| &r.document),
        speakers: distinct(|r| &r.speaker),
        roles: distinct(|r| &r.role),
        rows,
        index,
        clusters,
        points,
        attributes,
        language: language.unwrap_or(manifest.config.report.language),
    })
}

/// Lower case without accents, for the search.
fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfd().filter(|c| !('\u{300}'..='\u{36f}').contains(c)).flat_map(char::to_lowercase).collect()
}

fn error_response(e: Error) -> Response {
    let message = e.to_string();
    let message = message.trim_start_matches("configuration: ").to_string();
    let status = match e {
        Error::Config(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(json!({ "error": message }))).into_response()
}

fn lock(app: &App) -> std::sync::MutexGuard<'_, Session> {
    app.session.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where each passage is now, as row indices per candidate id, with the analyst's moves.
fn placement(session: &Session, data: &Data) -> Vec<Option<String>> {
    let cluster_id: BTreeMap<i32, &str> =
        session.candidates.iter().map(|c| (c.cluster, c.id.as_str())).collect();
    let mut out: Vec<Option<String>> =
        data.clusters.iter().map(|c| cluster_id.get(c).map(|id| id.to_string())).collect();
    let eff = effective(&session.decisions);
    for (passage, to) in Fates::of(&eff).moved {
        if let Some(&i) = data.index.get(&passage) {
            out[i] = to;
        }
    }
    out
}

fn status_of(book: &crate::codebook::Codebook, fates: &Fates, id: &str) -> (String, String) {
    match fates.last.get(id).map(|d| (&d.action, d.code.clone())) {
        Some((Action::Confirm { name, .. }, _)) => ("confirmed".into(), name.clone()),
        Some((Action::Assign { .. }, code)) => {
            let code = code.unwrap_or_default();
            let name = book.get(&code).map(|c| c.name.clone()).unwrap_or(code);
            ("assigned".into(), name)
        }
        Some((Action::Merge { into }, _)) => ("merged".into(), into.clone()),
        Some((Action::Reject { reason }, _)) => ("rejected".into(), reason.clone()),
        _ => ("open".into(), String::new()),
    }
}

/// Everything the page shows apart from passages: the tree, each candidate, the codebook, the
/// filters and the progress.
async fn state(State(app): State<Shared>) -> Response {
    let mut session = lock(&app);
    if let Err(e) = session.refresh() {
        return error_response(e);
    }
    let eff = effective(&session.decisions);
    let fates = Fates::of(&eff);
    let placed = placement(&session, &app.data);
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for p in placed.iter().flatten() {
        *sizes.entry(p.as_str()).or_default() += 1;
    }
    let memos = |id: &str| -> Vec<Value> {
        session
            .decisions
            .iter()
            .filter(|d| d.candidate == id && !d.memo.is_empty())
            .map(|d| json!({ "who": d.who, "at": d.at, "memo": d.memo, "action": d.action.verb() }))
            .collect()
    };
    let book = session.codebook();
    // The analyst's name where renamed, as `Session::standing` gives it.
    let label = |id: &str, proposed: &str| {
        fates.renamed.get(id).cloned().unwrap_or_else(|| proposed.to_string())
    };
    let candidates: Vec<Value> = session
        .candidates
        .iter()
        .map(|c| {
            let (status, detail) = status_of(&book, &fates, &c.id);
            json!({
                "id": c.id,
                "label": label(&c.id, &c.label),
                "proposed": c.label,
                "category": c.category,
                "size": sizes.get(c.id.as_str()).copied().unwrap_or(0),
                "clustered": c.size,
                "speakers": c.speakers,
                "documents": c.documents,
                "cohesion": c.cohesion,
                "single_speaker": c.single_speaker,
                "key_terms": c.key_terms,
                "in_vivo": c.in_vivo,
                "matches": c.matches,
                "proposal": c.proposal,
                "prior": c.prior,
                "status": status,
                "detail": detail,
                "memos": memos(&c.id),
            })
        })
        .collect();
    let categories: Vec<Value> = session
        .categories
        .iter()
        .map(|k| {
            let (status, detail) = status_of(&book, &fates, &k.id);
            json!({
                "id": k.id,
                "index": k.index,
                "name": label(&k.id, &k.name),
                "codes": k.codes,
                "status": status,
                "detail": detail,
                "memos": memos(&k.id),
            })
        })
        .collect();
    let codes: Vec<Value> = book
        .codes
        .iter()
        .map(|c| json!({ "id": c.id, "name": book.path(&c.id), "codable": c.codable }))
        .collect();
    let pending = session.pending();
    let unplaced = placed.iter().filter(|p| p.is_none()).count();
    Json(json!({
        "run": session.run,
        "who": session.who,
        "language": if app.data.language == Language::En { "en" } else { "it" },
        "candidates": candidates,
        "categories": categories,
        "codes": codes,
        "decided": session.candidates.len() - pending.len(),
        "total": session.candidates.len(),
        "first_open": pending.first().map(|c| c.id.clone()),
        "passages": app.data.rows.len(),
        "unplaced": unplaced,
        "filters": {
            "documents": app.data.documents,
            "speakers": app.data.speakers,
            "roles": app.data.roles,
            "attributes": app.data.attributes.iter().map(|(n, v)| json!({"name": n, "values": v})).collect::<Vec<_>>(),
        },
        "last": session.decisions.last().map(|d| json!({"seq": d.seq, "verb": d.action.verb(), "candidate": d.candidate, "who": d.who})),
    }))
    .into_response()
}

/// A view: the passages of one candidate (or of all, or of none) that pass the filters, most
/// central first, one page of them; and how many of each candidate's pass.
#[derive(Debug, Deserialize)]
struct ViewQuery {
    /// A candidate id; `*`: every passage; `-`: those in no candidate.
    #[serde(default)]
    c: String,
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    document: String,
    #[serde(default)]
    speaker: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    attr: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    q: String,
}

fn passage_json(r: &Row, holder: Option<&String>) -> Value {
    json!({
        "id": r.id,
        "document": r.document,
        "speaker": r.speaker,
        "role": r.role,
        "time": r.time,
        "prompt": r.prompt,
        "text": r.text,
        "in": holder,
    })
}

async fn view(State(app): State<Shared>, Query(q): Query<ViewQuery>) -> Response {
    let session = lock(&app);
    let data = &app.data;
    let placed = placement(&session, data);
    let home = session.candidates.iter().find(|c| c.id == q.c).map(|c| c.cluster);
    drop(session);
    let attr = data.attributes.iter().position(|(n, _)| *n == q.attr);
    let needle = fold(q.q.trim());
    let passes = |r: &Row| {
        (q.document.is_empty() || r.document == q.document)
            && (q.speaker.is_empty() || r.speaker == q.speaker)
            && (q.role.is_empty() || r.role == q.role)
            && attr.is_none_or(|a| r.attrs[a].as_deref() == Some(q.value.as_str()))
            && (needle.is_empty() || r.folded.contains(&needle))
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut members: Vec<usize> = Vec::new();
    let mut matching = 0;
    for (i, r) in data.rows.iter().enumerate() {
        if !passes(r) {
            continue;
        }
        matching += 1;
        if let Some(c) = &placed[i] {
            *counts.entry(c.as_str()).or_default() += 1;
        }
        let wanted = match q.c.as_str() {
            "*" => true,
            "-" => placed[i].is_none(),
            c => placed[i].as_deref() == Some(c),
        };
        if wanted {
            members.push(i);
        }
    }
    // Most central first; passages moved in (not clustered there) after them, in order.
    let own = |i: usize| Some(data.clusters[i]) == home;
    members.sort_by(|&a, &b| {
        let key = |i: usize| if own(i) { data.rows[i].strength } else { f32::NEG_INFINITY };
        key(b).total_cmp(&key(a)).then(a.cmp(&b))
    });
    let limit = q.limit.unwrap_or(40).clamp(1, 500);
    let page: Vec<Value> = members
        .iter()
        .skip(q.offset)
        .take(limit)
        .map(|&i| passage_json(&data.rows[i], placed[i].as_ref()))
        .collect();
    Json(json!({
        "candidate": q.c,
        "total": members.len(),
        "offset": q.offset,
        "passages": page,
        "counts": counts,
        "matching": matching,
    }))
    .into_response()
}

/// The map: one point per passage and the candidate each is in now.
async fn map(State(app): State<Shared>) -> Response {
    let session = lock(&app);
    let placed = placement(&session, &app.data);
    drop(session);
    let ids: Vec<&str> = {
        let mut seen: Vec<&str> = placed.iter().flatten().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        seen
    };
    let of: Vec<i32> = placed
        .iter()
        .map(|p| p.as_deref().and_then(|p| ids.binary_search(&p).ok()).map_or(-1, |i| i as i32))
        .collect();
    let round = |v: f32| (v * 1000.0).round() / 1000.0;
    // A large run's map draws a regular sample of its passages.
    let step = crate::cluster::map_step(app.data.points.len());
    let points = app.data.points.iter().step_by(step);
    Json(json!({
        "x": points.clone().map(|p| round(p.0)).collect::<Vec<_>>(),
        "y": points.map(|p| round(p.1)).collect::<Vec<_>>(),
        "in": of.iter().step_by(step).collect::<Vec<_>>(),
        "ids": ids,
        "step": step,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct ContextQuery {
    p: String,
}

/// The passage in its transcript: the turns of its document around it.
async fn context(State(app): State<Shared>, Query(q): Query<ContextQuery>) -> Response {
    let data = &app.data;
    let Some(&i) = data.index.get(&q.p) else {
        return error_response(Error::Config(format!("no passage {:?}", q.p)));
    };
    let doc = &data.rows[i].document;
    let lo =
        (0..i).rev().take(6).take_while(|&j| data.rows[j].document == *doc).last().unwrap_or(i);
    let hi = (i..data.rows.len())
        .take(7)
        .take_while(|&j| data.rows[j].document == *doc)
        .last()
        .unwrap_or(i);
    let turns: Vec<Value> = (lo..=hi)
        .map(|j| {
            let r = &data.rows[j];
            json!({ "id": r.id, "speaker": r.speaker, "role": r.role, "time": r.time, "text": r.text, "this": j == i })
        })
        .collect();
    Json(json!({ "document": doc, "turns": turns })).into_response()
}

/// An action of the page: a decision as the decisions file states it, undo included.
async fn decide(State(app): State<Shared>, Json(entry): Json<super::script::Entry>) -> Response {
    let action = match entry.to_action() {
        Ok(Some(action)) => action,
        Ok(None) => return undo(State(app)).await,
        Err(message) => return error_response(Error::Config(message)),
    };
    let mut session = lock(&app);
    match session.decide(&entry.candidate, action, &entry.memo) {
        Ok(d) => Json(json!({
            "seq": d.seq, "verb": d.action.verb(), "candidate": d.candidate, "code": d.code
        }))
        .into_response(),
        Err(e) => error_response(e),
    }
}

async fn undo(State(app): State<Shared>) -> Response {
    let mut session = lock(&app);
    match session.undo() {
        Ok(Some(d)) => {
            Json(json!({ "undone": d.seq, "verb": d.action.verb(), "candidate": d.candidate }))
                .into_response()
        }
        Ok(None) => Json(json!({ "undone": null })).into_response(),
        Err(e) => error_response(e),
    }
}

async fn finish(State(app): State<Shared>) -> Response {
    let mut session = lock(&app);
    match session.finish() {
        Ok(Some((path, changes))) => {
            Json(json!({ "written": path.display().to_string(), "changes": changes }))
                .into_response()
        }
        Ok(None) => Json(json!({ "written": null, "changes": [] })).into_response(),
        Err(e) => error_response(e),
    }
}
