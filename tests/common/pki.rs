//! A throwaway certificate authority for TLS tests, made by rcgen.

use super::TempDir;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A temporary directory with `ca.pem`, `other-ca.pem` (a CA that signed nothing here),
/// `server.{pem,key}` (for localhost and 127.0.0.1) and `client.{pem,key}`, both signed
/// by `ca`.
pub struct Pki(pub TempDir);

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let dir = TempDir::new(&format!("pki-{tag}"));
        let ca = |cn: &str| {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, cn);
            CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
        };
        let ca1 = ca("execd test CA");
        std::fs::write(dir.join("ca.pem"), ca1.pem()).unwrap();
        std::fs::write(dir.join("other-ca.pem"), ca("another CA").pem()).unwrap();
        for (name, sans) in [
            (
                "server",
                vec!["localhost".to_string(), "127.0.0.1".to_string()],
            ),
            ("client", vec!["execd".to_string()]),
        ] {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(sans)
                .unwrap()
                .signed_by(&key, &ca1)
                .unwrap();
            std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
        }
        Pki(dir)
    }

    /// One of the files, as a string for a command line or a configuration.
    pub fn path(&self, f: &str) -> String {
        self.0.join(f).to_string_lossy().into_owned()
    }
}
