//! Karpenter's timers. The seam carries a timer as an opaque `u64` (`Ctx::set_timer`,
//! `Autoscaler::on_timer`); this is the only place that packs and unpacks it, so everything
//! else speaks [`Timer`].

/// What is due when a Karpenter timer fires. `ClaimId` payloads name a NodeClaim in the
/// claim store; `OrchestrationTimeout` carries a disruption command id.
use crate::ids::ClaimId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The provisioning batch may close (idle or max duration reached, §2).
    Batch,
    /// Retry the pods a provisioning round could not place (10 s, §2).
    Requeue,
    /// The Solve for a new NodeClaim is over: call CreateFleet (§2 step 5).
    Launch(ClaimId),
    /// CreateFleet's answer arrives (the API latency after the call).
    Launched(ClaimId),
    /// Liveness: a launched NodeClaim whose node has not registered is deleted (§3).
    RegistrationTimeout(ClaimId),
    /// The agent that owns the NodeClaim's startup taints removes them.
    StartupTaints(ClaimId),
    /// `expireAfter` elapsed (§4.6).
    Expire(ClaimId),
    /// The disruption controller's 10 s poll (§4.1).
    Disruption,
    /// A disruption command's 15 s validation wait is over (§4.7).
    Validate,
    /// A disruption command's replacements had 10 minutes to initialize (§4.8).
    OrchestrationTimeout(u64),
}

const PAYLOAD_BITS: u32 = 56;
const PAYLOAD_MASK: u64 = (1 << PAYLOAD_BITS) - 1;

impl Timer {
    /// The kind in the high byte, the payload below it.
    pub(crate) fn encode(self) -> u64 {
        let (kind, payload): (u64, u64) = match self {
            Timer::Batch => (1, 0),
            Timer::Requeue => (2, 0),
            Timer::Launch(i) => (3, i.0 as u64),
            Timer::Launched(i) => (4, i.0 as u64),
            Timer::RegistrationTimeout(i) => (5, i.0 as u64),
            Timer::StartupTaints(i) => (6, i.0 as u64),
            Timer::Expire(i) => (7, i.0 as u64),
            Timer::Disruption => (8, 0),
            Timer::Validate => (9, 0),
            Timer::OrchestrationTimeout(id) => (10, id),
        };
        debug_assert!(payload <= PAYLOAD_MASK, "timer payload overflows 56 bits");
        (kind << PAYLOAD_BITS) | (payload & PAYLOAD_MASK)
    }

    /// The timer [`Timer::encode`] made, or None for a token that is not one.
    pub(crate) fn decode(token: u64) -> Option<Timer> {
        let payload = token & PAYLOAD_MASK;
        let i = ClaimId(usize::try_from(payload).ok()?);
        Some(match token >> PAYLOAD_BITS {
            1 => Timer::Batch,
            2 => Timer::Requeue,
            3 => Timer::Launch(i),
            4 => Timer::Launched(i),
            5 => Timer::RegistrationTimeout(i),
            6 => Timer::StartupTaints(i),
            7 => Timer::Expire(i),
            8 => Timer::Disruption,
            9 => Timer::Validate,
            10 => Timer::OrchestrationTimeout(payload),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_timer_survives_the_round_trip_through_the_seam() {
        let all = [
            Timer::Batch,
            Timer::Requeue,
            Timer::Launch(ClaimId(7)),
            Timer::Launched(ClaimId(1 << 40)),
            Timer::RegistrationTimeout(ClaimId(0)),
            Timer::StartupTaints(ClaimId(3)),
            Timer::Expire(ClaimId(12)),
            Timer::Disruption,
            Timer::Validate,
            Timer::OrchestrationTimeout(99),
        ];
        for t in all {
            assert_eq!(Timer::decode(t.encode()), Some(t));
        }
        assert_eq!(Timer::decode(0), None);
        assert_eq!(Timer::decode(200 << 56), None);
    }
}
