//! What a pool identity can reach beyond an allowlisted owner (issue #20): private repositories of
//! other owners, forks and their parents, renamed repositories, organization members, issues that
//! cross-reference each other across owners, pull requests from forks, file contents, and the
//! sensitive admin endpoints (credential authorizations, hooks, deploy keys, audit log, secrets).
//!
//! The fake answers all of it as GitHub would to an identity that can see everything, so tests show
//! that ghpool screens or refuses it, judged by what reaches the client and by the request log.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::{FakeGithub, Reply, Repo, World};

/// The relations between objects that lead from one owner to another.
#[derive(Default)]
pub(super) struct Reach {
    /// Members of each organization.
    members: HashMap<String, Vec<String>>,
    /// `old_owner/old_name` (lower-cased) → the repository it is now.
    renames: HashMap<String, u64>,
    /// (target repository, issue number) → the issues that mention it: (repository, number).
    cross_references: HashMap<(u64, u64), Vec<(u64, u64)>>,
    /// (repository, path) → file contents.
    files: HashMap<(u64, String), String>,
    /// (base repository, pull number) → the repository its head branch lives in.
    pull_heads: HashMap<(u64, u64), u64>,
}

impl FakeGithub {
    /// Adds a private repository (the pool's identities see it, as an org owner's token would).
    pub fn add_private_repo(&self, owner: &str, name: &str) -> u64 {
        let id = self.add_repo(owner, name);
        self.lock().repo_mut(id).private = true;
        id
    }

    /// Adds `owner/name` as a fork of `parent_owner/parent_name`.
    pub fn add_fork(&self, parent_owner: &str, parent_name: &str, owner: &str, name: &str, private: bool) -> u64 {
        let parent = self.add_repo(parent_owner, parent_name);
        let id = self.add_repo(owner, name);
        let mut w = self.lock();
        let repo = w.repo_mut(id);
        (repo.parent, repo.private) = (Some(parent), private);
        id
    }

    /// Makes `login` a member of organization `org`.
    pub fn add_member(&self, org: &str, login: &str) {
        let mut w = self.lock();
        w.user_id(login);
        w.reach.members.entry(org.to_ascii_lowercase()).or_default().push(login.to_string());
    }

    /// Issue `from` (owner, name, number) mentions issue `to`: `to`'s timeline gets a
    /// `cross-referenced` event whose source is `from`.
    pub fn add_cross_reference(&self, from: (&str, &str, u64), to: (&str, &str, u64)) {
        let mut w = self.lock();
        let id = |w: &World, (o, n, _): (&str, &str, u64)| w.find_repo(o, n).map(|r| r.id).expect("add_repo first");
        let (from_id, to_id) = (id(&w, from), id(&w, to));
        w.reach.cross_references.entry((to_id, to.2)).or_default().push((from_id, from.2));
    }

    /// `old_owner/old_name` was transferred or renamed to the repository `owner/name` (GraphQL's
    /// `repository(followRenames: true)`, the default, follows it).
    pub fn rename_repo(&self, old_owner: &str, old_name: &str, owner: &str, name: &str) {
        let id = self.add_repo(owner, name);
        self.lock().reach.renames.insert(format!("{old_owner}/{old_name}").to_ascii_lowercase(), id);
    }

    /// The contents of `path` in `owner/name` (what `object(expression: "HEAD:path")` and the
    /// contents API answer).
    pub fn set_file(&self, owner: &str, name: &str, path: &str, text: &str) {
        let id = self.add_repo(owner, name);
        self.lock().reach.files.insert((id, path.to_string()), text.to_string());
    }

    /// A pull request on `owner/name` whose head branch is in `head_owner/head_name`.
    pub fn add_pull_request_from(
        &self,
        owner: &str,
        name: &str,
        title: &str,
        head_owner: &str,
        head_name: &str,
    ) -> u64 {
        let number = self.add_pull_request(owner, name, title);
        let head = self.add_repo(head_owner, head_name);
        let mut w = self.lock();
        let base = w.find_repo(owner, name).map(|r| r.id).expect("added");
        w.reach.pull_heads.insert((base, number), head);
        number
    }
}

impl World {
    fn repo_mut(&mut self, id: u64) -> &mut Repo {
        self.repos.iter_mut().find(|r| r.id == id).expect("a repository of this fake")
    }

    pub(super) fn repo_by_id(&self, id: u64) -> Option<Repo> {
        self.repos.iter().find(|r| r.id == id).cloned()
    }

    /// A repository by name, or by a name it had before a rename or transfer.
    pub(super) fn find_repo_following_renames(&self, owner: &str, name: &str) -> Option<Repo> {
        self.find_repo(owner, name).or_else(|| {
            let id = self.reach.renames.get(&format!("{owner}/{name}").to_ascii_lowercase())?;
            self.repo_by_id(*id)
        })
    }

    pub(super) fn members_of(&self, org: &str) -> Vec<String> {
        self.reach.members.get(&org.to_ascii_lowercase()).cloned().unwrap_or_default()
    }

    pub(super) fn forks_of(&self, id: u64) -> Vec<Repo> {
        self.repos.iter().filter(|r| r.parent == Some(id)).cloned().collect()
    }

    pub(super) fn file(&self, repo: &Repo, path: &str) -> String {
        self.reach
            .files
            .get(&(repo.id, path.to_string()))
            .cloned()
            .unwrap_or_else(|| format!("{path} of {}/{}", repo.owner, repo.name))
    }

    pub(super) fn mentions_of(&self, repo: u64, number: u64) -> Vec<(Repo, u64)> {
        let sources = self.reach.cross_references.get(&(repo, number)).cloned().unwrap_or_default();
        sources.into_iter().filter_map(|(id, n)| Some((self.repo_by_id(id)?, n))).collect()
    }

    pub(super) fn pull_head(&self, repo: u64, number: u64) -> Option<Repo> {
        self.reach.pull_heads.get(&(repo, number)).and_then(|id| self.repo_by_id(*id))
    }

    /// REST answers about what lies beyond a repository: forks, timelines, pull requests, contents.
    pub(super) fn reach_route(&self, repo: &Repo, rest: &[&str]) -> Option<Reply> {
        let json = |v: Value| Some(Reply::json(200, &v));
        match rest {
            ["forks"] => json(Value::Array(self.forks_of(repo.id).iter().map(|f| self.repo_json(f)).collect())),
            ["issues", number, "timeline"] => {
                let number: u64 = number.parse().ok()?;
                let events: Vec<Value> = self
                    .mentions_of(repo.id, number)
                    .iter()
                    .map(|(source, n)| {
                        let mut issue = self.issue_json(source, *n);
                        issue["repository"] = self.repo_json(source);
                        issue["body"] = json!(format!("Body of {}/{}#{n}", source.owner, source.name));
                        json!({ "event": "cross-referenced", "created_at": "2024-01-01T00:00:00Z",
                                "source": { "type": "issue", "issue": issue } })
                    })
                    .collect();
                json(Value::Array(events))
            }
            ["pulls", number] => {
                let number: u64 = number.parse().ok()?;
                json(self.pull_json(repo, number))
            }
            ["contents", path @ ..] => {
                let path = path.join("/");
                json(json!({ "type": "file", "path": path, "content": self.file(repo, &path), "encoding": "utf-8" }))
            }
            ["compare", basehead] => json(json!({ "status": "ahead", "ahead_by": 1, "basehead": basehead })),
            // Sensitive: GitHub answers these to an admin of the repository.
            ["hooks"] => {
                json(json!([{ "id": 1, "config": { "url": "https://hooks.example/", "secret": "********" } }]))
            }
            ["keys"] => json(json!([{ "id": 1, "key": "ssh-ed25519 AAAA", "read_only": false }])),
            ["actions", "secrets"] => {
                json(json!({ "total_count": 1, "secrets": [{ "name": "AWS_SECRET_ACCESS_KEY" }] }))
            }
            _ => None,
        }
    }

    fn pull_json(&self, repo: &Repo, number: u64) -> Value {
        let head = self.pull_head(repo.id, number).unwrap_or_else(|| repo.clone());
        let side = |r: &Repo, branch: &str| {
            json!({ "label": format!("{}:{branch}", r.owner), "ref": branch, "sha": format!("{number:040x}"),
                    "user": { "login": r.owner, "type": "User" }, "repo": self.repo_json(r) })
        };
        json!({
            "number": number, "state": "open", "title": format!("Pull {number}"),
            "url": format!("{}/repos/{}/{}/pulls/{number}", self.base, repo.owner, repo.name),
            "head": side(&head, &format!("feature-{number}")), "base": side(repo, "main"),
        })
    }

    /// REST answers about an organization or user beyond its repositories.
    pub(super) fn owner_route(&self, segments: &[&str]) -> Option<Reply> {
        let json = |v: Value| Some(Reply::json(200, &v));
        match segments {
            ["orgs", _, "credential-authorizations"] => {
                json(json!([{ "login": "admin", "token_last_eight": "12345678", "hashed_token": "abcdef" }]))
            }
            ["orgs", _, "audit-log"] => json(json!([{ "action": "repo.create", "actor": "admin" }])),
            ["orgs", _, "hooks"] => json(json!([{ "id": 1, "config": { "url": "https://hooks.example/" } }])),
            ["orgs", _, "installations"] => json(json!({ "total_count": 1, "installations": [{ "id": 1 }] })),
            ["orgs", org, "members"] => {
                json(Value::Array(self.members_of(org).iter().map(|m| json!({ "login": m, "type": "User" })).collect()))
            }
            ["users", _, "events", "orgs", _] => json(json!([])),
            _ => None,
        }
    }
}

/// GraphQL fields that lead beyond a repository or an owner; `None` for fields this module does not
/// model (the executor then reads the parent object).
pub(super) fn resolve(world: &mut World, parent: &Value, name: &str, args: &Map<String, Value>) -> Option<Value> {
    let typename = parent["__typename"].as_str().unwrap_or_default();
    let text = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let repo_of = |world: &World, parent: &Value| parent["databaseId"].as_u64().and_then(|id| world.repo_by_id(id));
    let connection = |nodes: Vec<Value>| json!({ "__connection": nodes });
    Some(match (typename, name) {
        ("User" | "Organization", "repository") => {
            let owner = parent["login"].as_str().unwrap_or_default();
            match world.find_repo(owner, &text("name")) {
                Some(repo) => super::graphql::repository(world, &repo),
                None => Value::Null,
            }
        }
        ("User" | "Organization", "repositories") => {
            let owner = parent["login"].as_str().unwrap_or_default().to_string();
            let private_only = text("privacy") == "PRIVATE";
            let repos: Vec<Repo> = world
                .repos
                .iter()
                .filter(|r| r.owner.eq_ignore_ascii_case(&owner) && (!private_only || r.private))
                .cloned()
                .collect();
            let nodes = repos.iter().map(|r| super::graphql::repository(world, r)).collect();
            super::graphql::connection(&connection(nodes)["__connection"], args)
        }
        ("Organization", "membersWithRole") => {
            let org = parent["login"].as_str().unwrap_or_default().to_string();
            let members: Vec<Value> = world.members_of(&org).iter().map(|m| super::graphql::user(world, m)).collect();
            super::graphql::connection(&connection(members)["__connection"], args)
        }
        ("Repository", "parent") => {
            match repo_of(world, parent).and_then(|r| r.parent).and_then(|p| world.repo_by_id(p)) {
                Some(parent) => super::graphql::repository(world, &parent),
                None => Value::Null,
            }
        }
        ("Repository", "forks") => {
            let forks = repo_of(world, parent).map(|r| world.forks_of(r.id)).unwrap_or_default();
            let nodes = forks.iter().map(|f| super::graphql::repository(world, f)).collect();
            super::graphql::connection(&connection(nodes)["__connection"], args)
        }
        ("Repository", "object") => {
            let repo = repo_of(world, parent)?;
            let expression = text("expression");
            let path = expression.split_once(':').map_or(expression.as_str(), |(_, p)| p).to_string();
            json!({ "__typename": "Blob", "text": world.file(&repo, &path), "byteSize": 1, "isBinary": false,
                    "repository": super::graphql::repository_ref(&repo) })
        }
        ("Issue" | "PullRequest", "timelineItems") => {
            let (repo_id, number) = (parent["__repo"].as_u64()?, parent["number"].as_u64()?);
            let events: Vec<Value> = world
                .mentions_of(repo_id, number)
                .into_iter()
                .map(|(source, n)| {
                    let item = super::graphql::item(world, &source, n);
                    json!({ "__typename": "CrossReferencedEvent", "isCrossRepository": true,
                            "referencedAt": "2024-01-01T00:00:00Z", "source": item })
                })
                .collect();
            super::graphql::connection(&events.into(), args)
        }
        _ => return None,
    })
}
