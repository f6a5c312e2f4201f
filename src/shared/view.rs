//! This replica's copy of the write generations, so that a hit checks read-your-writes without a
//! round trip to Redis. Every bump is published (one channel, numbered in Redis' order) and applied
//! here in order, then acknowledged. The copy is trusted only under a lease: renewed every
//! [`RENEW`] by a round trip showing that every bump Redis has numbered is applied here, and
//! registered in Redis (on Redis' clock) so that a writer waits, before its answer leaves, for this
//! replica's acknowledgement of its bump or for the lease to run out. Outside a lease, or for a tag
//! the copy does not hold, a read asks Redis as before.
//!
//! Why it holds: a lease taken at local time `t0` is registered by a script that ran after `t0`,
//! until that script's time plus [`LEASE`]: later in real time than the local lease's end. A bump
//! Redis numbered after the renewal is either acknowledged here (applied) or its writer waits out
//! the registered lease; one numbered before it is applied here, or the lease was not taken.
//! A missed bump (a gap in the numbers, a new subscription) drops the copy and ends the lease.
//!
//! Must never: answer from the copy past the lease, keep a generation lower than one Redis gave,
//! or let a read begun before the copy was dropped fill the new copy.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a renewal trusts the copy. A write waits at most this long for a replica that does
/// not acknowledge its bump (stopped, partitioned).
pub const LEASE: Duration = Duration::from_millis(200);

/// What this replica's own clock trusts of a lease: less than Redis registers, so that a step of
/// Redis' clock or a slow renewal answer never leaves the copy trusted after writers stopped waiting.
const LOCAL_MARGIN: Duration = Duration::from_millis(50);

/// How often the lease is renewed: several renewals fit in one lease.
pub const RENEW: Duration = Duration::from_millis(40);

/// A subscription that has not caught up with Redis' numbering for this long is made again.
pub const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

/// Tags kept; past this the copy is dropped (tags are read from Redis again as reads need them).
const MAX_TAGS: usize = 100_000;

/// A bump as published: its number in Redis' order, each tag with its new generation (as text:
/// Lua prints large numbers inexactly).
#[derive(Debug, serde::Deserialize)]
pub struct Bump {
    pub s: String,
    #[serde(default)]
    pub g: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    generations: HashMap<String, u64>,
    /// The last bump applied (Redis' numbering); meaningful only while `subscribed`.
    applied: u64,
    subscribed: bool,
    /// The copy is trusted until then (local clock).
    valid_until: Option<Instant>,
    /// Moves on whenever the copy is dropped: a read from Redis begun before does not fill it.
    epoch: u64,
    /// Since when renewals found bumps not applied here.
    lagging_since: Option<Instant>,
}

impl State {
    fn drop_copy(&mut self) {
        self.generations.clear();
        self.epoch += 1;
        self.valid_until = None;
    }
}

/// What a renewal concluded.
#[derive(Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Trusted until the new lease's end.
    Renewed,
    /// Bumps are still on their way; the copy waits for them outside a lease.
    Lagging,
    /// Too long behind: make the subscription again.
    Resubscribe,
}

#[derive(Default)]
pub struct View {
    state: Mutex<State>,
}

impl View {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The generations of `tags` from the copy: `None` outside a lease or when one is not held.
    pub fn generations(&self, tags: &[String], now: Instant) -> Option<Vec<u64>> {
        let state = self.state();
        if state.valid_until.is_none_or(|until| now >= until) {
            return None;
        }
        tags.iter().map(|tag| state.generations.get(tag).copied()).collect()
    }

    /// The copy's epoch, taken before a read from Redis that will [`View::learn`] its answer.
    pub fn epoch(&self) -> u64 {
        self.state().epoch
    }

    /// Keep what Redis said of `tags` (read under `epoch`): a generation only moves forward.
    pub fn learn(&self, epoch: u64, tags: &[String], generations: &[u64]) {
        let mut state = self.state();
        if state.epoch != epoch || !state.subscribed {
            return;
        }
        if state.generations.len() + tags.len() > MAX_TAGS {
            state.drop_copy();
            return;
        }
        for (tag, &g) in tags.iter().zip(generations) {
            let kept = state.generations.entry(tag.clone()).or_insert(g);
            *kept = (*kept).max(g);
        }
    }

    /// A subscription is made and Redis' numbering stood at `at` after it: the copy starts empty
    /// from there (what was bumped before is read from Redis as reads need it).
    pub fn subscribed(&self, at: u64) {
        let mut state = self.state();
        state.drop_copy();
        state.applied = at;
        state.subscribed = true;
        state.lagging_since = None;
    }

    /// The subscription ended: no copy, no lease.
    pub fn unsubscribed(&self) {
        let mut state = self.state();
        state.drop_copy();
        state.subscribed = false;
    }

    /// Apply a published bump; returns the number to acknowledge (`None`: not subscribed, or the
    /// message is unreadable — then the copy is dropped, as for a gap).
    pub fn apply(&self, bump: &Bump) -> Option<u64> {
        let mut state = self.state();
        if !state.subscribed {
            return None;
        }
        let Ok(s) = bump.s.parse::<u64>() else {
            state.drop_copy();
            return None;
        };
        if s <= state.applied {
            return Some(state.applied);
        }
        if s != state.applied + 1 {
            // Bumps were missed (a reconnection, a Redis that restarted): what the copy holds may
            // be old. Tags are read from Redis again from now on.
            state.drop_copy();
        } else {
            for (tag, g) in &bump.g {
                let Ok(g) = g.parse::<u64>() else {
                    state.drop_copy();
                    break;
                };
                if state.generations.len() >= MAX_TAGS && !state.generations.contains_key(tag) {
                    state.drop_copy();
                    break;
                }
                let kept = state.generations.entry(tag.clone()).or_insert(g);
                *kept = (*kept).max(g);
            }
        }
        state.applied = s;
        Some(s)
    }

    /// What a renewal sends: the bumps applied so far (`None`: not subscribed, nothing to renew).
    pub fn applied(&self) -> Option<u64> {
        let state = self.state();
        state.subscribed.then_some(state.applied)
    }

    /// A renewal begun at `started` with `sent` applied found Redis' numbering at `numbered` and
    /// registered the lease when `registered`.
    pub fn renewed(&self, started: Instant, sent: u64, numbered: u64, registered: bool) -> Renewal {
        let mut state = self.state();
        if !state.subscribed {
            return Renewal::Resubscribe;
        }
        if registered && sent == numbered {
            let until = started + (LEASE - LOCAL_MARGIN);
            state.valid_until = Some(state.valid_until.map_or(until, |u| u.max(until)));
            state.lagging_since = None;
            return Renewal::Renewed;
        }
        let since = *state.lagging_since.get_or_insert(started);
        match started.duration_since(since) >= RESUBSCRIBE_AFTER {
            true => Renewal::Resubscribe,
            false => Renewal::Lagging,
        }
    }

    /// Is the copy trusted now (for `/stats`)?
    pub fn in_lease(&self, now: Instant) -> bool {
        self.state().valid_until.is_some_and(|until| now < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bump(s: u64, g: &[(&str, u64)]) -> Bump {
        Bump { s: s.to_string(), g: g.iter().map(|(t, g)| (t.to_string(), g.to_string())).collect() }
    }

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    /// A view subscribed at 10 and leased from `t0`.
    fn leased(t0: Instant) -> View {
        let view = View::default();
        view.subscribed(10);
        assert_eq!(view.renewed(t0, 10, 10, true), Renewal::Renewed);
        view
    }

    #[test]
    fn a_copy_answers_only_inside_its_lease_and_for_tags_it_holds() {
        let t0 = Instant::now();
        let view = leased(t0);
        let ab = tags(&["repo:a/b", "*"]);
        assert_eq!(view.generations(&ab, t0), None, "not held yet: ask Redis");
        view.learn(view.epoch(), &ab, &[5, 1]);
        assert_eq!(view.generations(&ab, t0), Some(vec![5, 1]));
        assert_eq!(view.generations(&ab, t0 + LEASE - LOCAL_MARGIN), None, "past the lease (as trusted here)");
        assert_eq!(view.renewed(t0 + RENEW, 10, 10, true), Renewal::Renewed);
        assert_eq!(view.generations(&ab, t0 + LEASE - LOCAL_MARGIN), Some(vec![5, 1]), "renewed");
    }

    #[test]
    fn bumps_apply_in_order_and_a_gap_drops_the_copy() {
        let t0 = Instant::now();
        let view = leased(t0);
        let ab = tags(&["repo:a/b", "*"]);
        view.learn(view.epoch(), &ab, &[5, 1]);
        assert_eq!(view.apply(&bump(11, &[("repo:a/b", 6)])), Some(11));
        assert_eq!(view.generations(&ab, t0), Some(vec![6, 1]));
        assert_eq!(view.apply(&bump(11, &[("repo:a/b", 9)])), Some(11), "an old number changes nothing");
        assert_eq!(view.generations(&ab, t0), Some(vec![6, 1]));
        assert_eq!(view.apply(&bump(13, &[("repo:a/b", 8)])), Some(13), "12 was missed");
        assert_eq!(view.generations(&ab, t0), None, "dropped with the lease");
        assert_eq!(view.renewed(t0, 13, 13, true), Renewal::Renewed);
        assert_eq!(view.generations(&ab, t0), None, "tags are read from Redis again");
        assert_eq!(view.apply(&Bump { s: "x".into(), g: vec![] }), None);
        assert!(!view.in_lease(t0), "an unreadable message drops the copy");
    }

    #[test]
    fn a_generation_never_goes_back() {
        let view = leased(Instant::now());
        let a = tags(&["repo:a/b"]);
        assert_eq!(view.apply(&bump(11, &[("repo:a/b", 7)])), Some(11));
        view.learn(view.epoch(), &a, &[6]);
        assert_eq!(view.generations(&a, Instant::now()), Some(vec![7]), "an older read does not lower it");
    }

    #[test]
    fn a_read_begun_before_the_copy_was_dropped_does_not_fill_it() {
        let t0 = Instant::now();
        let view = leased(t0);
        let a = tags(&["repo:a/b"]);
        let epoch = view.epoch();
        view.apply(&bump(12, &[("repo:a/b", 7)]));
        view.renewed(t0, 12, 12, true);
        view.learn(epoch, &a, &[6]);
        assert_eq!(view.generations(&a, t0), None);
    }

    #[test]
    fn a_lease_needs_every_numbered_bump_applied_and_registered() {
        let t0 = Instant::now();
        let view = View::default();
        assert_eq!(view.applied(), None, "not subscribed: nothing to renew");
        view.subscribed(10);
        assert_eq!(view.renewed(t0, 10, 11, true), Renewal::Lagging, "bump 11 not applied here");
        assert!(!view.in_lease(t0));
        assert_eq!(view.renewed(t0, 10, 10, false), Renewal::Lagging, "not registered in Redis");
        assert_eq!(view.renewed(t0, 12, 11, true), Renewal::Lagging, "a numbering that went back");
        assert_eq!(view.renewed(t0 + RESUBSCRIBE_AFTER, 10, 11, true), Renewal::Resubscribe);
        view.unsubscribed();
        assert_eq!(view.renewed(t0, 10, 10, true), Renewal::Resubscribe, "no subscription, no lease");
        assert!(!view.in_lease(t0));
        view.learn(view.epoch(), &tags(&["x"]), &[1]);
        assert_eq!(view.apply(&bump(11, &[])), None);
    }
}
