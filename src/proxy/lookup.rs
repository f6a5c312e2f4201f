//! Who owns repository `id`, asked of GitHub when ghpool has not learned it yet: with a pool
//! identity for a pooled read (charged to its client first, by the caller), with the client's own
//! token for a write. What is learned is kept in `repos`.
//! Must never: spend the pool's budget for a write, or ask again for an id the pool could not see
//! a moment ago.

use std::time::Duration;

use super::Ghpool;
use crate::admission::classify::ClientCredential;
use crate::pool::Want;
use crate::ratelimit::Resource;
use crate::reply::Refusal;
use crate::upstream::get_json;

const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Whose credential asks.
pub(super) enum Asker<'a> {
    Pool,
    Client(&'a ClientCredential),
}

impl Ghpool {
    /// The owner (lower-cased) of repository `id`, or the refusal that stands for not knowing it.
    pub(super) async fn owner_of_repository(&self, id: u64, asker: Asker<'_>) -> Result<String, Refusal> {
        let pooled = matches!(asker, Asker::Pool);
        if pooled && self.repos.recently_missing(id) {
            return Err(Refusal::NotFound);
        }
        let lease = match asker {
            Asker::Pool => Some(self.pool.pick(&Want::any(Resource::Core)).await?),
            Asker::Client(_) => None,
        };
        let authorization = match (&lease, &asker) {
            (Some(lease), _) => lease.identity().token().map(|t| format!("token {}", t.expose())),
            (None, Asker::Client(credential)) => Some(credential.0.expose().to_string()),
            (None, Asker::Pool) => None,
        };
        let path = format!("/repositories/{id}");
        let answer = get_json(&self.client, self.upstream.upstream(), &path, authorization.as_deref(), LOOKUP_TIMEOUT)
            .await
            .map_err(|e| Refusal::BadGateway(e.to_string()))?;
        if let Some(lease) = &lease {
            self.pool.observe(lease.identity(), answer.rate.clone(), answer.status);
        }
        match answer.status {
            200 => {
                let owner = self.repos.learn_repository(id, &answer.body);
                let owner = owner.ok_or_else(|| Refusal::BadGateway("repository without owner".into()))?;
                log::info!("repository {id} belongs to `{owner}`");
                Ok(owner)
            }
            404 => {
                if pooled {
                    self.repos.remember_missing(id);
                }
                Err(Refusal::NotFound)
            }
            401 if !pooled => Err(Refusal::Unauthenticated),
            403 if !pooled => Err(Refusal::NotFound),
            status => Err(Refusal::BadGateway(format!("GitHub answered {status} for {path}"))),
        }
    }
}
