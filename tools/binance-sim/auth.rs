//! Request authentication exactly as Binance documents it (spot `rest-api.md` "SIGNED
//! Endpoint Examples", `web-socket-api.md` "SIGNED request example", the USDⓈ-M
//! "Endpoint security type" pages):
//! - REST: the signature payload is the query string concatenated, without separator,
//!   to the body, both as sent (percent-encoded), with the `signature` pair taken out;
//! - WebSocket API: every param except `signature`, sorted by name, `name=value` joined
//!   by `&`, values in UTF-8 as they are;
//! - HMAC-SHA256 with the secret, hex (case-insensitive); Ed25519, base64 (case-sensitive);
//! - `timestamp` in ms or µs, `recvWindow` (default 5000, at most 60000, up to three
//!   decimals) and the rule `timestamp < serverTime + 1000 && serverTime - timestamp <=
//!   recvWindow`, else -1021.

use crate::errors::ApiErr;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How one API key proves itself. The secret never leaves this value (no Debug).
pub(crate) enum KeyKind {
    Hmac(Vec<u8>),
    Ed25519(Box<VerifyingKey>),
}

pub(crate) struct ApiKey {
    pub(crate) name: String,
    pub(crate) kind: KeyKind,
}

impl ApiKey {
    pub(crate) fn is_ed25519(&self) -> bool {
        matches!(self.kind, KeyKind::Ed25519(_))
    }
}

/// Whether `sig` (already percent-decoded) signs `payload` under `key`.
pub(crate) fn verify(key: &KeyKind, payload: &[u8], sig: &str) -> bool {
    match key {
        KeyKind::Hmac(secret) => {
            let Ok(raw) = hex::decode(sig) else {
                return false;
            };
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
                return false;
            };
            mac.update(payload);
            // Constant-time comparison: the simulator should not teach clients timing leaks.
            mac.verify_slice(&raw).is_ok()
        }
        KeyKind::Ed25519(pk) => {
            let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(sig) else {
                return false;
            };
            let Ok(sig) = Signature::from_slice(&raw) else {
                return false;
            };
            pk.verify(payload, &sig).is_ok()
        }
    }
}

/// An Ed25519 public key from a PEM file (`-----BEGIN PUBLIC KEY-----`, SPKI), the form
/// Binance asks users to register.
pub(crate) fn ed25519_public_key(pem: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| format!("Ed25519 public key: {e}"))
}

/// Splits a raw `a=1&b=2&signature=…` string into the payload without the signature pair
/// and the signature's raw (still percent-encoded) value.
pub(crate) fn take_signature(raw: &str) -> (String, Option<String>) {
    let mut sig = None;
    let mut kept: Vec<&str> = Vec::new();
    for pair in raw.split('&') {
        if let Some(v) = pair.strip_prefix("signature=") {
            if sig.is_none() {
                sig = Some(v.to_string());
            }
            continue;
        }
        if pair == "signature" {
            sig.get_or_insert_with(String::new);
            continue;
        }
        kept.push(pair);
    }
    (kept.join("&"), sig)
}

/// `application/x-www-form-urlencoded` decoding of one name or value.
pub(crate) fn form_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = b.get(i + 1..i + 3)?;
                let h = std::str::from_utf8(h).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The WebSocket API payload: params except `signature`, sorted by name.
pub(crate) fn ws_payload(params: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut pairs: Vec<(&String, String)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "signature")
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k, v)
        })
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn mandatory(name: &str) -> ApiErr {
    ApiErr::bad(
        -1102,
        format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    )
}

/// The timing rule. `server_us` is the server's clock in µs (with any injected skew).
pub(crate) fn check_time(
    server_us: i64,
    timestamp: Option<&str>,
    recv_window: Option<&str>,
) -> Result<(), ApiErr> {
    let ts = timestamp
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| mandatory("timestamp"))?;
    // 13 digits are milliseconds, 16 microseconds (both accepted since 2025).
    let ts_us = if ts >= 10_000_000_000_000 {
        ts
    } else {
        ts.saturating_mul(1000)
    };
    let window_us = match recv_window {
        None => 5_000_000,
        Some(w) => {
            let v = crate::decimal::parse(w).map_err(|_| {
                ApiErr::bad(-1131, "recvWindow must be less than 60000".to_string())
            })?;
            // Three decimals at most: microseconds.
            if v % 100_000 != 0 || v > 60_000 * crate::decimal::SCALE {
                return Err(ApiErr::bad(
                    -1131,
                    "recvWindow must be less than 60000".to_string(),
                ));
            }
            v / 100_000
        }
    };
    if ts_us >= server_us.saturating_add(1_000_000) {
        return Err(ApiErr::bad(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.".to_string(),
        ));
    }
    if server_us.saturating_sub(ts_us) > window_us {
        return Err(ApiErr::bad(
            -1021,
            "Timestamp for this request is outside of the recvWindow.".to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    #[test]
    fn rest_hmac_examples_from_the_spot_docs() {
        let key = KeyKind::Hmac(DOC_SECRET.as_bytes().to_vec());
        let q = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
        let (payload, sig) = take_signature(q);
        let sig = sig.unwrap();
        assert!(verify(&key, payload.as_bytes(), &sig));
        assert!(verify(&key, payload.as_bytes(), &sig.to_uppercase()));
        assert!(!verify(&key, format!("{payload}0").as_bytes(), &sig));
        let q = "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert!(verify(
            &key,
            q.as_bytes(),
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
        ));
    }

    #[test]
    fn websocket_api_examples_from_the_spot_docs() {
        let key = KeyKind::Hmac(DOC_SECRET.as_bytes().to_vec());
        let params = serde_json::json!({
            "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.01000000", "price": "52000.00", "recvWindow": 100,
            "timestamp": 1645423376532_i64,
            "apiKey": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
            "signature": "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
        });
        let params = params.as_object().unwrap();
        let payload = ws_payload(params);
        assert_eq!(payload, "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT");
        assert!(verify(
            &key,
            payload.as_bytes(),
            params["signature"].as_str().unwrap()
        ));
        let p2 = "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=0.10000000&quantity=1.00000000&recvWindow=5000&side=BUY&symbol=\u{ff11}\u{ff12}\u{ff13}\u{ff14}\u{ff15}\u{ff16}&timeInForce=GTC&timestamp=1645423376532&type=LIMIT";
        assert!(verify(
            &key,
            p2.as_bytes(),
            "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"
        ));
    }

    #[test]
    fn ed25519_example_from_the_spot_fix_docs() {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let sk = ed25519_dalek::SigningKey::from_pkcs8_pem(
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let key = KeyKind::Ed25519(Box::new(sk.verifying_key()));
        let payload = "A\x01EXAMPLE\x01SPOT\x011\x0120240627-11:17:25.223";
        let sig = "4MHXelVVcpkdwuLbl6n73HQUXUf1dse2PCgT1DYqW9w8AVZ1RACFGM+5UdlGPrQHrgtS3CvsRURC1oj73j8gCA==";
        assert!(verify(&key, payload.as_bytes(), sig));
        assert!(!verify(&key, payload.as_bytes(), &sig.replace('4', "5")));
        assert!(!verify(&key, b"A", sig));
    }

    #[test]
    fn timing_rule() {
        let now = 1_700_000_000_000_000;
        assert!(check_time(now, Some("1700000000000"), None).is_ok());
        assert!(check_time(now, Some("1699999995000"), None).is_ok());
        assert_eq!(
            check_time(now, Some("1699999994999"), None)
                .unwrap_err()
                .code,
            -1021
        );
        assert_eq!(
            check_time(now, Some("1700000001000"), None)
                .unwrap_err()
                .code,
            -1021
        );
        assert!(check_time(now, Some("1700000000999"), None).is_ok());
        assert!(check_time(now, Some("1700000000000000"), Some("0.5")).is_ok());
        assert_eq!(
            check_time(now, Some("1699999999999"), Some("0.5"))
                .unwrap_err()
                .code,
            -1021
        );
        assert_eq!(
            check_time(now, Some("1"), Some("60001")).unwrap_err().code,
            -1131
        );
        assert_eq!(check_time(now, None, None).unwrap_err().code, -1102);
    }
}
