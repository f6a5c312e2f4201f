//! The agents ghpool serves (issue #16), and which one a request's key names.
//!
//! Owns: each agent's policy and permissions, its current key digests (the configured `sha256:`
//! digests, and the digests of keys resolved from references — replaced whole on every refresh,
//! so a rotated key takes over without a restart and the old one stops), and [`Agents::identify`]:
//! the agent an `Authorization: token|Bearer <key>` names, compared in constant time against every
//! digest of every agent.
//! Must never: keep or show a key (digests only), let a request through that shows no key when
//! agents are configured (unless `allow_unkeyed`), or take an agent key (`ghpk_…`) that matches no
//! agent for a client's GitHub token — it would be forwarded to GitHub on a write.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::policy::AgentPolicy;
use crate::config::agents::{AgentConfig, AgentKey};
use crate::reply::Refusal;
use crate::secrets::agent_key::{self, KEY_PREFIX};
use crate::tls::ClientCertificate;

/// One configured agent.
#[derive(Debug)]
pub struct Agent {
    pub id: String,
    pub policy: AgentPolicy,
    /// [`AgentPolicy::digest`], made once: part of the cache key of every answer it screened.
    pub policy_digest: String,
    /// App permission → level it may write with (none: read-only).
    pub permissions: BTreeMap<String, String>,
    /// Mutual TLS: a verified client certificate so named is this agent (issue #17).
    pub certificate_subject: Option<String>,
    /// The digests of its keys as they stand.
    digests: RwLock<Vec<[u8; 32]>>,
    /// Requests admitted, and refused; writes sent with a minted token, and git credentials
    /// minted (`/stats`, `/metrics`).
    pub requests: AtomicU64,
    pub denials: AtomicU64,
    pub brokered: AtomicU64,
    pub git_credentials: AtomicU64,
}

/// One agent's counts, as `/stats` shows them.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct AgentUsage {
    pub id: String,
    pub requests: u64,
    pub denials: u64,
    pub brokered_writes: u64,
    pub git_credentials: u64,
}

impl Agent {
    fn digests(&self) -> Vec<[u8; 32]> {
        self.digests.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Has it any key at all yet?
    pub fn has_keys(&self) -> bool {
        !self.digests.read().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}

/// Who a request comes from.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A keyed agent.
    Agent(Arc<Agent>),
    /// No agent key: served as without agents (no agents configured, or `allow_unkeyed`).
    Unkeyed,
}

#[derive(Debug, Default)]
pub struct Agents {
    list: Vec<Arc<Agent>>,
    allow_unkeyed: bool,
}

impl Agents {
    /// The configured agents, with the digests written in the configuration; keys named by
    /// reference count once [`Agents::set_keys`] gives them.
    pub fn new(configs: &[AgentConfig], allow_unkeyed: bool) -> Agents {
        let list = configs
            .iter()
            .map(|c| {
                let digests = c
                    .keys
                    .iter()
                    .filter_map(|k| match k {
                        AgentKey::Digest(d) => Some(*d),
                        AgentKey::Reference(_) => None,
                    })
                    .collect();
                let policy = AgentPolicy::new(&c.repos);
                Arc::new(Agent {
                    id: c.id.clone(),
                    policy_digest: policy.digest(),
                    policy,
                    permissions: c.permissions.clone(),
                    certificate_subject: c.certificate_subject.clone(),
                    digests: RwLock::new(digests),
                    requests: AtomicU64::new(0),
                    denials: AtomicU64::new(0),
                    brokered: AtomicU64::new(0),
                    git_credentials: AtomicU64::new(0),
                })
            })
            .collect();
        Agents { list, allow_unkeyed }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn list(&self) -> &[Arc<Agent>] {
        &self.list
    }

    /// Each agent's counts.
    pub fn usage(&self) -> Vec<AgentUsage> {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        self.list
            .iter()
            .map(|a| AgentUsage {
                id: a.id.clone(),
                requests: get(&a.requests),
                denials: get(&a.denials),
                brokered_writes: get(&a.brokered),
                git_credentials: get(&a.git_credentials),
            })
            .collect()
    }

    /// Agent `id`'s keys as they stand now: configured digests and the digests of resolved keys.
    pub fn set_keys(&self, id: &str, digests: Vec<[u8; 32]>) {
        if let Some(agent) = self.list.iter().find(|a| a.id == id) {
            *agent.digests.write().unwrap_or_else(|p| p.into_inner()) = digests;
        }
    }

    /// Who `authorization` (and, with mutual TLS, the connection's verified `certificate`) says
    /// the request comes from, or the 401 for a request without a valid key when agents are
    /// configured. A certificate that names an agent is that agent; a key presented beside it must
    /// be the same agent's.
    pub fn identify(
        &self,
        authorization: Option<&str>,
        certificate: Option<&ClientCertificate>,
    ) -> Result<Caller, Refusal> {
        if self.list.is_empty() {
            return Ok(Caller::Unkeyed);
        }
        // A certificate that names two agents names neither (the configuration refuses duplicates;
        // a certificate may still carry one agent's name and another's).
        let mut named = certificate.into_iter().flat_map(|c| {
            self.list.iter().filter(move |a| a.certificate_subject.as_deref().is_some_and(|s| c.is_named(s)))
        });
        let by_certificate = match (named.next(), named.next()) {
            (Some(agent), None) => Some(agent.clone()),
            (None, _) => None,
            (Some(_), Some(_)) => return Err(Refusal::NoAgentKey),
        };
        let by_key = self.identify_key(authorization);
        match (by_certificate, by_key) {
            (None, by_key) => by_key,
            (Some(agent), Ok(Caller::Agent(keyed))) if !Arc::ptr_eq(&agent, &keyed) => Err(Refusal::NoAgentKey),
            // A GitHub token beside the certificate is never forwarded for an agent: ignored.
            (Some(agent), Ok(_)) => Ok(Caller::Agent(agent)),
            (Some(agent), Err(_)) if !authorization.is_some_and(carries_a_key) => Ok(Caller::Agent(agent)),
            (Some(_), Err(refusal)) => Err(refusal),
        }
    }

    /// The agent whose key `authorization` shows.
    fn identify_key(&self, authorization: Option<&str>) -> Result<Caller, Refusal> {
        let presented = authorization.and_then(presented_credential);
        if let Some(key) = presented.as_deref() {
            let digest = agent_key::digest(key);
            // Every agent is compared, whichever matches: the time says nothing of which did.
            let mut found = None;
            for agent in &self.list {
                if agent_key::matches_any(&digest, &agent.digests()) {
                    found = found.or(Some(agent.clone()));
                }
            }
            if let Some(agent) = found {
                return Ok(Caller::Agent(agent));
            }
            if key.starts_with(KEY_PREFIX) {
                return Err(Refusal::NoAgentKey);
            }
        }
        // However it is spelled, what looks like an agent key is never passed on as a token.
        if authorization.is_some_and(carries_a_key) {
            return Err(Refusal::NoAgentKey);
        }
        match self.allow_unkeyed {
            true => Ok(Caller::Unkeyed),
            false => Err(Refusal::NoAgentKey),
        }
    }
}

/// The credential of `token <x>`, `Bearer <x>` or Basic `user:<x>` (any case), trimmed; `None` for
/// anything else. Basic counts so that an agent key sent the way git sends passwords is never
/// taken for a GitHub token (and forwarded to GitHub with a write).
fn presented_credential(authorization: &str) -> Option<String> {
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    let credential = rest.trim();
    if credential.is_empty() || credential.contains(' ') {
        return None;
    }
    if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
        return Some(credential.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = basic(credential)?;
        return decoded.split_once(':').map(|(_, password)| password.trim().to_string());
    }
    None
}

/// A Basic credential decoded however a server might read it (padded or not, URL-safe or not).
fn basic(credential: &str) -> Option<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(credential).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// Does `authorization` carry something that looks like an agent key, in the clear or inside a
/// Basic credential (user or password)?
fn carries_a_key(authorization: &str) -> bool {
    if authorization.contains(KEY_PREFIX) {
        return true;
    }
    let Some((scheme, credential)) = authorization.trim().split_once(' ') else { return false };
    scheme.eq_ignore_ascii_case("basic") && basic(credential.trim()).is_some_and(|d| d.contains(KEY_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents(allow_unkeyed: bool) -> Agents {
        let config = |id: &str, key: &str, repo: &str| AgentConfig {
            id: id.into(),
            keys: vec![AgentKey::Digest(agent_key::digest(key))],
            repos: vec![crate::config::agents::parse_repo(repo).unwrap()],
            permissions: BTreeMap::new(),
            certificate_subject: None,
        };
        Agents::new(&[config("triage", "ghpk_one", "acme/w"), config("coder", "ghpk_two", "acme/*")], allow_unkeyed)
    }

    fn who(agents: &Agents, authorization: Option<&str>) -> Result<String, u16> {
        match agents.identify(authorization, None) {
            Ok(Caller::Agent(a)) => Ok(a.id.clone()),
            Ok(Caller::Unkeyed) => Ok("unkeyed".into()),
            Err(refusal) => Err(refusal.status()),
        }
    }

    #[test]
    fn a_key_names_its_agent_and_nothing_else_gets_in_16() {
        let strict = agents(false);
        let cases: &[(Option<&str>, Result<&str, u16>)] = &[
            (Some("token ghpk_one"), Ok("triage")),
            (Some("Bearer ghpk_two"), Ok("coder")),
            (Some("TOKEN  ghpk_one "), Ok("triage")),
            (Some("token ghpk_three"), Err(401)),
            (Some("token ghp_a_github_token"), Err(401)),
            (Some("Basic Z2hwa19vbmU="), Err(401)),
            (Some("Basic eC1hY2Nlc3MtdG9rZW46Z2hwa19vbmU="), Ok("triage")),
            (Some("ghpk_one"), Err(401)),
            (None, Err(401)),
        ];
        for (authorization, want) in cases {
            assert_eq!(who(&strict, *authorization), want.map(str::to_string), "{authorization:?}");
        }
    }

    #[test]
    fn unkeyed_clients_beside_agents_only_when_allowed_and_never_with_a_wrong_key_16() {
        let open = agents(true);
        assert_eq!(who(&open, None), Ok("unkeyed".into()));
        assert_eq!(who(&open, Some("token ghp_a_github_token")), Ok("unkeyed".into()));
        assert_eq!(who(&open, Some("token ghpk_one")), Ok("triage".into()));
        assert_eq!(who(&open, Some("token ghpk_wrong")), Err(401), "an agent key is never a GitHub token");
        // `x-access-token:ghpk_wrong`, as git sends a password.
        assert_eq!(who(&open, Some("Basic eC1hY2Nlc3MtdG9rZW46Z2hwa193cm9uZw==")), Err(401), "nor sent as Basic");
        assert_eq!(who(&open, Some("ghpk_one")), Err(401), "nor without a scheme");
        // `ghpk_wrong:x` (the key as the user), and unpadded.
        assert_eq!(who(&open, Some("Basic Z2hwa193cm9uZzp4")), Err(401), "nor as the Basic user");
        assert_eq!(who(&open, Some("Basic eC1hY2Nlc3MtdG9rZW46Z2hwa193cm9uZw")), Err(401), "nor unpadded");
        assert_eq!(who(&Agents::default(), None), Ok("unkeyed".into()), "no agents: as before");
    }

    #[test]
    fn keys_rotate_without_a_restart_16() {
        let a = agents(false);
        a.set_keys("triage", vec![agent_key::digest("ghpk_one"), agent_key::digest("ghpk_next")]);
        assert_eq!(who(&a, Some("token ghpk_next")), Ok("triage".into()), "the new key");
        assert_eq!(who(&a, Some("token ghpk_one")), Ok("triage".into()), "and the old one, until it goes");
        a.set_keys("triage", vec![agent_key::digest("ghpk_next")]);
        assert_eq!(who(&a, Some("token ghpk_one")), Err(401));
    }

    /// Issue #17: a verified client certificate names the one agent whose `certificate_subject`
    /// it carries; a key beside it must be the same agent's; a certificate that names two agents
    /// names neither.
    #[test]
    fn a_client_certificate_names_its_agent_17() {
        use crate::config::agents::NameKind;
        let config = |id: &str, key: Option<&str>, subject: &str| AgentConfig {
            id: id.into(),
            keys: key.map(|k| AgentKey::Digest(agent_key::digest(k))).into_iter().collect(),
            repos: vec![crate::config::agents::parse_repo("acme/w").unwrap()],
            permissions: BTreeMap::new(),
            certificate_subject: Some(subject.into()),
        };
        let agents = Agents::new(
            &[config("mesh", None, "agent-1"), config("keyed", Some("ghpk_two"), "uri:spiffe://acme/keyed")],
            false,
        );
        let certificate = |cn: &str, uri: Option<&str>| ClientCertificate {
            subject: format!("CN={cn}"),
            common_name: Some(cn.into()),
            alternative_names: uri.map(|u| (NameKind::Uri, u.to_string())).into_iter().collect(),
        };
        let who = |authorization: Option<&str>, c: Option<&ClientCertificate>| match agents.identify(authorization, c) {
            Ok(Caller::Agent(a)) => Ok(a.id.clone()),
            Ok(Caller::Unkeyed) => Ok("unkeyed".to_string()),
            Err(refusal) => Err(refusal.status()),
        };
        let one = certificate("agent-1", None);
        assert_eq!(who(None, Some(&one)), Ok("mesh".into()), "no key needed");
        assert_eq!(who(Some("token ghp_a_github_token"), Some(&one)), Ok("mesh".into()), "a GitHub token is ignored");
        assert_eq!(who(Some("token ghpk_two"), Some(&one)), Err(401), "another agent's key on this certificate");
        assert_eq!(who(Some("token ghpk_wrong"), Some(&one)), Err(401));
        assert_eq!(who(Some("token ghpk_two"), None), Ok("keyed".into()));
        assert_eq!(who(None, Some(&certificate("agent-2", None))), Err(401), "a certificate naming nobody, no key");
        let both = certificate("agent-1", Some("spiffe://acme/keyed"));
        assert_eq!(who(None, Some(&both)), Err(401), "a certificate naming two agents names neither");
        assert_eq!(who(None, Some(&certificate("spiffe://acme/keyed", None))), Err(401), "a common name is no URI");
        let none = Agents::default();
        assert!(matches!(none.identify(None, Some(&one)), Ok(Caller::Unkeyed)), "no agents: as before");
    }
}
