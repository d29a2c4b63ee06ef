//! `[venues.binance]`: where a Binance venue is and which environment variables hold
//! its keys (never the keys themselves: a configuration is a file, R-SEC).

use super::binance::Flavor;
use crate::secret::check_env_name;
use serde::{Deserialize, Serialize};

/// As written in the TOML.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BinanceSettings {
    /// Use the documented testnet URLs as defaults instead of the live ones.
    #[serde(default)]
    pub testnet: bool,
    /// REST base URL (e.g. `https://api.binance.com`; `http://127.0.0.1:PORT` for a
    /// local simulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_url: Option<String>,
    /// Market stream base URL (bookTicker; USDⓈ-M user data too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_url: Option<String>,
    /// Spot WebSocket API URL (user data subscription).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws_api_url: Option<String>,
    /// Environment variable holding the API key.
    pub api_key_env: String,
    /// Environment variable holding the HMAC secret key (one of this and
    /// `ed25519_key_env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_env: Option<String>,
    /// Environment variable holding the Ed25519 private key (PKCS#8 PEM or base64 seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ed25519_key_env: Option<String>,
    /// recvWindow sent with signed requests, ms (its range: `config::RANGES`).
    #[serde(default = "default_recv_window")]
    pub recv_window_ms: u64,
    /// Seconds a REST request may take before its outcome counts as unknown.
    #[serde(default = "default_http_timeout")]
    pub http_timeout_ms: u64,
    /// Request weight per minute execd allows itself (under the venue's own limit).
    #[serde(default = "default_weight_cap")]
    pub weight_per_minute: u64,
    /// Account whose positions the venue reports (default: the first account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

fn default_recv_window() -> u64 {
    5_000
}
fn default_http_timeout() -> u64 {
    10_000
}
fn default_weight_cap() -> u64 {
    // Spot allows 6 000 per minute, USDⓈ-M 2 400: keep under both.
    2_000
}

/// Which key signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEnv {
    /// HMAC-SHA256 secret in this variable.
    Hmac(String),
    /// Ed25519 private key in this variable.
    Ed25519(String),
}

/// After checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinanceSpec {
    /// Spot or USDⓈ-M.
    pub flavor: Flavor,
    /// REST base, without a trailing slash.
    pub rest_url: String,
    /// Stream base, without a trailing slash.
    pub stream_url: String,
    /// Spot WebSocket API URL.
    pub ws_api_url: String,
    /// API key variable.
    pub api_key_env: String,
    /// Signing key variable.
    pub key: KeyEnv,
    /// recvWindow, ms.
    pub recv_window_ms: u64,
    /// REST timeout, ms.
    pub http_timeout_ms: u64,
    /// Own weight cap per minute.
    pub weight_per_minute: u64,
    /// Account name for positions.
    pub account: Option<String>,
}

fn url(
    key: &str,
    given: &Option<String>,
    default: &str,
    schemes: &[&str],
) -> Result<String, (String, String)> {
    let u = given.clone().unwrap_or_else(|| default.to_string());
    let u = u.trim_end_matches('/').to_string();
    let ok = schemes.iter().any(|s| {
        u.strip_prefix(s)
            .and_then(|r| r.strip_prefix("://"))
            .is_some_and(|h| !h.is_empty())
    });
    if !ok {
        return Err((
            key.into(),
            format!(
                "{u:?} is not a URL starting with {}://",
                schemes.join("://, ")
            ),
        ));
    }
    // Plain text only to this machine: keys and orders never cross a network in clear.
    let plain = u.starts_with("http://") || u.starts_with("ws://");
    let host = u.split("://").nth(1).unwrap_or("");
    if plain
        && !(host.starts_with("127.0.0.1")
            || host.starts_with("localhost")
            || host.starts_with("[::1]"))
    {
        return Err((
            key.into(),
            format!("{u:?}: plain http/ws only to 127.0.0.1 (a local simulator); use https/wss"),
        ));
    }
    Ok(u)
}

impl BinanceSettings {
    /// Checks the settings of a venue of `kind` (`binance-spot`, `binance-usdm`). The
    /// error is (key under `binance.`, message).
    pub fn check(&self, flavor: Flavor) -> Result<BinanceSpec, (String, String)> {
        // Documented defaults: live and testnet.
        let (rest, stream, ws_api) = match (flavor, self.testnet) {
            (Flavor::Spot, false) => (
                "https://api.binance.com",
                "wss://stream.binance.com:9443",
                "wss://ws-api.binance.com:443/ws-api/v3",
            ),
            (Flavor::Spot, true) => (
                "https://testnet.binance.vision",
                "wss://stream.testnet.binance.vision",
                "wss://ws-api.testnet.binance.vision/ws-api/v3",
            ),
            (Flavor::Usdm, false) => ("https://fapi.binance.com", "wss://fstream.binance.com", ""),
            (Flavor::Usdm, true) => (
                "https://demo-fapi.binance.com",
                "wss://fstream.binancefuture.com",
                "",
            ),
        };
        let rest_url = url("rest_url", &self.rest_url, rest, &["https", "http"])?;
        let stream_url = url("stream_url", &self.stream_url, stream, &["wss", "ws"])?;
        let ws_api_url = if flavor == Flavor::Spot {
            url("ws_api_url", &self.ws_api_url, ws_api, &["wss", "ws"])?
        } else {
            if self.ws_api_url.is_some() {
                return Err((
                    "ws_api_url".into(),
                    "only spot venues use the WebSocket API for user data".into(),
                ));
            }
            String::new()
        };
        check_env_name(&self.api_key_env).map_err(|e| ("api_key_env".to_string(), e))?;
        let key = match (&self.secret_key_env, &self.ed25519_key_env) {
            (Some(v), None) => {
                check_env_name(v).map_err(|e| ("secret_key_env".to_string(), e))?;
                KeyEnv::Hmac(v.clone())
            }
            (None, Some(v)) => {
                check_env_name(v).map_err(|e| ("ed25519_key_env".to_string(), e))?;
                KeyEnv::Ed25519(v.clone())
            }
            _ => {
                return Err((
                    "secret_key_env".into(),
                    "name exactly one of secret_key_env (HMAC-SHA256) and ed25519_key_env".into(),
                ))
            }
        };
        Ok(BinanceSpec {
            flavor,
            rest_url,
            stream_url,
            ws_api_url,
            api_key_env: self.api_key_env.clone(),
            key,
            recv_window_ms: self.recv_window_ms,
            http_timeout_ms: self.http_timeout_ms,
            weight_per_minute: self.weight_per_minute,
            account: self.account.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Registry;

    const EXAMPLE: &str = include_str!("../../../examples/binance-sim.toml");

    fn key_of(text: &str) -> (String, String) {
        let e = Registry::from_toml(text).unwrap_err();
        (e.key.clone(), e.to_string())
    }

    #[test]
    fn the_example_checks_and_defaults_are_documented_urls() {
        let r = Registry::from_toml(EXAMPLE).unwrap();
        let b = r.venues[0].binance.as_ref().unwrap();
        assert_eq!(b.rest_url, "http://127.0.0.1:9901");
        assert_eq!(b.key, super::KeyEnv::Hmac("BINANCE_SIM_SECRET".into()));
        assert!(r.venues[0].is_network());
        let live = EXAMPLE
            .replace("rest_url = \"http://127.0.0.1:9901\"\n", "")
            .replace("stream_url = \"ws://127.0.0.1:9901\"\n", "")
            .replace("ws_api_url = \"ws://127.0.0.1:9901/ws-api/v3\"\n", "");
        let r = Registry::from_toml(&live).unwrap();
        let b = r.venues[0].binance.as_ref().unwrap();
        assert_eq!(b.rest_url, "https://api.binance.com");
        assert_eq!(b.ws_api_url, "wss://ws-api.binance.com:443/ws-api/v3");
        let usdm = live.replace("kind = \"binance-spot\"", "kind = \"binance-usdm\"");
        let usdm = usdm.replace("[venues.binance]\n", "[venues.binance]\ntestnet = true\n");
        let r = Registry::from_toml(&usdm).unwrap();
        let b = r.venues[0].binance.as_ref().unwrap();
        assert_eq!(b.rest_url, "https://demo-fapi.binance.com");
    }

    #[test]
    fn bad_binance_settings_name_their_key() {
        let cases = [
            (
                EXAMPLE.replace("kind = \"binance-spot\"", "kind = \"paper\""),
                "venues[0].binance",
            ),
            (
                EXAMPLE.replace(
                    "secret_key_env = \"BINANCE_SIM_SECRET\"",
                    "secret_key_env = \"BINANCE_SIM_SECRET\"\ned25519_key_env = \"X\"",
                ),
                "venues[0].binance.secret_key_env",
            ),
            (
                EXAMPLE.replace(
                    "secret_key_env = \"BINANCE_SIM_SECRET\"",
                    "secret_key_env = \"not a name\"",
                ),
                "venues[0].binance.secret_key_env",
            ),
            (
                EXAMPLE.replace("http://127.0.0.1:9901", "http://example.com"),
                "venues[0].binance.rest_url",
            ),
            (
                EXAMPLE.replace("ws://127.0.0.1:9901\"", "ftp://127.0.0.1:9901\""),
                "venues[0].binance.stream_url",
            ),
            (
                EXAMPLE.replace("recv_window_ms = 5000", "recv_window_ms = 60001"),
                "venues[0].binance.recv_window_ms",
            ),
            (
                EXAMPLE.replace("api_key_env = \"BINANCE_SIM_KEY\"", "api_key = \"abc\""),
                "",
            ),
        ];
        for (text, key) in cases {
            let (k, msg) = key_of(&text);
            if !key.is_empty() {
                assert_eq!(k, key, "{msg}");
            }
        }
        // A Binance venue without its settings.
        let cut = EXAMPLE.find("[venues.binance]").unwrap();
        let end = EXAMPLE.find("[[instruments]]").unwrap();
        let text = format!("{}{}", &EXAMPLE[..cut], &EXAMPLE[end..]);
        assert_eq!(key_of(&text).0, "venues[0].binance");
    }
}
