//! Upstream TLS (issue #2, PINGORA.md: Pingora calls its rustls support experimental, so keep a
//! test on it). The fake GitHub is put behind a TLS terminator whose certificate comes from a test
//! CA: ghpool must verify it against Pingora's `ca_file`, send SNI, and refuse it without the CA.

mod support;

use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use support::fake_github::FakeGithub;
use support::ghpool::{client, GhpoolProcess};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

struct TestCa {
    ca_pem: String,
    leaf_pem: String,
    leaf_key_pem: String,
}

fn test_ca() -> TestCa {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "ghpool test CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&leaf_key, &ca).unwrap();
    TestCa { ca_pem: ca.pem(), leaf_pem: leaf.pem(), leaf_key_pem: leaf_key.serialize_pem() }
}

/// A TLS front for `backend_port` on 127.0.0.1; records the SNI of each handshake.
struct TlsFront {
    port: u16,
    sni: Arc<Mutex<Vec<String>>>,
    _runtime: tokio::runtime::Runtime,
}

fn tls_front(ca: &TestCa, backend_port: u16) -> TlsFront {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = vec![CertificateDer::from_pem_slice(ca.leaf_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(ca.leaf_key_pem.as_bytes()).unwrap();
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let sni = Arc::new(Mutex::new(Vec::new()));
    let seen = sni.clone();
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                seen.lock().unwrap().push(tls.get_ref().1.server_name().unwrap_or("").to_string());
                let Ok(mut backend) = tokio::net::TcpStream::connect(("127.0.0.1", backend_port)).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut backend).await;
            });
        }
    });
    TlsFront { port, sni, _runtime: runtime }
}

fn setup() -> (FakeGithub, TlsFront, tempfile::TempDir, String) {
    let fake = FakeGithub::start();
    fake.add_repo("acme", "widgets");
    let ca = test_ca();
    let front = tls_front(&ca, fake.port());
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &ca.ca_pem).unwrap();
    let conf_path = dir.path().join("ghpool.yaml");
    std::fs::write(&conf_path, format!("---\nversion: 1\nthreads: 1\nca_file: {}\n", ca_path.display())).unwrap();
    let conf = conf_path.display().to_string();
    (fake, front, dir, conf)
}

#[test]
fn upstream_tls_is_verified_against_the_configured_ca_with_sni() {
    let (fake, front, _dir, conf) = setup();
    let upstream = format!("https://localhost:{}", front.port);
    let gp = GhpoolProcess::start_full(&[("GHPOOL_UPSTREAM", &upstream)], None, &["-c", &conf]);
    let resp = client().get(gp.url("/repos/acme/widgets")).send().unwrap();
    assert_eq!(resp.status(), 200, "{}", gp.log());
    assert_eq!(fake.requests_to("/repos/acme/widgets").len(), 1);
    assert!(front.sni.lock().unwrap().iter().any(|s| s == "localhost"), "SNI carries the upstream host name");
}

#[test]
fn an_untrusted_upstream_certificate_is_refused() {
    let (fake, front, _dir, _conf) = setup();
    let upstream = format!("https://localhost:{}", front.port);
    // No ca_file: the system roots do not know the test CA.
    let gp = GhpoolProcess::start(&[("GHPOOL_UPSTREAM", &upstream)]);
    let resp = client().get(gp.url("/repos/acme/widgets")).send().unwrap();
    assert_eq!(resp.status(), 502);
    let body: serde_json::Value = resp.json().unwrap();
    assert!(body["message"].as_str().unwrap().contains("GitHub could not be reached"));
    assert!(fake.requests_to("/repos/acme/widgets").is_empty(), "nothing reached GitHub over an unverified connection");
}
