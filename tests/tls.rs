//! TLS both ways. Upstream (issue #2, PINGORA.md: Pingora calls its rustls support experimental,
//! so keep a test on it): the fake GitHub is put behind a TLS terminator whose certificate comes
//! from a test CA; ghpool must verify it against Pingora's `ca_file`, send SNI, and refuse it
//! without the CA. Downstream (issue #17): ghpool's own listener over TLS with certificates a test
//! CA signs — real clients over `https://`, renewal without a restart, and mutual TLS.

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

// ---------------------------------------------------------------------------------------------
// Issue #17: ghpool's own listener over TLS, and mutual TLS.

/// A CA made by the test (nothing private is committed), and certificates it signs.
struct Pki {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Pki { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for 127.0.0.1 and localhost named `cn`: (certificate, key).
    fn server(&self, cn: &str) -> (String, String) {
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        (params.signed_by(&key, &self.issuer).unwrap().pem(), key.serialize_pem())
    }

    /// A client certificate named `cn`: (certificate, key).
    fn client(&self, cn: &str) -> (String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        (params.signed_by(&key, &self.issuer).unwrap().pem(), key.serialize_pem())
    }
}

/// ghpool serving TLS on its port with the certificate and key files in `dir` (`tls.crt`,
/// `tls.key`, and `client-ca.pem` when `mutual`), plus `extra`; started once `/healthz` answers
/// over TLS (with `identity` when mutual).
fn start_tls(
    dir: &std::path::Path,
    ca: &Pki,
    identity: Option<&(String, String)>,
    extra: &[(&str, &str)],
) -> GhpoolProcess {
    let file = |name: &str| format!("file:{}", dir.join(name).display());
    let (cert, key) = (file("tls.crt"), file("tls.key"));
    let mut env: Vec<(&str, &str)> = vec![("GHPOOL_TLS_CERT", &cert), ("GHPOOL_TLS_KEY", &key)];
    env.extend_from_slice(extra);
    let port = support::ghpool::free_port();
    let gp = GhpoolProcess::spawn_on(port, &env, &[]);
    let client = https_client(ca, identity);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if client.get(https_url(&gp, "/healthz")).send().is_ok_and(|r| r.status() == 200) {
            return gp;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("ghpool did not serve /healthz over TLS:\n{}", gp.log());
}

fn https_url(gp: &GhpoolProcess, path: &str) -> String {
    format!("https://localhost:{}{path}", gp.port())
}

/// A client trusting `ca` only, presenting `identity` (certificate, key) if given.
fn https_client(ca: &Pki, identity: Option<&(String, String)>) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .timeout(std::time::Duration::from_secs(10));
    if let Some((cert, key)) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

fn write_pair(dir: &std::path::Path, (cert, key): &(String, String)) {
    // Written to new files and renamed over the old, as cert-manager's kubelet swap and most
    // renewal tools do: a reader never sees half a file.
    for (name, text) in [("tls.crt", cert), ("tls.key", key)] {
        let new = dir.join(format!("{name}.new"));
        std::fs::write(&new, text).unwrap();
        std::fs::rename(&new, dir.join(name)).unwrap();
    }
}

fn tls_setup() -> (FakeGithub, Pki, tempfile::TempDir) {
    let fake = FakeGithub::start();
    fake.add_token("ghp_tlsPOOLtlsPOOLtlsPOOLtlsPOOLtlsPOOL00", "alice");
    fake.add_repo("acme", "widgets");
    fake.add_repo("acme", "gadgets");
    let ca = Pki::new("ghpool test CA");
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), &ca.server("ghpool-first"));
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    (fake, ca, dir)
}

fn pool_env(fake: &FakeGithub) -> Vec<(String, String)> {
    vec![
        ("GHPOOL_UPSTREAM".into(), fake.base_url()),
        ("GHPOOL_ALLOWED_OWNERS".into(), "acme".into()),
        ("GHPOOL_PAT_A".into(), "env:TOKEN_A".into()),
        ("TOKEN_A".into(), "ghp_tlsPOOLtlsPOOLtlsPOOLtlsPOOLtlsPOOL00".into()),
    ]
}

fn as_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Issue #17: over `https://`, curl, PyGithub and Octokit (each trusting the test CA the way its
/// README line says) read through the pool, and GitHub's URLs in answers point at `https://`
/// ghpool; a client that does not trust the CA fails; plain HTTP on the TLS port gets a clear 400.
#[test]
fn clients_read_through_https_and_plain_http_on_the_tls_port_is_refused_cleanly_17() {
    let (fake, ca, dir) = tls_setup();
    let env = pool_env(&fake);
    let gp = start_tls(dir.path(), &ca, None, &as_refs(&env));
    let client = https_client(&ca, None);
    let repo: serde_json::Value = client.get(https_url(&gp, "/repos/acme/widgets")).send().unwrap().json().unwrap();
    assert_eq!(repo["full_name"], "acme/widgets");
    let url = repo["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("https://localhost:{}/", gp.port())), "answers point at https ghpool: {url}");

    let ca_file = dir.path().join("ca.pem");
    let curl = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&ca_file)
        .arg(https_url(&gp, "/repos/acme/widgets"))
        .output()
        .expect("curl");
    assert!(curl.status.success(), "{}", String::from_utf8_lossy(&curl.stderr));
    assert!(String::from_utf8_lossy(&curl.stdout).contains("\"full_name\":\"acme/widgets\""));
    let untrusted = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(https_url(&gp, "/repos/acme/widgets"))
        .env("SSL_CERT_FILE", "/dev/null")
        .env("CURL_CA_BUNDLE", "/dev/null")
        .output()
        .unwrap();
    assert!(!untrusted.status.success(), "a client that does not trust the CA fails");
    let plain = std::process::Command::new("curl")
        .args(["-s", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}"])
        .arg(format!("http://127.0.0.1:{}/repos/acme/widgets", gp.port()))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&plain.stdout);
    assert!(said.ends_with("\n400") && said.contains("use https://"), "{said}");

    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/venv/bin/python");
    if venv.is_file() {
        let script = "import os\nfrom github import Github\n\
                      gh = Github(base_url=os.environ['GHPOOL_URL'])\n\
                      print(gh.get_repo('acme/widgets').full_name)";
        let out = std::process::Command::new(&venv)
            .args(["-c", script])
            .env("GHPOOL_URL", https_url(&gp, ""))
            .env("REQUESTS_CA_BUNDLE", &ca_file)
            .output()
            .unwrap();
        assert_prints(&out, "acme/widgets");
    } else {
        eprintln!("SKIPPED PyGithub over TLS: target/tools/venv is missing (scripts/deps test installs it)");
    }
    let node_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/node");
    if node_dir.join("node_modules/@octokit/rest").is_dir() {
        let script = node_dir.join(format!("tls-{}.mjs", std::process::id()));
        std::fs::write(
            &script,
            "import { Octokit } from \"@octokit/rest\";\n\
             const octokit = new Octokit({ baseUrl: process.env.GHPOOL_URL });\n\
             const { data } = await octokit.rest.repos.get({ owner: \"acme\", repo: \"widgets\" });\n\
             console.log(data.full_name);\n",
        )
        .unwrap();
        let out = std::process::Command::new("node")
            .arg(&script)
            .env("GHPOOL_URL", https_url(&gp, ""))
            .env("NODE_EXTRA_CA_CERTS", &ca_file)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&script);
        assert_prints(&out, "acme/widgets");
    } else {
        eprintln!("SKIPPED Octokit over TLS: target/tools/node is missing (scripts/deps test installs it)");
    }
    let reads = fake.requests_to("/repos/acme/widgets");
    assert!(reads.iter().all(|r| r.token.as_deref() == Some("ghp_tlsPOOLtlsPOOLtlsPOOLtlsPOOLtlsPOOL00")));
}

/// The client printed `want` (and nothing else) on its standard output.
fn assert_prints(out: &std::process::Output, want: &str) {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), want, "{stderr}");
}

/// One TLS connection kept open by the test: the certificate it was served, and requests sent over
/// it one after another (keep-alive).
struct Connection {
    runtime: tokio::runtime::Runtime,
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl Connection {
    fn open(port: u16, ca: &Pki) -> Result<Connection, String> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = runtime.block_on(async {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            connector.connect(name, tcp).await.map_err(|e| e.to_string())
        })?;
        Ok(Connection { runtime, stream })
    }

    /// The common name of the certificate this connection was served.
    fn served(&self) -> String {
        let der = self.stream.get_ref().1.peer_certificates().unwrap()[0].clone();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let name = cert.subject().iter_common_name().next().unwrap().as_str().unwrap().to_string();
        name
    }

    /// `GET path` on this connection: the status.
    fn get(&mut self, path: &str) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stream = &mut self.stream;
        self.runtime.block_on(async {
            let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf)).await;
                let n = read.expect("an answer in time").unwrap();
                assert!(n > 0, "the connection was closed");
                answer.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&answer).to_string();
                let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
                let head = head.to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()));
                // Whole: as long as it says, or (chunked) up to its last, empty chunk.
                let whole = match length {
                    Some(length) => body.len() >= length,
                    None => body.ends_with("0\r\n\r\n"),
                };
                if whole {
                    return head.split(' ').nth(1).unwrap().parse().unwrap();
                }
            }
        })
    }
}

/// Issue #17: a renewed certificate (files replaced, SIGHUP) is served to new connections while a
/// keep-alive connection made before goes on with its own; a broken new pair keeps the one that
/// works, with a warning.
#[test]
fn a_renewed_certificate_is_served_to_new_connections_while_open_ones_finish_17() {
    let (fake, ca, dir) = tls_setup();
    let env = pool_env(&fake);
    let gp = start_tls(dir.path(), &ca, None, &as_refs(&env));
    let mut old = Connection::open(gp.port(), &ca).unwrap();
    assert_eq!(old.served(), "ghpool-first");
    assert_eq!(old.get("/healthz"), 200);

    write_pair(dir.path(), &ca.server("ghpool-renewed"));
    gp.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !gp.log().contains("new certificate") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let new = Connection::open(gp.port(), &ca).unwrap();
    assert_eq!(new.served(), "ghpool-renewed", "{}", gp.log());
    assert_eq!(old.get("/repos/acme/widgets"), 200, "the open connection goes on");
    assert_eq!(old.get("/healthz"), 200);
    assert_eq!(old.served(), "ghpool-first");

    // A key that does not belong to the certificate: the working pair stays.
    let (cert, _) = ca.server("ghpool-broken");
    let (_, other_key) = ca.server("ghpool-other");
    write_pair(dir.path(), &(cert, other_key));
    gp.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !gp.log().contains("keeps its certificate") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(gp.log().contains("does not belong to the certificate"), "{}", gp.log());
    assert_eq!(Connection::open(gp.port(), &ca).unwrap().served(), "ghpool-renewed");
    assert!(!gp.log().contains("PRIVATE KEY"), "no key in the log");
}

/// Issue #17: with a client CA, a client without a certificate, or with one from another CA, is
/// refused at the handshake; one with a certificate the CA signed is served, named in `/stats`,
/// keys fairness (`client_key = "certificate"`), and names an agent (`certificate_subject`)
/// without a key.
#[test]
fn mutual_tls_admits_only_clients_with_a_certificate_from_the_client_ca_17() {
    let (fake, ca, dir) = tls_setup();
    let clients = Pki::new("ghpool test client CA");
    std::fs::write(dir.path().join("client-ca.pem"), clients.pem()).unwrap();
    let client_ca = format!("file:{}", dir.path().join("client-ca.pem").display());
    let good = clients.client("agent-1");
    let mut env = pool_env(&fake);
    env.extend([
        ("GHPOOL_TLS_CLIENT_CA".to_string(), client_ca),
        ("GHPOOL_FAIRNESS_CLIENT_KEY".to_string(), "certificate".to_string()),
        ("GHPOOL_AGENT_TRIAGE_CERTIFICATE_SUBJECT".to_string(), "agent-1".to_string()),
        ("GHPOOL_AGENT_TRIAGE_REPOS".to_string(), "acme/widgets".to_string()),
        ("GHPOOL_ALLOW_UNKEYED".to_string(), "true".to_string()),
    ]);
    let plain_port = support::ghpool::free_port();
    let plain = format!("127.0.0.1:{plain_port}");
    env.push(("GHPOOL_TLS_ALSO_PLAIN".to_string(), plain.clone()));
    let gp = start_tls(dir.path(), &ca, Some(&good), &as_refs(&env));

    let no_certificate = https_client(&ca, None).get(https_url(&gp, "/healthz")).send();
    assert!(no_certificate.is_err(), "refused at the handshake: {no_certificate:?}");
    let stranger = Pki::new("another CA").client("agent-1");
    let wrong_ca = https_client(&ca, Some(&stranger)).get(https_url(&gp, "/healthz")).send();
    assert!(wrong_ca.is_err(), "a certificate from another CA is refused: {wrong_ca:?}");

    let client = https_client(&ca, Some(&good));
    let resp = client.get(https_url(&gp, "/repos/acme/widgets")).send().unwrap();
    assert_eq!(resp.status(), 200, "the certificate names agent `triage`: no key needed");
    let resp = client.get(https_url(&gp, "/repos/acme/gadgets")).send().unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().unwrap().contains("agent `triage` may not read `acme/gadgets`"));
    let stats: serde_json::Value = client.get(https_url(&gp, "/stats")).send().unwrap().json().unwrap();
    assert_eq!(stats["tls"]["mutual"], true);
    assert!(stats["tls"]["client_certificates"]["agent-1"].as_u64().is_some_and(|n| n >= 1), "{}", stats["tls"]);
    let triage = &stats["agents"][0];
    assert_eq!((triage["requests"].as_u64(), triage["denials"].as_u64()), (Some(1), Some(1)), "{triage}");
    // The agent's share: an agent is keyed by its id whatever names it.
    assert!(stats["clients"].get("agent:triage").is_some(), "{}", stats["clients"]);
    // A certificate that names no agent: served as before agents (allow_unkeyed), its share keyed
    // by the certificate's name.
    let human = https_client(&ca, Some(&clients.client("human-1")));
    assert_eq!(human.get(https_url(&gp, "/repos/acme/gadgets")).send().unwrap().status(), 200);
    let stats: serde_json::Value = human.get(https_url(&gp, "/stats")).send().unwrap().json().unwrap();
    assert!(stats["clients"].get("certificate:human-1").is_some(), "{}", stats["clients"]);
    assert_eq!(fake.requests_to("/repos/acme/gadgets").len(), 1, "only the unkeyed client's read");

    // The plain listener beside mutual TLS serves the probes and metrics, nothing else.
    let plain_get =
        |path: &str| support::ghpool::client().get(format!("http://{plain}{path}")).send().unwrap().status().as_u16();
    assert_eq!((plain_get("/healthz"), plain_get("/metrics")), (200, 200));
    assert_eq!((plain_get("/repos/acme/widgets"), plain_get("/stats")), (403, 403), "no certificate, no API");

    // A session resumed after the client CA changed carries a certificate the new CA did not sign:
    // refused, though its handshake is a resumption (red team).
    let resuming = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .identity(reqwest::Identity::from_pem(format!("{}\n{}", good.0, good.1).as_bytes()).unwrap())
        .pool_max_idle_per_host(0)
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    assert_eq!(resuming.get(https_url(&gp, "/repos/acme/widgets")).send().unwrap().status(), 200);
    assert_eq!(resuming.get(https_url(&gp, "/repos/acme/widgets")).send().unwrap().status(), 200, "resumed");
    std::fs::write(dir.path().join("client-ca.pem"), Pki::new("the next client CA").pem()).unwrap();
    gp.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !gp.log().contains("new client CA taken") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let after = resuming.get(https_url(&gp, "/repos/acme/widgets")).send();
    assert!(after.as_ref().map_or(true, |r| r.status() == 403), "a certificate of the old CA: {after:?}");
}

/// Issue #17: gh through `ghp` with `GHPOOL_URL=https://…` (gh reaches ghpool as an `https://`
/// proxy) and the test CA in `SSL_CERT_FILE`: REST and GraphQL reads through the pool; and `ghp
/// git-credential` fetches an agent's git token over TLS the same way.
#[test]
fn gh_through_ghp_reads_over_https_with_the_ca_in_ssl_cert_file_17() {
    let Some(real_gh) = support::clients::on_path("gh") else {
        support::clients::skipped(
            "gh_through_ghp_reads_over_https_with_the_ca_in_ssl_cert_file_17",
            "gh is not installed",
        );
        return;
    };
    let (fake, ca, dir) = tls_setup();
    fake.add_issues("acme", "widgets", 3);
    // An agent, and an App to mint its git tokens, for `ghp git-credential` over TLS.
    const KEY: &str = "ghpk_tlsAGENTtlsAGENTtlsAGENTtlsAGENTtlsAGENT000";
    let (private, public) = support::fake_github::apps::key_pair();
    fake.add_app(77, "ghpool-tls", &public, 1001, "acme");
    let mut env = pool_env(&fake);
    env.extend(
        [
            ("GHPOOL_APP_GIT_APP_ID", "77"),
            ("GHPOOL_APP_GIT_PRIVATE_KEY", "env:APP_KEY"),
            ("GHPOOL_APP_GIT_INSTALLATION_ID", "1001"),
            ("GHPOOL_APP_GIT_SERVES", "writes"),
            ("APP_KEY", private.as_str()),
            ("GHPOOL_AGENT_GIT_KEYS", "env:GIT_KEY"),
            ("GIT_KEY", KEY),
            ("GHPOOL_AGENT_GIT_REPOS", "acme/widgets"),
            ("GHPOOL_ALLOW_UNKEYED", "true"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let gp = start_tls(dir.path(), &ca, None, &as_refs(&env));
    let home = tempfile::tempdir().unwrap();
    for sub in ["bin", "config", "work"] {
        std::fs::create_dir(home.path().join(sub)).unwrap();
    }
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ghp"), home.path().join("bin/gh")).unwrap();
    let path =
        std::env::join_paths([home.path().join("bin"), real_gh.parent().unwrap().to_path_buf(), "/usr/bin".into()]);
    let gh = |args: &[&str]| {
        let mut cmd = std::process::Command::new(home.path().join("bin/gh"));
        cmd.args(args)
            .env_clear()
            .env("PATH", path.as_ref().unwrap())
            .env("HOME", home.path())
            .env("GH_CONFIG_DIR", home.path().join("config"))
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .env("GH_PROMPT_DISABLED", "1")
            .env("GHPOOL_URL", https_url(&gp, ""))
            .env("GH_TOKEN", "ghp_userUSERuserUSERuserUSERuserUSERuser00")
            .env("SSL_CERT_FILE", dir.path().join("ca.pem"))
            .current_dir(home.path().join("work"));
        support::clients::run(&mut cmd, std::time::Duration::from_secs(60))
    };
    let out = gh(&["api", "repos/acme/widgets", "--jq", ".full_name"]).ok("gh api over https");
    assert_eq!(out.stdout.trim(), "acme/widgets");
    let out = gh(&["issue", "list", "-R", "acme/widgets", "-L", "2"]).ok("gh issue list over https");
    assert!(out.stdout.starts_with("3\tOPEN\tIssue 3\t"), "{}", out.stdout);
    let reads: Vec<_> = fake.requests().into_iter().filter(|r| !r.path.starts_with("/app")).collect();
    assert!(reads.iter().all(|r| r.token.as_deref() == Some("ghp_tlsPOOLtlsPOOLtlsPOOLtlsPOOLtlsPOOL00")), "{reads:?}");

    let mut helper = std::process::Command::new(env!("CARGO_BIN_EXE_ghp"))
        .arg("git-credential")
        .arg("get")
        .env_clear()
        .env("PATH", path.as_ref().unwrap())
        .env("GHPOOL_URL", https_url(&gp, ""))
        .env("GH_TOKEN", KEY)
        .env("SSL_CERT_FILE", dir.path().join("ca.pem"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        helper.stdin.as_mut().unwrap(),
        b"protocol=https\nhost=github.com\npath=acme/widgets.git\n\n",
    )
    .unwrap();
    let out = helper.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("username=x-access-token") && said.contains("password=ghs_"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue #17: a pair that does not load stops ghpool at start with what is wrong (never the key),
/// exit status 1.
#[test]
fn a_pair_that_does_not_load_stops_the_start_with_what_is_wrong_17() {
    let (fake, ca, dir) = tls_setup();
    let env = pool_env(&fake);
    let (cert, _) = ca.server("ghpool-a");
    let (_, other_key) = ca.server("ghpool-b");
    write_pair(dir.path(), &(cert, other_key.clone()));
    let file = |name: &str| format!("file:{}", dir.path().join(name).display());
    let (cert_ref, key_ref, missing) = (file("tls.crt"), file("tls.key"), file("nothing.pem"));
    let cases = [(key_ref.as_str(), "does not belong to the certificate"), (missing.as_str(), "tls.key")];
    for (key, expected) in cases {
        let mut vars = as_refs(&env);
        vars.extend([("GHPOOL_TLS_CERT", cert_ref.as_str()), ("GHPOOL_TLS_KEY", key)]);
        let (code, out) = support::ghpool::run_to_exit(&vars, None, &[]);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("the TLS listener cannot start") && out.contains(expected), "{out}");
        assert!(!out.contains("PRIVATE KEY") && !out.contains(&other_key[40..80]), "{out}");
    }
}
