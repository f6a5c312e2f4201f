//! Assembling the running server: Pingora's `Server` with ghpool's proxy service on the configured
//! listen address, and background services that keep the upstream address fresh, the pool's
//! budgets current, and every secret re-resolved (on a timer and on SIGHUP).
//!
//! Owns: start-up order (config → upstream DNS → pool → listen). Must never: make per-request decisions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora_core::apps::ServerApp;
use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::protocols::Stream;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{Server, ShutdownWatch};
use pingora_core::services::background::{background_service, BackgroundService};
use pingora_core::services::listening::Service;
use tokio::signal::unix::{signal, SignalKind};

use crate::admission::access::Allowlist;
use crate::admission::agents::Agents;
use crate::admission::classify::GraphqlRules;
use crate::admission::repos::RepoOwners;
use crate::cache::Cache;
use crate::config::agents::{AgentConfig, AgentKey};
use crate::config::Config;
use crate::ops::audit::Auditor;
use crate::ops::metrics::Metrics;
use crate::pool::broker::Broker;
use crate::pool::{build_pool, BuildError, Keeper, Renewer};
use crate::proxy::{Ghpool, Timeouts};
use crate::secrets::Resolver;
use crate::shared::Shared;
use crate::upstream::ResolvedUpstream;

/// How long start-up waits for GitHub to say who each identity is.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
const DNS_REFRESH: Duration = Duration::from_secs(30);
/// How often App installation tokens are checked for renewal (a cheap comparison of times).
const APP_TOKEN_CHECK: Duration = Duration::from_secs(1);
/// How often Redis is asked whether it is there (and how soon sharing resumes after an outage).
const SHARED_PROBE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Pool(#[from] BuildError),
    #[error("the Pingora server could not be created: {0}")]
    Server(String),
    #[error("the HTTP client for start-up calls could not be built: {0}")]
    Client(String),
    #[error("CA file `{0}` could not be used: {1}")]
    CaFile(String, String),
    #[error(transparent)]
    Schema(#[from] crate::admission::graphql::schema::SchemaError),
    #[error(transparent)]
    Shared(#[from] crate::shared::SharedError),
    #[error("shared.redis_password could not be resolved: {0}")]
    RedisPassword(String),
    #[error("the TLS listener cannot start: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Environment(#[from] crate::preflight::EnvironmentError),
    #[error("agent `{agent}` may write to `{owner}`, but no GitHub App installation on `{owner}` serves writes: add `serves = [\"writes\"]` (or [\"reads\", \"writes\"]) to the `[[apps]]` entry of an App installed there, or drop the agent's write permissions (an App that serves writes there but could not be reached at start is named above)")]
    NoWriter { agent: String, owner: String },
}

/// Pingora's server configuration: the YAML file given with `-c`, or defaults with one worker
/// thread per core (Pingora's own default is a single thread) and short shutdown grace periods.
pub fn server_conf(opt: &Opt) -> Result<ServerConf, StartError> {
    let conf = match &opt.conf {
        Some(_) => ServerConf::load_yaml_with_opt_override(opt).map_err(|e| StartError::Server(e.to_string()))?,
        None => {
            let mut conf = ServerConf::new_with_opt_override(opt)
                .ok_or_else(|| StartError::Server("default configuration".into()))?;
            conf.threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            // Pingora waits 300 s after SIGTERM before it stops listening: far past a Kubernetes
            // pod's 30 s grace. Without a conf file, drain for 5 s, then give requests 5 s more.
            conf.grace_period_seconds = Some(5);
            conf.graceful_shutdown_timeout_seconds = Some(5);
            conf
        }
    };
    Ok(conf)
}

/// The client for ghpool's own calls (login resolution), trusting Pingora's `ca_file` if set.
pub fn http_client(conf: &ServerConf) -> Result<reqwest::Client, StartError> {
    let mut builder = reqwest::Client::builder().user_agent(crate::USER_AGENT);
    if let Some(path) = &conf.ca_file {
        let pem = std::fs::read(path).map_err(|e| StartError::CaFile(path.clone(), e.to_string()))?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| StartError::CaFile(path.clone(), e.to_string()))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| StartError::Client(e.to_string()))
}

/// Resolve the upstream and build the pool, on a runtime of its own that is gone before Pingora
/// starts (and possibly forks to daemonize).
pub fn prepare(config: &Config, conf: &ServerConf) -> Result<Ghpool, StartError> {
    // The CA roots Pingora's connector will load, loaded first: what is missing is said here.
    let roots = crate::preflight::ca_roots(conf.ca_file.as_deref(), needs_https(config))?;
    log::info!("upstream TLS trusts {} CA certificates from {}", roots.count, roots.source);
    let client = http_client(conf)?;
    let graphql = graphql_rules(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StartError::Server(e.to_string()))?;
    let upstream = Arc::new(ResolvedUpstream::new(config.upstream.clone()));
    let resolver = Resolver::from_process(&config.secrets_dir);
    let shared = match &config.shared {
        Some(shared) => {
            let password = match &shared.password {
                Some(reference) => Some(
                    runtime
                        .block_on(resolver.resolve(reference))
                        .map_err(|e| StartError::RedisPassword(e.to_string()))?,
                ),
                None => None,
            };
            let auth = if password.is_some() { ", with AUTH" } else { "" };
            log::info!("replicas share state through Redis ({} keys{auth})", shared.key_prefix);
            Some(Arc::new(Shared::new(shared, password.as_ref())?))
        }
        None => None,
    };
    let tls = match &config.tls {
        Some(tls) => Some(Arc::new(runtime.block_on(crate::tls::ListenerTls::load(tls, &resolver))?)),
        None => None,
    };
    let metrics = Metrics::new();
    if let Some(shared) = &shared {
        metrics.register_shared(shared);
    }
    if let Err(e) = runtime.block_on(upstream.refresh()) {
        // Nothing to resolve with is no blip: said now. Otherwise retried in the background.
        crate::preflight::resolution(std::path::Path::new("/"), config.upstream.host())?;
        log::warn!("upstream `{}` does not resolve yet ({e}); retrying in the background", config.upstream.base_url());
    }
    let built = runtime.block_on(build_pool(config, &resolver, &client, LOGIN_TIMEOUT))?;
    let (pool, app_renewals) = (built.pool, built.renewals);
    if pool.is_anonymous() {
        log::warn!("ghpool runs WITHOUT identities: reads are unauthenticated (GitHub allows 60/hour per IP)");
    }
    let agents = Arc::new(Agents::new(&config.agents, config.access.allow_unkeyed));
    runtime.block_on(refresh_agent_keys(&agents, &config.agents, &resolver));
    if !agents.is_empty() {
        let unkeyed = match config.access.allow_unkeyed {
            true => "clients without a key are served as before (allow_unkeyed)",
            false => "requests without a valid key get 401",
        };
        log::info!("{} agents, each limited to its repositories; {unkeyed}", agents.list().len());
    }
    // Installations that serve writes mint for agents' writes; any can mint a read-only git token.
    let accounts: HashMap<String, String> =
        pool.snapshot().into_iter().filter_map(|identity| identity.app.map(|app| (identity.id, app.account))).collect();
    let writers = built.writers.into_iter().map(|w| (w.account, w.installation_id, w.client, true));
    let readers = app_renewals.iter().filter_map(|r| {
        accounts.get(&r.id).map(|account| (account.clone(), r.installation_id, r.client.clone(), false))
    });
    let broker = Broker::new(writers.chain(readers).collect());
    let allowlist = Allowlist::with_lists(
        config.owners.clone(),
        config.access.public_paths.clone(),
        config.access.graphql_unscoped_fields.clone(),
    );
    check_writers(&agents, &broker, &allowlist)?;
    Ok(Ghpool {
        agents,
        broker: Arc::new(broker),
        pool: Arc::new(pool.with_max_in_flight(config.pool.max_in_flight)),
        allowlist,
        upstream,
        metrics: Arc::new(metrics),
        repos: Arc::new(RepoOwners::default()),
        cache: Arc::new(Cache::new(&config.cache, shared.clone().map(|s| (s, shared_salt(config))))),
        shared,
        tls,
        public_url: config.public_url.clone(),
        fairness: Arc::new(crate::pool::fairness::Fairness::new(
            config.fairness.client_key,
            config.fairness.per_client_per_minute,
            config.fairness.burst,
        )),
        auditor: Arc::new(Auditor::new(client.clone(), config.upstream.clone(), config.audit_path.as_deref())),
        client,
        timeouts: Timeouts { connect: config.connect_timeout, read: config.read_timeout, ..Timeouts::default() },
        queue_timeout: config.pool.queue_timeout,
        started: Instant::now(),
        app_renewals,
        graphql,
    })
}

/// What ghpool reaches over TLS at start, if anything: the upstream, AWS Secrets Manager, Google's
/// Secret Manager (for the preflight's CA roots check).
fn needs_https(config: &Config) -> Option<String> {
    if config.upstream.tls() {
        return Some(format!("the upstream {} is https", config.upstream.base_url()));
    }
    use crate::config::agents::AgentKey;
    use crate::secrets::SecretRef;
    let agent_keys = config.agents.iter().flat_map(|a| &a.keys).filter_map(|k| match k {
        AgentKey::Reference(r) => Some(r),
        AgentKey::Digest(_) => None,
    });
    let tls = config.tls.iter().flat_map(|t| [Some(&t.cert), Some(&t.key), t.client_ca.as_ref()].into_iter().flatten());
    let mut references = config
        .identities
        .iter()
        .map(|i| &i.token)
        .chain(config.apps.iter().map(|a| &a.private_key))
        .chain(config.shared.iter().filter_map(|s| s.password.as_ref()))
        .chain(agent_keys)
        .chain(tls);
    let cloud = |r: &SecretRef| matches!(r, SecretRef::AwsSecretsManager { .. } | SecretRef::GcpSecretManager { .. });
    references.any(cloud).then(|| "aws: or gcp: secrets are read over https".to_string())
}

/// Every agent given write permissions has an installation that serves writes on every allowed
/// owner it holds repositories of: found now, not on its first write.
fn check_writers(agents: &Agents, broker: &Broker, allowlist: &Allowlist) -> Result<(), StartError> {
    use crate::pool::broker::Purpose;
    for agent in agents.list() {
        if Purpose::of(&agent.permissions) != Purpose::Write {
            continue;
        }
        let mut owners = agent.policy.owners().into_iter().filter(|owner| allowlist.allows(owner));
        if let Some(owner) = owners.find(|owner| !broker.serves(owner, Purpose::Write)) {
            return Err(StartError::NoWriter { agent: agent.id.clone(), owner });
        }
    }
    Ok(())
}

/// What makes one configuration's answers differ from another's, for the shared cache's keys: the
/// upstream, the owners allowed, the owner-free paths and GraphQL fields served, the schema. Two
/// replicas differing in any (a rolling configuration change) share nothing.
fn shared_salt(config: &Config) -> String {
    use sha2::{Digest, Sha256};
    let owners = match &config.owners {
        crate::config::OwnerPolicy::AllowAll => "*".to_string(),
        crate::config::OwnerPolicy::Only(set) => {
            let mut owners: Vec<&str> = set.iter().map(String::as_str).collect();
            owners.sort_unstable();
            owners.join(",")
        }
    };
    let text = format!(
        "{}\n{owners}\n{:?}\n{:?}\n{:?}",
        config.upstream.base_url(),
        config.access.public_paths,
        config.access.graphql_unscoped_fields,
        config.graphql.schema,
    );
    Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The GraphQL schema documents are validated against: the vendored GitHub schema, or the file
/// `[graphql] schema` names (loaded once, for the life of the process).
fn graphql_rules(config: &Config) -> Result<GraphqlRules, StartError> {
    use crate::admission::graphql::{GithubSchema, Limits};
    let schema: &'static GithubSchema = match &config.graphql.schema {
        Some(path) => Box::leak(Box::new(GithubSchema::load(path)?)),
        None => GithubSchema::github(),
    };
    let (owned, contained) = schema.counts();
    log::info!("GraphQL schema loaded: {owned} object types tied to an owner, {contained} contained");
    Ok(GraphqlRules { schema, limits: Limits::default(), max_mutation_body: config.graphql.max_mutation_body })
}

/// Resolve every agent's keys named by reference (the configured digests stay) and take them as
/// the agent's keys now. An agent whose reference does not resolve keeps the keys it had.
async fn refresh_agent_keys(agents: &Agents, configs: &[AgentConfig], resolver: &Resolver) {
    for config in configs {
        let mut digests = Vec::new();
        let mut complete = true;
        for key in &config.keys {
            match key {
                AgentKey::Digest(digest) => digests.push(*digest),
                AgentKey::Reference(reference) => match resolver.resolve(reference).await {
                    Ok(key) => digests.push(crate::secrets::agent_key::digest(key.expose().trim())),
                    Err(e) => {
                        log::warn!(
                            "agent `{}` keeps its keys: {} did not resolve: {e}",
                            config.id,
                            reference.describe()
                        );
                        complete = false;
                    }
                },
            }
        }
        if complete || agents.list().iter().any(|a| a.id == config.id && !a.has_keys()) {
            agents.set_keys(&config.id, digests);
        }
    }
}

/// Build the server with its services; the caller runs it.
pub fn build_server(opt: Opt, conf: ServerConf, config: &Config, mut ghpool: Ghpool) -> Result<Server, StartError> {
    let renewer = Renewer::new(ghpool.pool.clone(), std::mem::take(&mut ghpool.app_renewals));
    let keeper = Arc::new(Keeper::new(
        ghpool.pool.clone(),
        ghpool.client.clone(),
        config.upstream.clone(),
        Resolver::from_process(&config.secrets_dir),
        config.pool.refresh,
    ));
    let upstream = ghpool.upstream.clone();
    let shared = ghpool.shared.clone();
    let agents = ghpool.agents.clone();
    let audit = ghpool.auditor.file.clone();
    let tls = ghpool.tls.clone();
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    let grace = Duration::from_secs(server.configuration.grace_period_seconds.unwrap_or(5));
    let app =
        Linger { inner: Arc::new(pingora_proxy::http_proxy(&server.configuration, ghpool)), linger: linger(grace) };
    let mut proxy = Service::new("ghpool".to_string(), app);
    let write_buffer = L4BufferSettings::default().write(CLIENT_WRITE_BUFFER);
    let listen = ListenerConfig::tcp(config.listen.to_string()).l4_buffer(write_buffer);
    match &tls {
        // With TLS, `listen` speaks only TLS; a plain-HTTP request there gets a clear 400.
        Some(tls) => {
            let settings = tls.settings().map_err(|e| StartError::Server(format!("TLS listener: {e}")))?;
            proxy.add_listener(listen.tls(settings));
            proxy.endpoints().set_pre_tls_callback(Arc::new(crate::tls::PlainHttpRefusal));
            if let Some(plain) = config.tls.as_ref().and_then(|t| t.also_plain) {
                proxy.add_listener(ListenerConfig::tcp(plain.to_string()).l4_buffer(write_buffer));
            }
        }
        None => proxy.add_listener(listen),
    }
    server.add_service(proxy);
    server.add_service(background_service("upstream dns", Every(DNS_REFRESH, DnsRefresh { upstream })));
    if let Some(audit) = &audit {
        server
            .add_service(background_service("audit denials", Every(Duration::from_secs(1), AuditFlush(audit.clone()))));
    }
    let interval = keeper.interval();
    let redis_password = match (&shared, config.shared.as_ref().and_then(|s| s.password.clone())) {
        (Some(shared), Some(reference)) => Some(RedisPassword {
            shared: shared.clone(),
            reference,
            resolver: Resolver::from_process(&config.secrets_dir),
        }),
        _ => None,
    };
    let agent_keys = (!config.agents.is_empty())
        .then(|| (agents.clone(), config.agents.clone(), Resolver::from_process(&config.secrets_dir)));
    let listener_tls = tls.map(|tls| (tls, Resolver::from_process(&config.secrets_dir)));
    let secrets = SecretsRefresh {
        keeper: keeper.clone(),
        every: config.secrets_refresh,
        redis_password,
        agent_keys,
        audit,
        listener_tls,
    };
    server.add_service(background_service("pool keeper", Every(interval, keeper)));
    server.add_service(background_service("secrets refresh", secrets));
    server.add_service(background_service("app tokens", Every(APP_TOKEN_CHECK, renewer)));
    if let Some(shared) = shared {
        server.add_service(background_service("shared state probe", Every(SHARED_PROBE, shared.clone())));
        server.add_service(background_service("write generations", BumpFollower(shared)));
    }
    Ok(server)
}

/// Bytes buffered on the way to a client. Pingora buffers only answers of known length (chunked
/// ones are flushed chunk by chunk) and flushes at their end; its default, one MSS (1460), makes a
/// cache hit two `sendto`s, header then body. 32 KiB sends the header and a body of up to about
/// 30 KiB (most GitHub answers) in one. Pingora's read buffer is 64 KiB a connection already.
const CLIENT_WRITE_BUFFER: usize = 32 * 1024;

/// How long accepted connections keep being served after the listener closes: long enough for a
/// client that has just connected to send its request, well inside the grace period.
fn linger(grace: Duration) -> Duration {
    (grace / 2).min(Duration::from_secs(2))
}

/// Pingora's HTTP proxy app, but its shutdown clean-up waits a moment first.
///
/// When shutdown starts (SIGTERM; or, during an upgrade, once the new process has the sockets),
/// Pingora stops accepting and at once wakes every connection still waiting for its first request
/// to close it unanswered — a client that had just connected loses its request, even a write.
/// Waiting `linger` before that clean-up lets those requests be read and answered (with
/// `Connection: close`, as Pingora answers everything during shutdown).
struct Linger<A> {
    inner: Arc<A>,
    linger: Duration,
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Linger<A> {
    async fn process_new(self: &Arc<Self>, session: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        self.inner.process_new(session, shutdown).await
    }

    async fn cleanup(&self) {
        tokio::time::sleep(self.linger).await;
        self.inner.cleanup().await;
    }
}

/// Work done on a timer in the background.
#[async_trait]
trait Tick: Send + Sync {
    async fn tick(&self);
}

/// A background service that runs `T::tick` every interval until shutdown.
struct Every<T>(Duration, T);

#[async_trait]
impl<T: Tick> BackgroundService for Every<T> {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(self.0) => self.1.tick().await,
            }
        }
    }
}

/// The pool's upkeep: budgets of idle identities, quarantined identities' secrets.
#[async_trait]
impl Tick for Arc<Keeper> {
    async fn tick(&self) {
        self.run_once().await;
    }
}

/// Every identity's secret resolved again every `secrets_refresh`, and at once on SIGHUP.
struct SecretsRefresh {
    keeper: Arc<Keeper>,
    every: Duration,
    /// Redis' password, resolved again with the identities' secrets.
    redis_password: Option<RedisPassword>,
    /// Agents' keys named by reference, resolved again (a rotated key without a restart).
    agent_keys: Option<(Arc<Agents>, Vec<AgentConfig>, Resolver)>,
    /// The audit file, opened again on SIGHUP (logrotate moved it).
    audit: Option<Arc<crate::ops::audit_log::AuditLog>>,
    /// The listener's certificate and client CA, resolved again (a renewed certificate without a
    /// restart).
    listener_tls: Option<(Arc<crate::tls::ListenerTls>, Resolver)>,
}

struct RedisPassword {
    shared: Arc<Shared>,
    reference: crate::secrets::SecretRef,
    resolver: Resolver,
}

impl RedisPassword {
    async fn refresh(&self) {
        match self.resolver.resolve(&self.reference).await {
            Ok(password) => self.shared.rotate_password(&password),
            Err(e) => log::warn!(
                "shared.redis_password keeps its current value: {} did not resolve: {e}",
                self.reference.describe()
            ),
        }
    }
}

#[async_trait]
impl BackgroundService for SecretsRefresh {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                log::warn!("SIGHUP cannot trigger a secrets refresh ({e}); refreshing every {:?} only", self.every);
                None
            }
        };
        loop {
            let hung_up = async {
                match &mut hangup {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let hangup = tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(self.every) => false,
                _ = hung_up => {
                    log::info!("SIGHUP: resolving every identity's secret again");
                    true
                }
            };
            if let (true, Some(audit)) = (hangup, &self.audit) {
                match audit.reopen() {
                    Ok(()) => log::info!("SIGHUP: audit file {} opened again", audit.describe()),
                    Err(e) => log::error!("SIGHUP: {e}; writes are refused (503) until it can be written"),
                }
            }
            self.keeper.refresh_secrets().await;
            if let Some(password) = &self.redis_password {
                password.refresh().await;
            }
            if let Some((agents, configs, resolver)) = &self.agent_keys {
                refresh_agent_keys(agents, configs, resolver).await;
            }
            if let Some((tls, resolver)) = &self.listener_tls {
                tls.refresh(resolver).await;
            }
        }
    }
}

/// The audit file's waiting denials written, once a second.
struct AuditFlush(Arc<crate::ops::audit_log::AuditLog>);

#[async_trait]
impl Tick for AuditFlush {
    async fn tick(&self) {
        self.0.flush().await;
    }
}

/// Redis asked whether it is (still) there: sharing resumes within a second of its return.
#[async_trait]
impl Tick for Arc<Shared> {
    async fn tick(&self) {
        self.probe().await;
    }
}

/// This replica's copy of the write generations, kept by the bumps every replica publishes.
struct BumpFollower(Arc<Shared>);

#[async_trait]
impl BackgroundService for BumpFollower {
    async fn start(&self, shutdown: ShutdownWatch) {
        self.0.follow_bumps(shutdown).await;
    }
}

/// App installation tokens renewed before they expire.
#[async_trait]
impl Tick for Renewer {
    async fn tick(&self) {
        self.run_once().await;
    }
}

/// Keeps the upstream's address current, so a worker never resolves DNS on the request path.
struct DnsRefresh {
    upstream: Arc<ResolvedUpstream>,
}

#[async_trait]
impl Tick for DnsRefresh {
    async fn tick(&self) {
        if let Err(e) = self.upstream.refresh().await {
            log::warn!("upstream `{}` did not resolve: {e}; keeping the last address", self.upstream.upstream().host());
        }
    }
}
