//! cluster-autoscaler's timers. The seam carries a timer as a `u64` token
//! (`Ctx::set_timer`, `Autoscaler::on_timer`); this module is the only place that knows how a
//! [`Timer`] is packed into one: the kind in the top 8 bits, the payload in the low 56.

use asim_cluster::NodeId;
use asim_cluster::autoscaler::Ctx;
use asim_core::engine::SimTime;

/// Something cluster-autoscaler asked to be woken for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// `--scan-interval` after an iteration ended: start the next one. Stale unless
    /// `generation` is still the loop's (a pod observer signal may have started one since).
    Wake { generation: u64 },
    /// The iteration started as `generation` has taken its time: run it (§2.1).
    Run { generation: u64 },
    /// `--node-delete-delay-after-taint` has passed for a node being deleted (§4.6 step 2).
    Delete(NodeId),
    /// `--max-pod-eviction-time` has passed since the node's drain began (§4.6 step 6).
    EvictionDeadline(NodeId),
    /// The termination handler has noticed an interruption of the node (§8): cordon it, and
    /// drain it when `drain`.
    TerminationHandler { node: NodeId, drain: bool },
}

const WAKE: u64 = 1;
const RUN: u64 = 2;
const DELETE: u64 = 3;
const EVICTION_DEADLINE: u64 = 4;
const TERMINATION_HANDLER: u64 = 5;
/// The termination handler's payload: the node in the low 32 bits, `drain` above them.
const DRAIN_BIT: u64 = 1 << 32;
const KIND_SHIFT: u32 = 56;
const PAYLOAD: u64 = (1 << KIND_SHIFT) - 1;

impl Timer {
    pub fn encode(self) -> u64 {
        let (kind, payload) = match self {
            Timer::Wake { generation } => (WAKE, generation),
            Timer::Run { generation } => (RUN, generation),
            Timer::Delete(n) => (DELETE, u64::from(n.0)),
            Timer::EvictionDeadline(n) => (EVICTION_DEADLINE, u64::from(n.0)),
            Timer::TerminationHandler { node, drain } => (
                TERMINATION_HANDLER,
                u64::from(node.0) | if drain { DRAIN_BIT } else { 0 },
            ),
        };
        (kind << KIND_SHIFT) | (payload & PAYLOAD)
    }

    /// The timer a token stands for; `None` for a token this crate did not make.
    pub fn decode(token: u64) -> Option<Timer> {
        let payload = token & PAYLOAD;
        let node = || u32::try_from(payload).ok().map(NodeId);
        match token >> KIND_SHIFT {
            WAKE => Some(Timer::Wake {
                generation: payload,
            }),
            RUN => Some(Timer::Run {
                generation: payload,
            }),
            DELETE => node().map(Timer::Delete),
            EVICTION_DEADLINE => node().map(Timer::EvictionDeadline),
            TERMINATION_HANDLER if payload & !(DRAIN_BIT | u64::from(u32::MAX)) == 0 => {
                Some(Timer::TerminationHandler {
                    node: NodeId(payload as u32),
                    drain: payload & DRAIN_BIT != 0,
                })
            }
            _ => None,
        }
    }

    /// Ask the simulation to deliver this timer at `at`.
    pub fn set(self, ctx: &mut Ctx<'_>, at: SimTime) {
        ctx.set_timer(at, self.encode());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_timer_survives_the_round_trip() {
        for t in [
            Timer::Wake { generation: 0 },
            Timer::Run {
                generation: PAYLOAD,
            },
            Timer::Delete(NodeId(7)),
            Timer::EvictionDeadline(NodeId(u32::MAX)),
            Timer::TerminationHandler {
                node: NodeId(u32::MAX),
                drain: true,
            },
            Timer::TerminationHandler {
                node: NodeId(2),
                drain: false,
            },
        ] {
            assert_eq!(Timer::decode(t.encode()), Some(t));
        }
        assert_eq!(Timer::decode(0), None);
        assert_eq!(Timer::decode(9 << KIND_SHIFT), None);
        assert_eq!(Timer::decode((DELETE << KIND_SHIFT) | (1 << 40)), None);
    }

    /// The tokens are those of the bit-packed constants they replaced (`token(kind, payload)`),
    /// so a run schedules exactly the same events.
    #[test]
    fn tokens_keep_their_layout() {
        assert_eq!(Timer::Wake { generation: 5 }.encode(), (1 << 56) | 5);
        assert_eq!(Timer::Run { generation: 5 }.encode(), (2 << 56) | 5);
        assert_eq!(Timer::Delete(NodeId(3)).encode(), (3 << 56) | 3);
        assert_eq!(Timer::EvictionDeadline(NodeId(3)).encode(), (4 << 56) | 3);
    }
}
