//! ghpool's own listener over TLS (issue #17): the certificate and key it serves, and for mutual
//! TLS the CA its clients' certificates must be signed by — secret references, resolved at start
//! and again on every secrets refresh (`SIGHUP`), each change taken by new connections while
//! connections already open keep theirs.
//!
//! Owns: [`ListenerTls`] (the material as it stands, handed to Pingora's rustls listener through a
//! certificate resolver and a client-certificate verifier that each read the current material per
//! handshake), `material` (PEM text to rustls types, checked), `client_cert` (the verified client
//! certificate's names, attached to the connection after the handshake) and `plain` (a plain-HTTP
//! request on the TLS port answered with a clear 400, not a handshake error).
//! Must never: serve a certificate that does not match its key, replace working material with
//! material that does not load (the old stays, with a warning), accept a client without a verified
//! certificate when a client CA is set, or log a key.

pub mod client_cert;
mod material;
mod plain;

use std::sync::{Arc, Mutex, RwLock};

use pingora_core::listeners::tls::TlsSettings;
use pingora_core::listeners::TlsAccept;
use pingora_core::protocols::tls::TlsRef;
use pingora_core::protocols::ALPN;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

pub use client_cert::ClientCertificate;
pub use material::MaterialError;
pub use plain::PlainHttpRefusal;

use crate::config::TlsConfig;
use crate::secrets::{Resolver, SecretRef};

/// Why the listener's TLS material could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what} ({reference}) could not be resolved: {reason}")]
    Resolve { what: &'static str, reference: String, reason: String },
    #[error(transparent)]
    Material(#[from] MaterialError),
}

/// What the listener serves and checks, as it stands.
struct Current {
    certified: Arc<CertifiedKey>,
    /// The SHA-256 of the PEM texts it was made from: a refresh that finds the same skips the swap.
    digest: [u8; 32],
    /// The serving certificate's subject and expiry, for `/stats` and the log.
    summary: material::Summary,
}

/// The listener's TLS, swapped whole on refresh.
pub struct ListenerTls {
    config: TlsConfig,
    current: Arc<RwLock<Current>>,
    clients: Option<Arc<ClientCa>>,
    /// Verified client certificates seen, by name, and how many connections each opened.
    seen: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
}

/// At most this many client certificate names are counted in `/stats`.
const MAX_SEEN: usize = 1000;

impl ListenerTls {
    /// Resolve and check the material the configuration names: an error says which and why.
    pub async fn load(config: &TlsConfig, resolver: &Resolver) -> Result<ListenerTls, TlsError> {
        let (cert, key, ca) = resolve_all(config, resolver).await?;
        let certified = material::certified_key(&cert, &key)?;
        let summary = material::summary(&certified);
        let digest = material::digest(&[&cert, &key]);
        let clients = match ca {
            Some(ca) => Some(Arc::new(ClientCa::new(&ca)?)),
            None => None,
        };
        log::info!(
            "TLS listener: certificate {} until {}{}",
            summary.subject,
            summary.not_after,
            if clients.is_some() { "; client certificates required (mutual TLS)" } else { "" }
        );
        Ok(ListenerTls {
            config: config.clone(),
            current: Arc::new(RwLock::new(Current { certified, digest, summary })),
            clients,
            seen: Arc::default(),
        })
    }

    /// Pingora's listener settings: HTTP/1.1 over TLS 1.2 or 1.3 (rustls' defaults), the
    /// certificate read per handshake, clients verified against the CA when one is set.
    pub fn settings(&self) -> pingora_core::Result<TlsSettings> {
        let callbacks = NameClient { seen: self.seen.clone(), clients: self.clients.clone() };
        let mut settings = TlsSettings::with_callbacks(Box::new(callbacks))?;
        settings.set_cert_resolver(Arc::new(CurrentCert(self.current.clone())));
        if let Some(clients) = &self.clients {
            settings.set_client_cert_verifier(clients.clone());
        }
        settings.set_alpn(ALPN::H1);
        Ok(settings)
    }

    /// Resolve the material again (`secrets_refresh`, `SIGHUP`): a changed pair (or client CA)
    /// that loads is taken by new connections; one that does not is reported and the old kept. The
    /// pair and the client CA are refreshed apart: one's secret store failing does not hold back
    /// the other.
    pub async fn refresh(&self, resolver: &Resolver) {
        let pair = async {
            let cert = resolve("tls.cert", &self.config.cert, resolver).await?;
            let key = resolve("tls.key", &self.config.key, resolver).await?;
            let digest = material::digest(&[&cert, &key]);
            match self.read().digest == digest {
                true => Ok::<_, TlsError>(None),
                false => Ok(Some((material::certified_key(&cert, &key)?, digest))),
            }
        }
        .await;
        match pair {
            Ok(Some((certified, digest))) => {
                let summary = material::summary(&certified);
                log::info!("TLS listener: new certificate {} until {}", summary.subject, summary.not_after);
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Current { certified, digest, summary };
            }
            Ok(None) => {}
            Err(e) => log::warn!("TLS listener keeps its certificate: {e}"),
        }
        if let (Some(clients), Some(reference)) = (&self.clients, &self.config.client_ca) {
            let replaced = async {
                let pem = resolve("tls.client_ca", reference, resolver).await?;
                Ok::<_, TlsError>(clients.replace(&pem)?)
            }
            .await;
            match replaced {
                Ok(true) => log::info!("TLS listener: new client CA taken"),
                Ok(false) => {}
                Err(e) => log::warn!("TLS listener keeps its client CA: {e}"),
            }
        }
    }

    /// Mutual TLS is on: every TLS connection has shown a certificate the client CA signed.
    pub fn mutual(&self) -> bool {
        self.clients.is_some()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    /// What `/stats` shows: the serving certificate, and the client certificates seen.
    pub fn snapshot(&self) -> TlsSnapshot {
        let current = self.read();
        TlsSnapshot {
            certificate_subject: current.summary.subject.clone(),
            certificate_not_after: current.summary.not_after.clone(),
            mutual: self.clients.is_some(),
            client_certificates: self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

/// The connection's verified client certificate (mutual TLS), from its TLS digest: attached by
/// the handshake callback, only when it verified.
pub fn client_certificate(digest: &pingora_core::protocols::tls::SslDigest) -> Option<&ClientCertificate> {
    digest.extension.get::<ClientCertificate>()
}

/// The listener's TLS as `/stats` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsSnapshot {
    pub certificate_subject: String,
    pub certificate_not_after: String,
    pub mutual: bool,
    /// Verified client certificates by name: connections opened.
    pub client_certificates: std::collections::BTreeMap<String, u64>,
}

async fn resolve(what: &'static str, reference: &SecretRef, resolver: &Resolver) -> Result<String, TlsError> {
    resolver.resolve(reference).await.map(|s| s.expose().to_string()).map_err(|e| TlsError::Resolve {
        what,
        reference: reference.describe(),
        reason: e.to_string(),
    })
}

async fn resolve_all(config: &TlsConfig, resolver: &Resolver) -> Result<(String, String, Option<String>), TlsError> {
    let cert = resolve("tls.cert", &config.cert, resolver).await?;
    let key = resolve("tls.key", &config.key, resolver).await?;
    let ca = match &config.client_ca {
        Some(reference) => Some(resolve("tls.client_ca", reference, resolver).await?),
        None => None,
    };
    Ok((cert, key, ca))
}

/// The certificate for every handshake: the current one.
#[derive(Debug)]
struct CurrentCert(Arc<RwLock<Current>>);

impl std::fmt::Debug for Current {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Current({})", self.summary.subject)
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|p| p.into_inner()).certified.clone())
    }
}

/// Client certificates checked against the current client CA (mutual TLS), swapped on refresh.
#[derive(Debug)]
pub struct ClientCa {
    inner: RwLock<(Arc<dyn ClientCertVerifier>, [u8; 32])>,
    /// The CA's names offered to clients, lent out by the verifier for the whole handshake: kept
    /// for the process's life, one small list per distinct CA set ever taken (a CA set seen again
    /// reuses its list).
    hints: RwLock<&'static [DistinguishedName]>,
    made: Mutex<std::collections::HashMap<[u8; 32], &'static [DistinguishedName]>>,
}

impl ClientCa {
    fn new(pem: &str) -> Result<ClientCa, MaterialError> {
        let (certs, digest) = material::client_ca(pem)?;
        let (verifier, hints) = material::client_verifier(certs)?;
        let hints: &'static [DistinguishedName] = Box::leak(hints.into_boxed_slice());
        Ok(ClientCa {
            inner: RwLock::new((verifier, digest)),
            hints: RwLock::new(hints),
            made: Mutex::new([(digest, hints)].into()),
        })
    }

    /// Take the CA set in `pem` if it differs from the current one: whether it did.
    fn replace(&self, pem: &str) -> Result<bool, MaterialError> {
        let (certs, digest) = material::client_ca(pem)?;
        if self.inner.read().unwrap_or_else(|p| p.into_inner()).1 == digest {
            return Ok(false);
        }
        let (verifier, hints) = material::client_verifier(certs)?;
        let hints = *self
            .made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(digest)
            .or_insert_with(|| Box::leak(hints.into_boxed_slice()));
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = (verifier, digest);
        *self.hints.write().unwrap_or_else(|p| p.into_inner()) = hints;
        Ok(true)
    }

    fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }
}

impl ClientCertVerifier for ClientCa {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        *self.hints.read().unwrap_or_else(|p| p.into_inner())
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verifier().verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.verifier().supported_verify_schemes()
    }
}

/// After a handshake: the verified client certificate's names, attached to the connection (read
/// by fairness, agents and `/stats` through Pingora's `SslDigest` extension).
struct NameClient {
    seen: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
    clients: Option<Arc<ClientCa>>,
}

#[async_trait::async_trait]
impl TlsAccept for NameClient {
    async fn handshake_complete_callback(&self, tls: &TlsRef) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        // Without a client CA, a certificate a client sends was not verified: it names nobody.
        let clients = self.clients.as_ref()?;
        // Checked again against the client CA as it stands, now: a resumed session carries the
        // certificate of its first handshake, which may have expired or lost its CA since.
        let chain = tls.peer_cert_chain_der()?;
        let (leaf, intermediates) = chain.split_first()?;
        if let Err(e) = clients.verify_client_cert(leaf, intermediates, UnixTime::now()) {
            log::info!("TLS: a client certificate is no longer valid ({e}); its requests are refused");
            return None;
        }
        let certificate = ClientCertificate::from_der(leaf)?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() < MAX_SEEN || seen.contains_key(certificate.name()) {
            *seen.entry(certificate.name().to_string()).or_default() += 1;
        }
        Some(Arc::new(certificate))
    }
}
