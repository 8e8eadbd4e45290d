//! The provisioning batcher (docs/model/karpenter.md §2; karpenter:
//! pkg/controllers/provisioning/batcher.go): pods that become pending are gathered until the
//! batch has been idle for `batchIdleDuration` or open for `batchMaxDuration`.

use std::collections::BTreeSet;

use asim_cluster::PodId;
use asim_core::engine::SimTime;

use crate::Settings;

/// The batch window (§1.1): opens at the first trigger, closes after `batchIdleDuration`
/// without a *new* pod or `batchMaxDuration` after it opened. Re-triggering a pod already in the
/// window does not extend it.
#[derive(Default, Debug)]
pub struct Batcher {
    window: Option<(SimTime, SimTime, BTreeSet<PodId>)>,
}

impl Batcher {
    /// Add pods; returns when to check for closing, if that changed.
    pub fn trigger(
        &mut self,
        now: SimTime,
        pods: impl IntoIterator<Item = PodId>,
        s: &Settings,
    ) -> Option<SimTime> {
        let (opened, last_new, seen) = self
            .window
            .get_or_insert_with(|| (now, now, BTreeSet::new()));
        let mut new = false;
        for p in pods {
            new |= seen.insert(p);
        }
        if new {
            *last_new = now;
        }
        new.then(|| (*last_new + s.batch_idle_ms).min(*opened + s.batch_max_ms))
    }

    pub fn should_close(&self, now: SimTime, s: &Settings) -> bool {
        self.window.as_ref().is_some_and(|(opened, last_new, _)| {
            now >= (*last_new + s.batch_idle_ms).min(*opened + s.batch_max_ms)
        })
    }

    pub fn close(&mut self) {
        self.window = None;
    }

    pub fn is_open(&self) -> bool {
        self.window.is_some()
    }
}
