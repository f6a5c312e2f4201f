//! The listener's TLS material from PEM text: a certificate chain and its key as a rustls
//! `CertifiedKey` (the key checked against the certificate), and a client CA bundle as a
//! client-certificate verifier.
//!
//! Owns: parsing and checking, and the serving certificate's summary (subject, expiry).
//! Must never: accept a key that does not match its certificate, or put key material in an error.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{DistinguishedName, RootCertStore};
use sha2::{Digest, Sha256};

/// What is wrong with the material: never quotes it.
#[derive(Debug, thiserror::Error)]
pub enum MaterialError {
    #[error("tls.cert holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)")]
    NoCertificate,
    #[error("tls.key holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey,
    #[error("tls.key cannot sign: {0}")]
    BadKey(String),
    #[error("tls.key does not belong to the certificate in tls.cert ({0})")]
    Mismatch(String),
    #[error("tls.client_ca holds no PEM certificate")]
    NoClientCa,
    #[error("tls.client_ca cannot verify client certificates: {0}")]
    BadClientCa(String),
}

/// The serving certificate, as the log and `/stats` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub subject: String,
    pub not_after: String,
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Every certificate in `pem`; any block that does not parse fails the whole (a half-written
/// bundle must not replace a whole one).
fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
}

/// The chain in `cert_pem` (leaf first) with the key in `key_pem`.
pub fn certified_key(cert_pem: &str, key_pem: &str) -> Result<Arc<CertifiedKey>, MaterialError> {
    let chain = certificates(cert_pem).map_err(|_| MaterialError::NoCertificate)?;
    if chain.is_empty() {
        return Err(MaterialError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| MaterialError::NoKey)?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => MaterialError::Mismatch(e.to_string()),
        other => MaterialError::BadKey(other.to_string()),
    })?;
    Ok(Arc::new(certified))
}

/// The leaf's subject and expiry.
pub fn summary(certified: &CertifiedKey) -> Summary {
    let unknown = || Summary { subject: "(unreadable)".into(), not_after: "(unknown)".into() };
    let Some(leaf) = certified.cert.first() else { return unknown() };
    match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, cert)) => Summary {
            subject: cert.subject().to_string(),
            not_after: cert.validity().not_after.to_datetime().to_string(),
        },
        Err(_) => unknown(),
    }
}

/// The client CA bundle's certificates, and a digest of them as a set (their order, comments or
/// line breaks in the PEM do not make a new CA).
pub fn client_ca(pem: &str) -> Result<(Vec<CertificateDer<'static>>, [u8; 32]), MaterialError> {
    let certs = certificates(pem).map_err(MaterialError::BadClientCa)?;
    if certs.is_empty() {
        return Err(MaterialError::NoClientCa);
    }
    let mut ders: Vec<&[u8]> = certs.iter().map(|c| c.as_ref()).collect();
    ders.sort_unstable();
    let mut hasher = Sha256::new();
    for der in ders {
        hasher.update((der.len() as u64).to_be_bytes());
        hasher.update(der);
    }
    Ok((certs, hasher.finalize().into()))
}

/// A verifier of client certificates signed by one of `certs`, and the CA names offered to clients.
pub fn client_verifier(
    certs: Vec<CertificateDer<'static>>,
) -> Result<(Arc<dyn ClientCertVerifier>, Vec<DistinguishedName>), MaterialError> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| MaterialError::BadClientCa(e.to_string()))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider()))
        .build()
        .map_err(|e| MaterialError::BadClientCa(e.to_string()))?;
    let hints = verifier.root_hint_subjects().to_vec();
    Ok((verifier, hints))
}

/// The SHA-256 of some texts: material unchanged since the last refresh is not swapped.
pub fn digest(texts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for text in texts {
        hasher.update((text.len() as u64).to_be_bytes());
        hasher.update(text.as_bytes());
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_certificate_with_its_own_key_and_nothing_else_17() {
        let (cert, key) = pair("ghpool.internal");
        let certified = certified_key(&cert, &key).expect("a matching pair");
        assert!(summary(&certified).subject.contains("rcgen"), "{:?}", summary(&certified));
        let (_, other_key) = pair("other");
        assert!(matches!(certified_key(&cert, &other_key), Err(MaterialError::Mismatch(_))));
        assert!(matches!(certified_key("not pem", &key), Err(MaterialError::NoCertificate)));
        assert!(matches!(certified_key(&cert, "not pem"), Err(MaterialError::NoKey)));
        assert!(matches!(certified_key(&key, &key), Err(MaterialError::NoCertificate)), "a key is no certificate");
        let error = certified_key(&cert, &other_key).unwrap_err().to_string();
        assert!(!error.contains("PRIVATE KEY") && !error.contains(&other_key[40..80]), "{error}");
        let (certs, digest_of) = client_ca(&cert).unwrap();
        assert!(client_verifier(certs).is_ok());
        assert!(matches!(client_ca("nothing"), Err(MaterialError::NoClientCa)));
        let (ca2, _) = pair("second CA");
        assert_eq!(
            client_ca(&format!("{cert}\n{ca2}")).unwrap().1,
            client_ca(&format!("{ca2}{cert}")).unwrap().1,
            "a set"
        );
        assert_ne!(client_ca(&format!("{cert}{ca2}")).unwrap().1, digest_of);
        let broken = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        assert!(client_ca(&format!("{cert}{broken}")).is_err(), "a broken block fails the bundle");
        assert!(
            certified_key(&format!("{cert}-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"), &key)
                .is_err(),
            "a broken block fails the chain"
        );
        assert_ne!(digest(&[&cert, &key]), digest(&[&cert, &other_key]));
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]), "texts are delimited");
    }
}
