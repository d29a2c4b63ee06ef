//! `execd-binance-sim` end to end: the real binary on a `--port 0` socket, driven with
//! requests signed by a small signer written here from Binance's documentation (not
//! execd's client), and WebSocket clients on its market and user-data streams. Every
//! wait is bounded; the simulator is killed when a test ends, even on panic.
//!
//! The signature tests replay the examples published in Binance's API docs byte for
//! byte: the spot REST HMAC example (secret, query, signature c8db5682…), and the
//! Ed25519 example key with its computed signature from the spot FIX API docs.

use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

const WAIT: Duration = Duration::from_secs(10);

/// The example keys of Binance's spot REST / WebSocket API docs ("SIGNED Endpoint
/// Examples for POST /api/v3/order", HMAC Keys).
const DOC_API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
/// The Ed25519 private key published in the spot FIX API docs (Logon signature example).
const DOC_ED25519_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n-----END PRIVATE KEY-----\n";
const ED_API_KEY: &str = "4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------- the simulator process

struct Sim {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    port: u16,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    fn start(protocol: &str, extra: &[&str]) -> Sim {
        let mut args = vec![
            "--protocol",
            protocol,
            "--port",
            "0",
            "--api-key",
            DOC_API_KEY,
            "--volatility-bps",
            "0",
            "--tick-ms",
            "20",
        ];
        args.extend_from_slice(extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_execd-binance-sim"))
            .args(&args)
            .env("BINANCE_SIM_SECRET", DOC_SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("simulator starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let first = lines.recv_timeout(WAIT).expect("listening line");
        let v: Value = serde_json::from_str(&first).unwrap();
        assert_eq!(v["type"], "listening", "{first}");
        assert_eq!(v["protocol"], protocol);
        let port = v["port"].as_u64().unwrap() as u16;
        Sim {
            child,
            stdin,
            lines,
            port,
        }
    }

    /// A control command and its one-line answer.
    fn cmd(&mut self, line: &str) -> Value {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        let l = self.lines.recv_timeout(WAIT).expect("control answer");
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_ne!(v["type"], "error", "{line}: {l}");
        v
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn ws(&self, path: &str) -> Ws {
        let (mut ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{}{path}", self.port))
            .expect("ws connects");
        if let MaybeTlsStream::Plain(s) = ws.get_mut() {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
        }
        Ws(ws)
    }
}

// ---------------------------------------------------------------- REST with a signer

struct Resp {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(0)
    }
}

fn send(method: &str, url: &str, key: Option<&str>, body: Option<&str>) -> Resp {
    let mut r = ureq::request(method, url).timeout(WAIT);
    if let Some(k) = key {
        r = r.set("X-MBX-APIKEY", k);
    }
    let res = match body {
        Some(b) => r
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_string(b),
        None => r.call(),
    };
    let resp = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .filter_map(|n| resp.header(&n).map(|v| (n.clone(), v.to_string())))
        .collect();
    let text = resp.into_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        body,
        headers,
    }
}

fn hmac_hex(secret: &str, payload: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(payload.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Percent-encoding as Binance asks for (RFC 3986 unreserved characters kept).
fn pct(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn query(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A signed request with the HMAC doc key: parameters in the query string plus
/// `timestamp`, `signature` last.
fn signed(sim: &Sim, method: &str, path: &str, params: &[(&str, &str)]) -> Resp {
    let ts = now_ms().to_string();
    let mut p = params.to_vec();
    p.push(("timestamp", &ts));
    let q = query(&p);
    let sig = hmac_hex(DOC_SECRET, &q);
    send(
        method,
        &sim.url(&format!("{path}?{q}&signature={sig}")),
        Some(DOC_API_KEY),
        None,
    )
}

fn ok(r: Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

// ---------------------------------------------------------------- WebSocket client

struct Ws(WebSocket<MaybeTlsStream<TcpStream>>);

impl Ws {
    fn send(&mut self, v: &Value) {
        self.0.send(Message::Text(v.to_string().into())).unwrap();
    }

    /// The next JSON text message satisfying `want`, within WAIT.
    fn wait(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + WAIT;
        while Instant::now() < end {
            match self.0.read() {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if want(&v) {
                        return v;
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("waiting for {what}: {e}"),
            }
        }
        panic!("no {what} within {WAIT:?}");
    }

    /// Whether the server ends the connection within WAIT (no close frame needed).
    fn ends(&mut self) -> bool {
        let end = Instant::now() + WAIT;
        while Instant::now() < end {
            match self.0.read() {
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

/// A spot user-data subscription through the WebSocket API with the HMAC doc key.
fn spot_user_stream(sim: &Sim) -> Ws {
    let mut ws = sim.ws("/ws-api/v3");
    let ts = now_ms();
    let payload = format!("apiKey={DOC_API_KEY}&timestamp={ts}");
    let sig = hmac_hex(DOC_SECRET, &payload);
    ws.send(
        &json!({"id": "sub", "method": "userDataStream.subscribe.signature",
        "params": {"apiKey": DOC_API_KEY, "timestamp": ts, "signature": sig}}),
    );
    let r = ws.wait("subscribe answer", |v| v["id"] == "sub");
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["result"]["subscriptionId"], 0);
    ws
}

fn report<'a>(x: &'a str, id: u64) -> impl Fn(&Value) -> bool + 'a {
    move |v: &Value| {
        v["event"]["e"] == "executionReport" && v["event"]["x"] == x && v["event"]["i"] == id
    }
}

// ---------------------------------------------------------------- tests

#[test]
fn docs_hmac_example_is_accepted_byte_for_byte() {
    // The example's timestamp is from 2017: move the server's clock there.
    let mut sim = Sim::start(
        "spot",
        &[
            "--symbols",
            "LTCBTC",
            "--min-notional",
            "0.0001",
            "--tick-size",
            "0.00001",
        ],
    );
    let skew = 1_499_827_319_559 + 200 - now_ms();
    sim.cmd(&format!("skew-ms {skew}"));
    let q = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    // Our signer agrees with the docs before the simulator is asked.
    assert_eq!(
        hmac_hex(DOC_SECRET, q),
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    );
    let url = sim.url(&format!("/api/v3/order?{q}&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"));
    let r = ok(send("POST", &url, Some(DOC_API_KEY), None));
    assert_eq!(r["symbol"], "LTCBTC");
    assert_eq!(r["status"], "NEW");
    assert_eq!(r["price"], "0.10000000");
    // HMAC signatures are case-insensitive.
    let url = sim.url(&format!("/api/v3/order?{q}&signature=C8DB56825AE71D6D79447849E617115F4A920FA2ACDCAB2B053C4B2838BD6B71"));
    assert_eq!(send("POST", &url, Some(DOC_API_KEY), None).status, 200);
    // One digit off: -1022.
    let url = sim.url(&format!("/api/v3/order?{q}&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b70"));
    let r = send("POST", &url, Some(DOC_API_KEY), None);
    assert_eq!((r.status, r.code()), (400, -1022), "{}", r.body);
    assert_eq!(r.body["msg"], "Signature for this request is not valid.");
    // The docs' mixed form: part of the parameters in the body, signed as query + body.
    let (qs, body) = (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
        "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
    );
    let sig = hmac_hex(DOC_SECRET, &format!("{qs}{body}"));
    assert_eq!(
        sig,
        "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
    );
    let r = send(
        "POST",
        &sim.url(&format!("/api/v3/order?{qs}&signature={sig}")),
        Some(DOC_API_KEY),
        Some(body),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // The non-ASCII example signs the percent-encoded query.
    let q2 = "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    assert_eq!(
        hmac_hex(DOC_SECRET, q2),
        "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
    );
    let url = sim.url(&format!("/api/v3/order?{q2}&signature=e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"));
    let r = send("POST", &url, Some(DOC_API_KEY), None);
    // The signature holds; the symbol is not one the simulator lists.
    assert_eq!((r.status, r.code()), (400, -1121), "{}", r.body);
}

#[test]
fn docs_ed25519_key_signs_rest_and_websocket_api_requests() {
    let sk = SigningKey::from_pkcs8_pem(DOC_ED25519_PRIVATE).unwrap();
    // The FIX docs' computed signature of their Logon payload: our signer is the docs'.
    let payload = "A\x01EXAMPLE\x01SPOT\x011\x0120240627-11:17:25.223";
    let sig =
        base64::engine::general_purpose::STANDARD.encode(sk.sign(payload.as_bytes()).to_bytes());
    assert_eq!(
        sig,
        "4MHXelVVcpkdwuLbl6n73HQUXUf1dse2PCgT1DYqW9w8AVZ1RACFGM+5UdlGPrQHrgtS3CvsRURC1oj73j8gCA=="
    );
    let pem = sk
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap();
    let file = std::env::temp_dir().join(format!("binance-sim-ed25519-{}.pem", std::process::id()));
    std::fs::write(&file, pem).unwrap();
    let mut sim = Sim::start(
        "spot",
        &[
            "--ed25519-api-key",
            ED_API_KEY,
            "--ed25519-public-key-file",
            file.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_file(&file);
    // REST: base64 signature, percent-encoded in the query string.
    let q = format!("symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=1&price=200&timestamp={}&recvWindow=5000", now_ms());
    let sig = base64::engine::general_purpose::STANDARD.encode(sk.sign(q.as_bytes()).to_bytes());
    let url = sim.url(&format!("/api/v3/order?{q}&signature={}", pct(&sig)));
    let r = ok(send("POST", &url, Some(ED_API_KEY), None));
    assert_eq!(r["status"], "NEW");
    // Ed25519 signatures are case-sensitive.
    let url = sim.url(&format!(
        "/api/v3/order?{q}&signature={}",
        pct(&sig.to_lowercase())
    ));
    assert_eq!(send("POST", &url, Some(ED_API_KEY), None).code(), -1022);
    // WebSocket API: session.logon (Ed25519 only), then a user-data subscription.
    let mut ws = sim.ws("/ws-api/v3");
    let ts = now_ms();
    let p = format!("apiKey={ED_API_KEY}&timestamp={ts}");
    let sig = base64::engine::general_purpose::STANDARD.encode(sk.sign(p.as_bytes()).to_bytes());
    ws.send(&json!({"id": 1, "method": "session.logon", "params": {"apiKey": ED_API_KEY, "timestamp": ts, "signature": sig}}));
    let r = ws.wait("logon", |v| v["id"] == 1);
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["result"]["apiKey"], ED_API_KEY);
    ws.send(&json!({"id": 2, "method": "userDataStream.subscribe"}));
    let r = ws.wait("subscribe", |v| v["id"] == 2);
    assert_eq!(r["result"]["subscriptionId"], 0, "{r}");
    let id = r["result"]["subscriptionId"].as_u64().unwrap();
    let order = ok(signed(
        &sim,
        "POST",
        "/api/v3/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "0.5"),
        ],
    ));
    let oid = order["orderId"].as_u64().unwrap();
    let ev = ws.wait("fill report", report("TRADE", oid));
    assert_eq!(ev["subscriptionId"], id);
    // An HMAC key cannot log a session on.
    let ts = now_ms();
    let sig = hmac_hex(DOC_SECRET, &format!("apiKey={DOC_API_KEY}&timestamp={ts}"));
    ws.send(&json!({"id": 3, "method": "session.logon", "params": {"apiKey": DOC_API_KEY, "timestamp": ts, "signature": sig}}));
    let r = ws.wait("hmac logon", |v| v["id"] == 3);
    assert_eq!(r["status"], 400, "{r}");
    sim.cmd("status");
}

#[test]
fn spot_limit_order_rests_fills_and_reports_on_the_user_stream() {
    let mut sim = Sim::start("spot", &[]);
    let mut ws = spot_user_stream(&sim);
    // exchangeInfo carries the filters a client needs.
    let info = ok(send(
        "GET",
        &sim.url("/api/v3/exchangeInfo?symbol=BTCUSDT"),
        None,
        None,
    ));
    let filters = &info["symbols"][0]["filters"];
    assert_eq!(filters[0]["filterType"], "PRICE_FILTER");
    assert_eq!(filters[0]["tickSize"], "0.01000000");
    assert_eq!(filters[1]["stepSize"], "0.00100000");
    assert_eq!(filters[3]["filterType"], "NOTIONAL");
    let bt = ok(send(
        "GET",
        &sim.url("/api/v3/ticker/bookTicker?symbol=BTCUSDT"),
        None,
        None,
    ));
    assert_eq!(
        (bt["bidPrice"].as_str(), bt["askPrice"].as_str()),
        (Some("99.99000000"), Some("100.01000000"))
    );
    let r = signed(
        &sim,
        "POST",
        "/api/v3/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "2"),
            ("price", "99.50"),
            ("newClientOrderId", "rest-1"),
        ],
    );
    assert!(
        r.header("X-MBX-ORDER-COUNT-10S").is_some() && r.header("X-MBX-USED-WEIGHT-1M").is_some()
    );
    let r = ok(r);
    assert_eq!(
        (r["status"].as_str(), r["clientOrderId"].as_str()),
        (Some("NEW"), Some("rest-1"))
    );
    assert_eq!(r["fills"], json!([]));
    let id = r["orderId"].as_u64().unwrap();
    let ev = ws.wait("NEW report", report("NEW", id));
    assert_eq!(ev["event"]["c"], "rest-1");
    assert_eq!(ev["event"]["p"], "99.50000000");
    ws.wait("locked balance", |v| {
        v["event"]["e"] == "outboundAccountPosition"
    });
    let acct = ok(signed(&sim, "GET", "/api/v3/account", &[]));
    let usdt = acct["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "USDT")
        .unwrap()
        .clone();
    assert_eq!(
        (usdt["free"].as_str(), usdt["locked"].as_str()),
        (Some("99801.00000000"), Some("199.00000000"))
    );
    // The path falls through the limit: a maker fill at the limit price.
    sim.cmd("price BTCUSDT 99");
    let ev = ws.wait("fill report", report("TRADE", id));
    assert_eq!(
        (ev["event"]["X"].as_str(), ev["event"]["L"].as_str()),
        (Some("FILLED"), Some("99.50000000"))
    );
    assert_eq!(ev["event"]["m"], true);
    assert_eq!(ev["event"]["N"], "BTC");
    assert_eq!(ev["event"]["n"], "0.00200000");
    let q = ok(signed(
        &sim,
        "GET",
        "/api/v3/order",
        &[("symbol", "BTCUSDT"), ("origClientOrderId", "rest-1")],
    ));
    assert_eq!(
        (q["status"].as_str(), q["executedQty"].as_str()),
        (Some("FILLED"), Some("2.00000000"))
    );
    let acct = ok(signed(&sim, "GET", "/api/v3/account", &[]));
    let bal = |a: &str| {
        acct["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["asset"] == a)
            .unwrap()["free"]
            .clone()
    };
    assert_eq!(bal("USDT"), "99801.00000000");
    assert_eq!(bal("BTC"), "101.99800000");
    // MARKET at the top of book, with FULL fills; partial pieces on request.
    sim.cmd("fill-partial 4");
    let r = ok(signed(
        &sim,
        "POST",
        "/api/v3/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "MARKET"),
            ("quantity", "1"),
        ],
    ));
    assert_eq!(r["status"], "FILLED");
    assert_eq!(r["fills"].as_array().unwrap().len(), 4);
    assert_eq!(r["fills"][0]["price"], "98.99000000");
    // A resting order fills one piece per price step: PARTIALLY_FILLED first.
    let r = ok(signed(
        &sim,
        "POST",
        "/api/v3/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "101"),
        ],
    ));
    let id = r["orderId"].as_u64().unwrap();
    sim.cmd("price BTCUSDT 102");
    let ev = ws.wait("partial", report("TRADE", id));
    assert_eq!(
        (ev["event"]["X"].as_str(), ev["event"]["l"].as_str()),
        (Some("PARTIALLY_FILLED"), Some("0.25000000"))
    );
    let ev = ws.wait("last piece", |v| {
        report("TRADE", id)(v) && v["event"]["X"] == "FILLED"
    });
    assert_eq!(ev["event"]["z"], "1.00000000");
    // STOP_LOSS_LIMIT: off the book until the price falls to the stop, then takes.
    sim.cmd("fill-partial 1");
    let r = ok(signed(
        &sim,
        "POST",
        "/api/v3/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "STOP_LOSS_LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "95"),
            ("stopPrice", "96"),
            ("newOrderRespType", "RESULT"),
        ],
    ));
    assert_eq!(r["status"], "NEW");
    let id = r["orderId"].as_u64().unwrap();
    let ev = ws.wait("stop NEW", report("NEW", id));
    assert_eq!(
        (ev["event"]["w"].as_bool(), ev["event"]["P"].as_str()),
        (Some(false), Some("96.00000000"))
    );
    sim.cmd("price BTCUSDT 97");
    let q = ok(signed(
        &sim,
        "GET",
        "/api/v3/order",
        &[("symbol", "BTCUSDT"), ("orderId", &id.to_string())],
    ));
    assert_eq!(
        (q["status"].as_str(), q["isWorking"].as_bool()),
        (Some("NEW"), Some(false))
    );
    sim.cmd("price BTCUSDT 95.5");
    let ev = ws.wait("stop fill", report("TRADE", id));
    assert_eq!(
        (
            ev["event"]["X"].as_str(),
            ev["event"]["L"].as_str(),
            ev["event"]["m"].as_bool()
        ),
        (Some("FILLED"), Some("95.49000000"), Some(false))
    );
}

#[test]
fn spot_cancel_query_and_cancel_replace() {
    let sim = Sim::start("spot", &[]);
    let mut ws = spot_user_stream(&sim);
    let limit = |cl: &str, px: &str| {
        ok(signed(
            &sim,
            "POST",
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "1"),
                ("price", px),
                ("newClientOrderId", cl),
            ],
        ))
    };
    let a = limit("a-1", "90");
    let a_id = a["orderId"].as_u64().unwrap().to_string();
    // A duplicate client id among open orders.
    let r = signed(
        &sim,
        "POST",
        "/api/v3/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "90"),
            ("newClientOrderId", "a-1"),
        ],
    );
    assert_eq!(
        (r.code(), r.body["msg"].as_str()),
        (-2010, Some("Duplicate order sent."))
    );
    let open = ok(signed(
        &sim,
        "GET",
        "/api/v3/openOrders",
        &[("symbol", "BTCUSDT")],
    ));
    assert_eq!(open.as_array().unwrap().len(), 1);
    // Cancel-replace: a-1 out, b-1 in.
    let r = ok(signed(
        &sim,
        "POST",
        "/api/v3/order/cancelReplace",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("cancelReplaceMode", "STOP_ON_FAILURE"),
            ("timeInForce", "GTC"),
            ("quantity", "2"),
            ("price", "91"),
            ("cancelOrderId", &a_id),
            ("newClientOrderId", "b-1"),
        ],
    ));
    assert_eq!(
        (r["cancelResult"].as_str(), r["newOrderResult"].as_str()),
        (Some("SUCCESS"), Some("SUCCESS"))
    );
    assert_eq!(r["cancelResponse"]["status"], "CANCELED");
    assert_eq!(r["cancelResponse"]["origClientOrderId"], "a-1");
    assert_eq!(r["newOrderResponse"]["clientOrderId"], "b-1");
    let ev = ws.wait(
        "cancel report",
        report("CANCELED", a["orderId"].as_u64().unwrap()),
    );
    assert_eq!(ev["event"]["C"], "a-1");
    // The cancelled order stays queryable; cancelling it again is an unknown order.
    let q = ok(signed(
        &sim,
        "GET",
        "/api/v3/order",
        &[("symbol", "BTCUSDT"), ("orderId", &a_id)],
    ));
    assert_eq!(q["status"], "CANCELED");
    let r = signed(
        &sim,
        "DELETE",
        "/api/v3/order",
        &[("symbol", "BTCUSDT"), ("orderId", &a_id)],
    );
    assert_eq!(
        (r.status, r.code(), r.body["msg"].as_str()),
        (400, -2011, Some("Unknown order sent."))
    );
    // Cancel-replace of an order that does not exist.
    let r = signed(
        &sim,
        "POST",
        "/api/v3/order/cancelReplace",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("cancelReplaceMode", "STOP_ON_FAILURE"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "91"),
            ("cancelOrderId", "999999"),
        ],
    );
    assert_eq!((r.status, r.code()), (400, -2022), "{}", r.body);
    assert_eq!(r.body["data"]["newOrderResult"], "NOT_ATTEMPTED");
    assert_eq!(r.body["data"]["cancelResponse"]["code"], -2011);
    // cancelRestrictions: b-1 has filled nothing, so ONLY_PARTIALLY_FILLED keeps it.
    let r = signed(
        &sim,
        "POST",
        "/api/v3/order/cancelReplace",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("cancelReplaceMode", "STOP_ON_FAILURE"),
            ("cancelRestrictions", "ONLY_PARTIALLY_FILLED"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "91"),
            ("cancelOrigClientOrderId", "b-1"),
            ("newClientOrderId", "c-1"),
        ],
    );
    assert_eq!((r.status, r.code()), (400, -2022), "{}", r.body);
    assert_eq!(r.body["data"]["newOrderResult"], "NOT_ATTEMPTED");
    assert_eq!(
        r.body["data"]["cancelResponse"]["msg"],
        "Order was not canceled due to cancel restrictions."
    );
    // Cancel by origClientOrderId.
    let r = ok(signed(
        &sim,
        "DELETE",
        "/api/v3/order",
        &[("symbol", "BTCUSDT"), ("origClientOrderId", "b-1")],
    ));
    assert_eq!(
        (r["status"].as_str(), r["origClientOrderId"].as_str()),
        (Some("CANCELED"), Some("b-1"))
    );
    let r = signed(
        &sim,
        "GET",
        "/api/v3/order",
        &[("symbol", "BTCUSDT"), ("orderId", "424242")],
    );
    assert_eq!(
        (r.code(), r.body["msg"].as_str()),
        (-2013, Some("Order does not exist."))
    );
    assert_eq!(
        ok(signed(&sim, "GET", "/api/v3/openOrders", &[])),
        json!([])
    );
}

#[test]
fn spot_rejections_carry_binance_codes() {
    let mut sim = Sim::start("spot", &[]);
    let order = |extra: &[(&str, &str)]| {
        let mut p = vec![
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
        ];
        p.extend_from_slice(extra);
        signed(&sim, "POST", "/api/v3/order", &p)
    };
    let r = order(&[("quantity", "1"), ("price", "99.505")]);
    assert_eq!(
        (r.status, r.code(), r.body["msg"].as_str()),
        (400, -1013, Some("Filter failure: PRICE_FILTER"))
    );
    let r = order(&[("quantity", "1.0005"), ("price", "99")]);
    assert_eq!(
        (r.code(), r.body["msg"].as_str()),
        (-1013, Some("Filter failure: LOT_SIZE"))
    );
    let r = order(&[("quantity", "0.01"), ("price", "99")]);
    assert_eq!(
        (r.code(), r.body["msg"].as_str()),
        (-1013, Some("Filter failure: NOTIONAL"))
    );
    let r = order(&[("quantity", "5000"), ("price", "99")]);
    assert_eq!(
        (r.code(), r.body["msg"].as_str()),
        (
            -2010,
            Some("Account has insufficient balance for requested action.")
        )
    );
    let r = order(&[("price", "99")]);
    assert_eq!(r.code(), -1102);
    let r = signed(
        &sim,
        "POST",
        "/api/v3/order",
        &[
            ("symbol", "NOPEUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "1"),
        ],
    );
    assert_eq!(r.code(), -1121);
    // Stop-loss that would fire at once.
    let r = signed(
        &sim,
        "POST",
        "/api/v3/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "STOP_LOSS_LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "100"),
            ("stopPrice", "101"),
        ],
    );
    assert_eq!(
        (r.code(), r.body["msg"].as_str()),
        (-2010, Some("Order would trigger immediately."))
    );
    // Key and signature.
    let r = send(
        "GET",
        &sim.url("/api/v3/account?timestamp=1&signature=00"),
        None,
        None,
    );
    assert_eq!((r.status, r.code()), (401, -2014));
    let r = send(
        "GET",
        &sim.url(&format!(
            "/api/v3/account?timestamp={}&signature=00",
            now_ms()
        )),
        Some("nobody"),
        None,
    );
    assert_eq!((r.status, r.code()), (401, -2015));
    let q = format!("timestamp={}", now_ms());
    let sig = hmac_hex("not the secret", &q);
    let r = send(
        "GET",
        &sim.url(&format!("/api/v3/account?{q}&signature={sig}")),
        Some(DOC_API_KEY),
        None,
    );
    assert_eq!((r.status, r.code()), (400, -1022));
    // Timing: stale, outside an explicit recvWindow, ahead of the server, server clock skewed.
    let stale = (now_ms() - 6000).to_string();
    let q = format!("timestamp={stale}");
    let r = send(
        "GET",
        &sim.url(&format!(
            "/api/v3/account?{q}&signature={}",
            hmac_hex(DOC_SECRET, &q)
        )),
        Some(DOC_API_KEY),
        None,
    );
    assert_eq!(
        (r.code(), r.body["msg"].as_str()),
        (
            -1021,
            Some("Timestamp for this request is outside of the recvWindow.")
        )
    );
    let q = format!("recvWindow=10000&timestamp={stale}");
    let r = send(
        "GET",
        &sim.url(&format!(
            "/api/v3/account?{q}&signature={}",
            hmac_hex(DOC_SECRET, &q)
        )),
        Some(DOC_API_KEY),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let q = format!("timestamp={}", now_ms() + 3000);
    let r = send(
        "GET",
        &sim.url(&format!(
            "/api/v3/account?{q}&signature={}",
            hmac_hex(DOC_SECRET, &q)
        )),
        Some(DOC_API_KEY),
        None,
    );
    assert_eq!(
        (r.code(), r.body["msg"].as_str()),
        (
            -1021,
            Some("Timestamp for this request was 1000ms ahead of the server's time.")
        )
    );
    sim.cmd("skew-ms 8000");
    let r = signed(&sim, "GET", "/api/v3/account", &[]);
    assert_eq!(r.code(), -1021);
    sim.cmd("skew-ms 0");
    assert_eq!(signed(&sim, "GET", "/api/v3/account", &[]).status, 200);
    // The retired spot listen-key endpoints are gone (2026-02-20).
    assert_eq!(
        send(
            "POST",
            &sim.url("/api/v3/userDataStream"),
            Some(DOC_API_KEY),
            None
        )
        .status,
        404
    );
}

#[test]
fn throttle_storm_answers_429_with_retry_after_then_bans() {
    let mut sim = Sim::start("spot", &["--ban-secs", "2"]);
    let ping_url = sim.url("/api/v3/ping");
    let ping = || send("GET", &ping_url, None, None);
    let r = ping();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-MBX-USED-WEIGHT-1M"), Some("1"));
    // A client that waits out Retry-After is served again, never banned.
    sim.cmd("throttle 2 1");
    let r = ping();
    assert_eq!((r.status, r.code()), (429, -1003));
    assert_eq!(r.header("Retry-After"), Some("1"));
    std::thread::sleep(Duration::from_millis(1100));
    let r = ping();
    assert_eq!(r.status, 429);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(ping().status, 200);
    // One that keeps sending inside Retry-After is banned: 418, Retry-After = the ban.
    sim.cmd("throttle 1 5");
    assert_eq!(ping().status, 429);
    assert_eq!(ping().status, 429);
    assert_eq!(ping().status, 429);
    let r = ping();
    assert_eq!((r.status, r.code()), (418, -1003), "{}", r.body);
    let secs: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=2).contains(&secs), "{secs}");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(ping().status, 200);
    // The weight limit itself.
    drop(sim);
    let sim = Sim::start("spot", &["--weight-limit", "3"]);
    let statuses: Vec<u16> = (0..4)
        .map(|_| send("GET", &sim.url("/api/v3/ping"), None, None).status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    let mut sim = sim;
    let v = sim.cmd("ban 30");
    assert_eq!(v["secs"], 30);
    let r = send("GET", &sim.url("/api/v3/time"), None, None);
    assert_eq!(r.status, 418);
    sim.cmd("unban");
}

#[test]
fn drop_stream_closes_market_and_user_streams() {
    let mut sim = Sim::start("spot", &[]);
    let mut raw = sim.ws("/ws/btcusdt@bookTicker");
    let t = raw.wait("bookTicker", |v| v["s"] == "BTCUSDT");
    assert_eq!(
        (t["b"].as_str(), t["a"].as_str()),
        (Some("99.99000000"), Some("100.01000000"))
    );
    let mut comb = sim.ws("/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker");
    comb.wait("combined ETH", |v| {
        v["stream"] == "ethusdt@bookTicker" && v["data"]["s"] == "ETHUSDT"
    });
    let mut live = sim.ws("/ws");
    live.send(&json!({"method": "SUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 7}));
    live.wait("subscribe ack", |v| v["id"] == 7 && v["result"].is_null());
    live.wait("ETH ticker", |v| v["s"] == "ETHUSDT");
    let mut user = spot_user_stream(&sim);
    let v = sim.cmd("drop-stream");
    assert!(v["closed"].as_u64().unwrap() >= 4, "{v}");
    assert!(raw.ends() && comb.ends() && live.ends() && user.ends());
    // A client reconnects and is served again.
    let mut again = sim.ws("/ws/btcusdt@bookTicker");
    again.wait("bookTicker after reconnect", |v| v["s"] == "BTCUSDT");
    // `quit` ends the process even with a stream still open.
    writeln!(sim.stdin, "quit").unwrap();
    sim.stdin.flush().unwrap();
    let last: Value = serde_json::from_str(&sim.lines.recv_timeout(WAIT).unwrap()).unwrap();
    assert_eq!(last["type"], "final");
    let end = Instant::now() + WAIT;
    while sim.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "still running after quit");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(again.ends());
}

#[test]
fn usdm_orders_positions_reduce_only_and_user_stream() {
    let mut sim = Sim::start("usdm", &["--tick-size", "0.1"]);
    // Listen key: API key only, no signature.
    let r = send("POST", &sim.url("/fapi/v1/listenKey"), None, None);
    assert_eq!(r.code(), -2014);
    let key = ok(send(
        "POST",
        &sim.url("/fapi/v1/listenKey"),
        Some(DOC_API_KEY),
        None,
    ))["listenKey"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(key.len(), 64);
    assert_eq!(
        ok(send(
            "PUT",
            &sim.url("/fapi/v1/listenKey"),
            Some(DOC_API_KEY),
            None
        ))["listenKey"],
        key
    );
    let mut ws = sim.ws(&format!("/ws/{key}"));
    let mut private = sim.ws(&format!("/private/ws?listenKey={key}"));
    let mut combined = sim.ws(&format!("/stream?streams={key}/btcusdt@bookTicker"));
    let mut market = sim.ws("/public/ws/btcusdt@bookTicker");
    let t = market.wait("futures bookTicker", |v| v["e"] == "bookTicker");
    assert_eq!(
        (t["b"].as_str(), t["a"].as_str()),
        (Some("99.9"), Some("100.1"))
    );
    let info = ok(send("GET", &sim.url("/fapi/v1/exchangeInfo"), None, None));
    let f = &info["symbols"][0]["filters"];
    assert_eq!(
        (f[0]["tickSize"].as_str(), f[1]["stepSize"].as_str()),
        (Some("0.1"), Some("0.001"))
    );
    assert_eq!(f[5]["filterType"], "MIN_NOTIONAL");
    // reduceOnly with no position: -2022.
    let r = signed(
        &sim,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "MARKET"),
            ("quantity", "1"),
            ("reduceOnly", "true"),
        ],
    );
    assert_eq!(
        (r.code(), r.body["msg"].as_str()),
        (-2022, Some("ReduceOnly Order is rejected."))
    );
    // Buy 2 at market: position +2 at the ask.
    let r = ok(signed(
        &sim,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "2"),
            ("newClientOrderId", "f-1"),
            ("newOrderRespType", "RESULT"),
        ],
    ));
    assert_eq!(
        (r["status"].as_str(), r["avgPrice"].as_str()),
        (Some("FILLED"), Some("100.1"))
    );
    let ev = ws.wait("ORDER_TRADE_UPDATE", |v| {
        v["e"] == "ORDER_TRADE_UPDATE" && v["o"]["x"] == "TRADE"
    });
    assert_eq!(
        (
            ev["o"]["c"].as_str(),
            ev["o"]["X"].as_str(),
            ev["o"]["L"].as_str()
        ),
        (Some("f-1"), Some("FILLED"), Some("100.1"))
    );
    private.wait("ORDER_TRADE_UPDATE on /private", |v| {
        v["e"] == "ORDER_TRADE_UPDATE" && v["o"]["c"] == "f-1"
    });
    let ev = combined.wait("wrapped ORDER_TRADE_UPDATE", |v| {
        v["stream"] == key.as_str() && v["data"]["e"] == "ORDER_TRADE_UPDATE"
    });
    assert_eq!(ev["data"]["o"]["c"], "f-1");
    let ev = ws.wait("ACCOUNT_UPDATE", |v| v["e"] == "ACCOUNT_UPDATE");
    assert_eq!(
        (
            ev["a"]["P"][0]["pa"].as_str(),
            ev["a"]["P"][0]["ep"].as_str()
        ),
        (Some("2"), Some("100.1"))
    );
    let pr = ok(signed(
        &sim,
        "GET",
        "/fapi/v3/positionRisk",
        &[("symbol", "BTCUSDT")],
    ));
    assert_eq!(pr[0]["positionAmt"], "2");
    // Increasing with reduceOnly is refused; reducing is filled and clipped to the position.
    let r = signed(
        &sim,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "1"),
            ("reduceOnly", "true"),
        ],
    );
    assert_eq!(r.code(), -2022);
    // Conditional orders moved to the Algo Service.
    let r = signed(
        &sim,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "STOP_MARKET"),
            ("quantity", "1"),
            ("stopPrice", "90"),
        ],
    );
    assert_eq!(r.code(), -4120);
    let a = ok(signed(
        &sim,
        "POST",
        "/fapi/v1/algoOrder",
        &[
            ("algoType", "CONDITIONAL"),
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "STOP_MARKET"),
            ("quantity", "1"),
            ("triggerPrice", "95"),
            ("reduceOnly", "true"),
            ("clientAlgoId", "stop-1"),
        ],
    ));
    assert_eq!(a["algoStatus"], "NEW");
    sim.cmd("price BTCUSDT 94");
    ws.wait("algo triggering", |v| {
        v["e"] == "ALGO_UPDATE" && v["o"]["X"] == "TRIGGERING"
    });
    let ev = ws.wait("stop fill", |v| {
        v["e"] == "ORDER_TRADE_UPDATE" && v["o"]["c"] == "stop-1" && v["o"]["X"] == "FILLED"
    });
    assert_eq!(
        (ev["o"]["R"].as_bool(), ev["o"]["L"].as_str()),
        (Some(true), Some("93.9"))
    );
    ws.wait("algo finished", |v| {
        v["e"] == "ALGO_UPDATE" && v["o"]["X"] == "FINISHED"
    });
    let pr = ok(signed(
        &sim,
        "GET",
        "/fapi/v3/positionRisk",
        &[("symbol", "BTCUSDT")],
    ));
    assert_eq!(pr[0]["positionAmt"], "1");
    // A resting LIMIT: modify, query, cancel.
    let r = ok(signed(
        &sim,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "80"),
            ("newClientOrderId", "f-2"),
        ],
    ));
    let id = r["orderId"].as_u64().unwrap().to_string();
    let r = ok(signed(
        &sim,
        "PUT",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("orderId", &id),
            ("quantity", "2"),
            ("price", "81"),
        ],
    ));
    assert_eq!(
        (r["price"].as_str(), r["origQty"].as_str()),
        (Some("81"), Some("2"))
    );
    ws.wait("amendment", |v| {
        v["e"] == "ORDER_TRADE_UPDATE" && v["o"]["x"] == "AMENDMENT"
    });
    let r = ok(signed(
        &sim,
        "GET",
        "/fapi/v1/order",
        &[("symbol", "BTCUSDT"), ("origClientOrderId", "f-2")],
    ));
    assert_eq!(r["status"], "NEW");
    let r = ok(signed(
        &sim,
        "DELETE",
        "/fapi/v1/order",
        &[("symbol", "BTCUSDT"), ("orderId", &id)],
    ));
    assert_eq!(r["status"], "CANCELED");
    let r = signed(
        &sim,
        "DELETE",
        "/fapi/v1/order",
        &[("symbol", "BTCUSDT"), ("orderId", &id)],
    );
    assert_eq!(r.code(), -2011);
    let r = signed(
        &sim,
        "GET",
        "/fapi/v1/order",
        &[("symbol", "BTCUSDT"), ("orderId", "777")],
    );
    assert_eq!(r.code(), -2013);
    // Futures filter codes and margin.
    let r = signed(
        &sim,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "80.05"),
        ],
    );
    assert_eq!(r.code(), -4014);
    let r = signed(
        &sim,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01"),
            ("price", "80"),
        ],
    );
    assert_eq!(r.code(), -4164);
    let r = signed(
        &sim,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "90000"),
            ("price", "80"),
        ],
    );
    assert_eq!(
        (r.code(), r.body["msg"].as_str()),
        (-2019, Some("Margin is insufficient."))
    );
    let acct = ok(signed(&sim, "GET", "/fapi/v3/account", &[]));
    assert_eq!(acct["positions"][0]["positionAmt"], "1");
    // Deleting the listen key ends its stream.
    ok(send(
        "DELETE",
        &sim.url("/fapi/v1/listenKey"),
        Some(DOC_API_KEY),
        None,
    ));
    assert!(ws.ends());
    let r = send(
        "PUT",
        &sim.url("/fapi/v1/listenKey"),
        Some(DOC_API_KEY),
        None,
    );
    assert_eq!(r.code(), -1125);
}
