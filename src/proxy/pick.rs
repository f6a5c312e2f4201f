//! The identity a read goes upstream with: what the other replicas learned merged into the pool
//! first (`shared`: limits, holds, refused tokens, their requests in flight), then the pool's pick,
//! waiting up to `[pool] queue_timeout` for an identity below its in-flight cap — re-reading the
//! others' counts while it waits, since their releases wake nothing here.
//! Must never: wait past the queue timeout, or pick for a write.

use std::time::Duration;

use super::Ghpool;
use crate::admission::classify::Read;
use crate::pool::{Lease, PickError, Want};

/// How often a read waiting for an identity asks the other replicas again.
const SHARED_RECHECK: Duration = Duration::from_millis(50);

impl Ghpool {
    pub(super) async fn pick_identity(&self, read: &Read, preferred: Option<&str>) -> Result<Lease, PickError> {
        let owners: Vec<&str> = read.owners.iter().map(String::as_str).collect();
        let deadline = tokio::time::Instant::now() + self.queue_timeout;
        loop {
            self.merge_shared_identities().await;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let wait = match &self.shared {
                Some(_) => left.min(SHARED_RECHECK),
                None => left,
            };
            let want = Want { resource: read.resource, owners: &owners, preferred, wait };
            match self.pool.pick(&want).await {
                Err(PickError::Busy) if self.shared.is_some() && tokio::time::Instant::now() < deadline => continue,
                picked => return picked,
            }
        }
    }

    /// What the other replicas learned spares this one from learning it again from GitHub.
    async fn merge_shared_identities(&self) {
        let Some(shared) = &self.shared else { return };
        let ids: Vec<String> = self.pool.identities().iter().map(|i| i.id().to_string()).collect();
        for (id, learned) in shared.identities(&ids).await.unwrap_or_default() {
            self.pool.merge_shared(&id, &learned);
        }
    }
}
