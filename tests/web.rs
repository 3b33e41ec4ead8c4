//! The review page (`terreno review RUN --web`) in headless Chromium, driven through WebDriver
//! (Debian's `chromium` and `chromium-driver`, installed by `make setup`, with `fantoccini`):
//! decisions by keyboard and by mouse equal those of a decisions file, the page talks to its
//! own loopback server only, requests without the token are refused, two browsers decide at
//! once, and a killed server resumes. Screenshots in `target/test-artifacts/`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::util::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// ChromeDriver on a free loopback port.
fn chromedriver() -> (Process, u16) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed by `make setup` (Debian package chromium-driver)");
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Process(child), port)
}

/// `terreno review RUN --web`: the process and the address it printed.
fn serve(run: &Path, extra: &[&str]) -> (Process, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_terreno"))
        .args(["review", "--web", "--no-browser", "--analyst", "tester"])
        .args(extra)
        .arg(run)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // The rest of what it prints, read so that it never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("/?token="), "printed {url:?}");
    (Process(child), url)
}

fn port_of(url: &str) -> u16 {
    url.trim_start_matches("http://127.0.0.1:").split('/').next().unwrap().parse().unwrap()
}

async fn browser(driver: u16, profile: &Path, size: (u32, u32)) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions",
                format!("--user-data-dir={}", profile.display()),
                format!("--window-size={},{}", size.0, size.1),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver}"))
        .await
        .expect("a Chromium session through chromedriver")
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// Waits until `script` returns true.
async fn until(c: &Client, script: &str, what: &str) {
    let start = Instant::now();
    loop {
        if js(c, script).await == json!(true) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn shown(c: &Client, id: &str) {
    until(c, &format!("return document.body.dataset.shown === {id:?}"), &format!("{id} shown"))
        .await;
}

async fn open(c: &Client, url: &str) {
    c.goto(url).await.unwrap();
    until(c, "return document.body.dataset.ready === '1'", "the page").await;
}

/// One key pressed where the focus is.
async fn key(c: &Client, k: char) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: k })
        .then(KeyAction::Up { value: k });
    c.perform_actions(keys).await.unwrap();
}

const ENTER: char = '\u{E007}';

/// Clicks the element; found again if the page redrew it between finding and clicking.
async fn click(c: &Client, css: &str) {
    for _ in 0..5 {
        match c.wait().for_element(Locator::Css(css)).await.unwrap().click().await {
            Ok(()) => return,
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference => {}
            Err(e) => panic!("clicking {css}: {e}"),
        }
    }
    panic!("{css} was redrawn five times in a row");
}

async fn type_into(c: &Client, css: &str, text: &str) {
    let e = c.wait().for_element(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// Whether the passage is among those the page lists.
async fn listed(c: &Client, passage: &str) -> Value {
    js(c, &format!("return [...document.querySelectorAll('#members li')].some(l => l.dataset.passage === {passage:?})")).await
}

async fn dialog_open(c: &Client) {
    until(c, "return document.getElementById('dialog').open", "the dialog").await;
}

/// The decisions recorded so far: the complete lines (the server may be halfway through
/// appending the next one, as the review's own reader allows).
fn decisions(run: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(run.join("decisions.jsonl")).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

async fn decided(c: &Client, run: &Path, n: usize) {
    let start = Instant::now();
    while decisions(run).len() < n {
        assert!(start.elapsed() < Duration::from_secs(20), "decision {n} was not recorded");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // The page has refreshed after it.
    until(
        c,
        "return !document.getElementById('dialog').open && document.body.dataset.shown !== ''",
        "the page after the decision",
    )
    .await;
}

/// One HTTP/1.1 request by hand; the response.
fn response(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Its status code.
fn status(port: u16, request: &str) -> u16 {
    response(port, request).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// The machine's addresses other than loopback.
fn other_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        assert_eq!(libc::getifaddrs(&mut list), 0);
        let mut cur = list;
        while !cur.is_null() {
            let a = (*cur).ifa_addr;
            if !a.is_null() && (*a).sa_family as i32 == libc::AF_INET {
                let sin = a as *const libc::sockaddr_in;
                let ip = IpAddr::from(u32::from_be((*sin).sin_addr.s_addr).to_be_bytes());
                if !ip.is_loopback() {
                    out.push(ip);
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    out
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn without_time(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("at");
    v
}

#[test]
fn review_page_decides_as_the_decisions_file_does_and_talks_only_to_its_server() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a/sample"), tmp.path().join("b/sample"));
    sample_run(&a, &[]);
    std::fs::create_dir_all(b.parent().unwrap()).unwrap();
    assert!(Command::new("cp").arg("-r").arg(&a).arg(&b).status().unwrap().success());
    let (_driver, driver) = chromedriver();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (server, url) = serve(&a, &[]);
    let port = port_of(&url);
    let moved = rt.block_on(async {
        let c = browser(driver, &tmp.path().join("profile1"), (1400, 1000)).await;
        open(&c, &url).await;
        // The token left the address bar for a cookie.
        assert_eq!(c.current_url().await.unwrap().as_str(), format!("http://127.0.0.1:{port}/"));
        shown(&c, "C01").await;
        // Confirm by keyboard.
        key(&c, 'c').await;
        dialog_open(&c).await;
        type_into(&c, "#d-name", "Vita nel quartiere").await;
        c.find(Locator::Css("#d-name")).await.unwrap().send_keys(&ENTER.to_string()).await.unwrap();
        decided(&c, &a, 1).await;
        // Rename by mouse.
        click(&c, "#tree li[data-id='C02']").await;
        shown(&c, "C02").await;
        click(&c, "button[data-act='rename']").await;
        dialog_open(&c).await;
        type_into(&c, "#d-name", "Il lavoro <b>e</b> la casa").await;
        click(&c, "#d-ok").await;
        decided(&c, &a, 2).await;
        // What the analyst typed is shown as text, never as markup.
        assert_eq!(
            js(&c, "const l = document.getElementById('c-label'); return [l.textContent, l.children.length]").await,
            json!(["Il lavoro <b>e</b> la casa", 0])
        );
        // Merge by mouse: C05 into C04.
        click(&c, "#tree li[data-id='C04']").await;
        shown(&c, "C04").await;
        click(&c, "button[data-act='merge']").await;
        dialog_open(&c).await;
        click(&c, "#d-pick input[value='C05']").await;
        click(&c, "#d-ok").await;
        decided(&c, &a, 3).await;
        // Reject with a reason, by keyboard.
        click(&c, "#tree li[data-id='C06']").await;
        shown(&c, "C06").await;
        key(&c, 'x').await;
        dialog_open(&c).await;
        type_into(&c, "#d-reason", "Risposte brevi senza tema").await;
        c.find(Locator::Css("#d-reason")).await.unwrap().send_keys(&ENTER.to_string()).await.unwrap();
        decided(&c, &a, 4).await;
        // Move C03's most central passage to C07 by mouse, undo by keyboard.
        click(&c, "#tree li[data-id='C03']").await;
        shown(&c, "C03").await;
        let first = c.find(Locator::Css("#members li")).await.unwrap();
        let moved = first.attr("data-passage").await.unwrap().unwrap();
        click(&c, "#members li:first-child button[data-tool='move']").await;
        dialog_open(&c).await;
        click(&c, "#d-to option[value='C07']").await;
        click(&c, "#d-ok").await;
        decided(&c, &a, 5).await;
        assert_eq!(
            listed(&c, &moved).await,
            json!(false),
            "the moved passage is still listed in C03"
        );
        key(&c, 'u').await;
        decided(&c, &a, 6).await;
        // Move it out of every candidate, by keyboard: focus it, v, choose, Enter.
        shown(&c, "C03").await;
        let li = format!("#members li[data-passage='{moved}']");
        c.wait().for_element(Locator::Css(&li)).await.unwrap();
        js(&c, &format!("document.querySelector(\"{li}\").focus(); return true")).await;
        key(&c, 'v').await;
        dialog_open(&c).await;
        click(&c, "#d-to option[value='']").await;
        click(&c, "#d-ok").await;
        decided(&c, &a, 7).await;
        click(&c, "#tree li[data-id='-']").await;
        shown(&c, "-").await;
        assert_eq!(
            listed(&c, &moved).await,
            json!(true),
            "the passage moved out is not among those in no code"
        );

        // A state-changing request with the cookie but without the header is refused.
        let refused = c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch('/api/decide', {method: 'POST', headers: {'Content-Type': 'application/json'},
                   body: JSON.stringify({candidate: 'C08', action: 'skip'})}).then(r => done(r.status));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(refused, json!(403));
        // Every request the page made went to its own server.
        let requests = js(&c, "return performance.getEntries().filter(e => e.entryType === 'navigation' || e.entryType === 'resource').map(e => e.name)").await;
        let requests: Vec<String> =
            requests.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        for path in ["/app.js", "/app.css", "/api/state", "/api/map", "/api/view", "/api/decide", "/api/undo"] {
            assert!(requests.iter().any(|r| r.contains(path)), "no request for {path}: {requests:?}");
        }
        let own = format!("http://127.0.0.1:{port}/");
        assert!(requests.iter().all(|r| r.starts_with(&own)), "{requests:?}");
        std::fs::write(artifacts().join("review-it.png"), c.screenshot().await.unwrap()).unwrap();
        c.close().await.unwrap();
        moved
    });
    assert_eq!(decisions(&a).len(), 7);

    // Without the token, nothing; with the cookie, the state; with another Host, nothing.
    let token = url.split("token=").nth(1).unwrap();
    let get = |path: &str, host: &str, cookie: &str| {
        status(
            port,
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n"),
        )
    };
    let here = format!("127.0.0.1:{port}");
    let cookie = format!("Cookie: terreno_token={token}\r\n");
    assert_eq!(get("/", &here, ""), 403);
    assert_eq!(get("/api/state", &here, ""), 403);
    assert_eq!(get("/?token=0123", &here, ""), 403);
    assert_eq!(get("/api/state", &here, "Cookie: terreno_token=0123\r\n"), 403);
    assert_eq!(get("/api/state", &here, &cookie), 200);
    // The page may load from its own server only.
    let page = response(
        port,
        &format!("GET / HTTP/1.1\r\nHost: {here}\r\n{cookie}Connection: close\r\n\r\n"),
    );
    assert!(
        page.to_lowercase()
            .contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{page}"
    );
    assert!(!page.contains("http://") && !page.contains("https://"), "the page names another site");
    assert_eq!(get("/api/state", &format!("rebound.example:{port}"), &cookie), 403);
    let post = format!("POST /api/undo HTTP/1.1\r\nHost: {here}\r\n{cookie}Content-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(status(port, &post), 403);
    // Nothing answers on the machine's other addresses.
    let others = other_addresses();
    assert!(!others.is_empty(), "this machine has no address but loopback to try");
    for ip in others {
        let r = TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_secs(2));
        assert!(r.is_err(), "the page answers on {ip}");
    }
    drop(server);

    // The same actions as a decisions file, on the copy: the same decisions, field by field.
    let script = tmp.path().join("decisions.toml");
    std::fs::write(
        &script,
        format!(
            r#"[[decision]]
candidate = "C01"
action = "confirm"
name = "Vita nel quartiere"
[[decision]]
candidate = "C02"
action = "rename"
name = "Il lavoro <b>e</b> la casa"
[[decision]]
candidate = "C05"
action = "merge"
into = "C04"
[[decision]]
candidate = "C06"
action = "reject"
reason = "Risposte brevi senza tema"
[[decision]]
candidate = "C03"
action = "move"
passage = "{moved}"
to = "C07"
[[decision]]
action = "undo"
[[decision]]
candidate = "C03"
action = "move"
passage = "{moved}"
to = ""
"#
        ),
    )
    .unwrap();
    terreno()
        .args(["review", "--analyst", "tester", "--decisions"])
        .arg(&script)
        .arg(&b)
        .assert()
        .success();
    let (web, file): (Vec<Value>, Vec<Value>) = (
        decisions(&a).into_iter().map(without_time).collect(),
        decisions(&b).into_iter().map(without_time).collect(),
    );
    assert_eq!(web, file);

    // Restarted after a kill: the page opens at the first open candidate (C02: C01 confirmed),
    // in English when asked; two browsers then decide at the same time.
    let (_server, url) = serve(&a, &["--lang", "en"]);
    rt.block_on(async {
        let (p2, p3) = (tmp.path().join("profile2"), tmp.path().join("profile3"));
        let (one, two) =
            tokio::join!(browser(driver, &p2, (1400, 1000)), browser(driver, &p3, (1400, 1000)));
        open(&one, &url).await;
        shown(&one, "C02").await;
        assert_eq!(js(&one, "return document.documentElement.lang").await, json!("en"));
        std::fs::write(artifacts().join("review-en.png"), one.screenshot().await.unwrap()).unwrap();
        open(&two, &url).await;
        click(&one, "#tree li[data-id='C08']").await;
        click(&two, "#tree li[data-id='C09']").await;
        shown(&one, "C08").await;
        shown(&two, "C09").await;
        let confirm = async {
            key(&one, 'c').await;
            dialog_open(&one).await;
            type_into(&one, "#d-name", "Ricordi di scuola").await;
            click(&one, "#d-ok").await;
        };
        let reject = async {
            click(&two, "button[data-act='reject']").await;
            dialog_open(&two).await;
            type_into(&two, "#d-reason", "Saluti").await;
            click(&two, "#d-ok").await;
        };
        tokio::join!(confirm, reject);
        let start = Instant::now();
        while decisions(&a).len() < 9 {
            assert!(start.elapsed() < Duration::from_secs(20), "a decision of the two was lost");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        // A memo on the category of C08, by mouse, shown under it.
        click(&one, "button[data-act='cat-memo']").await;
        dialog_open(&one).await;
        type_into(&one, "#d-memo", "Rivedere con il gruppo").await;
        click(&one, "#d-ok").await;
        until(&one, "return document.getElementById('c-details').textContent.includes('tester: Rivedere con il gruppo')", "the category's memo").await;
        one.close().await.unwrap();
        two.close().await.unwrap();
    });
    let all = decisions(&a);
    assert_eq!(all.len(), 10);
    assert_eq!(
        (all[9]["action"].as_str(), all[9]["memo"].as_str()),
        (Some("memo"), Some("Rivedere con il gruppo"))
    );
    assert!(all[9]["candidate"].as_str().unwrap().starts_with('K'), "{}", all[9]);
    let all = &all[..9];
    let seqs: Vec<u64> = all.iter().map(|d| d["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>(), "sequence numbers in file order, none shared");
    let last: Vec<(&str, &str)> = all[7..]
        .iter()
        .map(|d| (d["candidate"].as_str().unwrap(), d["action"].as_str().unwrap()))
        .collect();
    assert!(last.contains(&("C08", "confirm")) && last.contains(&("C09", "reject")), "{last:?}");

    // A re-run from the reviewed one carries the decisions forward, the move included.
    let c = tmp.path().join("c/sample");
    sample_run(&c, &["--from", a.to_str().unwrap()]);
    let carried = std::fs::read_to_string(c.join("decisions-carried.jsonl")).unwrap();
    assert_eq!(carried.lines().count(), 10);
    let file: Value =
        serde_json::from_slice(&std::fs::read(c.join("candidates.json")).unwrap()).unwrap();
    let cands = file["candidates"].as_array().unwrap();
    let prior =
        |decision: &str| cands.iter().filter(|c| c["prior"]["decision"] == json!(decision)).count();
    assert!(prior("confirmed") >= 2 && prior("rejected") >= 2, "{}", prior("confirmed"));
    assert!(cands.iter().any(|c| c["label"] == json!("Vita nel quartiere")));
    assert!(
        cands.iter().all(|c| !c["passage_ids"].as_array().unwrap().contains(&json!(moved))),
        "the passage moved out of every candidate is back in one"
    );
}
