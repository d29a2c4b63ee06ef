//! Request signing for REST/WebSocket venues (R-VEN-3): HMAC-SHA256 as lowercase hex,
//! Ed25519 as standard base64, over the exact bytes the venue reads (Binance: the query
//! string or form body as sent; the WebSocket API: its parameters sorted by name).

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How requests are signed: the key never leaves this value (`Debug` prints the kind).
pub enum Signer {
    /// An HMAC-SHA256 secret key (hex signature).
    Hmac(Hmac<Sha256>),
    /// An Ed25519 private key (base64 signature).
    Ed25519(Box<SigningKey>),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signer::Hmac(_) => "Signer::Hmac(..)",
            Signer::Ed25519(_) => "Signer::Ed25519(..)",
        })
    }
}

/// PKCS#8 DER of an Ed25519 private key, up to the 32-byte seed (RFC 8410).
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl Signer {
    /// An HMAC-SHA256 signer from the secret key's bytes.
    pub fn hmac(secret: &[u8]) -> Signer {
        // HMAC takes a key of any length: this cannot fail.
        Signer::Hmac(Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length"))
    }

    /// An Ed25519 signer from a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, what
    /// Binance's key generator and `openssl genpkey -algorithm ed25519` write) or the
    /// base64 of the 32-byte seed. The error never repeats the key.
    pub fn ed25519(key: &str) -> Result<Signer, &'static str> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = key.trim();
        let seed: [u8; 32] = if key.starts_with("-----BEGIN") {
            if !key.contains("BEGIN PRIVATE KEY") {
                return Err("an Ed25519 key must be an unencrypted PKCS#8 PEM (BEGIN PRIVATE KEY)");
            }
            let body: String = key
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .flat_map(|l| l.trim().chars())
                .collect();
            let der = b64
                .decode(body.as_bytes())
                .map_err(|_| "the PEM body is not base64")?;
            if der.len() != 48 || der[..16] != ED25519_PKCS8_PREFIX {
                return Err("the PEM is not an Ed25519 private key (PKCS#8, RFC 8410)");
            }
            der[16..].try_into().map_err(|_| "bad seed length")?
        } else {
            let raw = b64.decode(key.as_bytes()).map_err(|_| {
                "an Ed25519 key must be a PKCS#8 PEM or the base64 of its 32-byte seed"
            })?;
            raw.as_slice()
                .try_into()
                .map_err(|_| "the base64 seed is not 32 bytes")?
        };
        Ok(Signer::Ed25519(Box::new(SigningKey::from_bytes(&seed))))
    }

    /// Appends the signature of `payload` to `out`: hex for HMAC, base64 for Ed25519.
    pub fn sign_into(&self, payload: &[u8], out: &mut String) {
        match self {
            Signer::Hmac(m) => {
                let mut m = m.clone();
                m.update(payload);
                let tag = m.finalize().into_bytes();
                const HEX: &[u8; 16] = b"0123456789abcdef";
                for b in tag {
                    out.push(HEX[(b >> 4) as usize] as char);
                    out.push(HEX[(b & 15) as usize] as char);
                }
            }
            Signer::Ed25519(k) => {
                let sig = k.sign(payload);
                base64::engine::general_purpose::STANDARD.encode_string(sig.to_bytes(), out);
            }
        }
    }

    /// The signature of `payload`.
    pub fn sign(&self, payload: &[u8]) -> String {
        let mut s = String::with_capacity(88);
        self.sign_into(payload, &mut s);
        s
    }

    /// Whether the signature must be percent-encoded in a query string (base64 has
    /// `+`, `/` and `=`; hex needs nothing).
    pub fn needs_escape(&self) -> bool {
        matches!(self, Signer::Ed25519(_))
    }
}

/// Percent-encodes `s` into `out` as RFC 3986 asks (unreserved bytes as they are), the
/// encoding Binance signs and reads.
pub fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// The WebSocket API's signature payload: `name=value` pairs sorted by name, joined by
/// `&`, values as UTF-8 and not percent-encoded.
pub fn ws_payload(params: &[(&str, &str)]) -> String {
    let mut p: Vec<&(&str, &str)> = params.iter().collect();
    p.sort_by(|a, b| a.0.cmp(b.0));
    let mut s = String::new();
    for (i, (k, v)) in p.into_iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binance's documented HMAC example (SIGNED endpoint examples for POST
    /// /api/v3/order, spot REST API "Request security"): secret, payload and the
    /// signature `openssl dgst -sha256 -hmac` gives, byte for byte.
    const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    #[test]
    fn hmac_reproduces_binance_documented_example() {
        let s = Signer::hmac(DOC_SECRET.as_bytes());
        let q = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            s.sign(q.as_bytes()),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    /// The documented second example: a non-ASCII symbol ("１２３４５６", full-width
    /// digits) percent-encoded before signing.
    #[test]
    fn hmac_reproduces_binance_documented_non_ascii_example() {
        let mut q = String::from("symbol=");
        percent_encode("１２３４５６", &mut q);
        q.push_str("&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559");
        assert_eq!(
            q,
            "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
        );
        let s = Signer::hmac(DOC_SECRET.as_bytes());
        assert_eq!(
            s.sign(q.as_bytes()),
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
        );
    }

    /// Binance documents the Ed25519 payload (WebSocket API "SIGNED request example
    /// (Ed25519)") but not the private key behind its signature: the payload is checked
    /// byte for byte, and the signing itself on RFC 8032's test vectors (Ed25519 is
    /// deterministic, so a match proves the bytes signed and the base64 written).
    #[test]
    fn ed25519_payload_is_binance_documented_one() {
        let p = ws_payload(&[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01000000"),
            ("price", "52000.00"),
            ("recvWindow", "100"),
            ("timestamp", "1645423376532"),
            (
                "apiKey",
                "4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO",
            ),
        ]);
        assert_eq!(
            p,
            "apiKey=4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
        );
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn ed25519_matches_rfc8032_vectors_from_seed_and_pem() {
        let b64 = base64::engine::general_purpose::STANDARD;
        // RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ];
        for (seed, msg, sig) in cases {
            let seed = unhex(seed);
            let want = b64.encode(unhex(sig));
            let from_seed = Signer::ed25519(&b64.encode(&seed)).unwrap();
            assert_eq!(from_seed.sign(&unhex(msg)), want);
            let mut der = ED25519_PKCS8_PREFIX.to_vec();
            der.extend_from_slice(&seed);
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                b64.encode(&der)
            );
            let from_pem = Signer::ed25519(&pem).unwrap();
            assert_eq!(from_pem.sign(&unhex(msg)), want);
            assert!(from_pem.needs_escape());
        }
    }

    #[test]
    fn bad_ed25519_keys_are_refused_without_echoing_them() {
        for k in [
            "not base64 !!",
            "AAAA",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
        ] {
            let e = Signer::ed25519(k).unwrap_err();
            assert!(!e.contains(k));
        }
        assert_eq!(format!("{:?}", Signer::hmac(b"k")), "Signer::Hmac(..)");
    }
}
