use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The named random streams. One per subsystem, so adding a draw in one place never shifts the
/// draws of another (docs/design.md §1.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stream {
    /// Workload: generator arrivals and durations, trace jitter.
    Workload,
    /// Launch-latency stages of the mock EC2.
    Latency,
    /// Spot interruptions and rebalance recommendations.
    Spot,
    /// Spot allocation (price-capacity-optimized choice) and ASG type choice.
    Allocation,
    /// Pod start and image pull latencies.
    Pods,
    /// Karpenter's own randomness (NodeClaim names).
    Karpenter,
    /// cluster-autoscaler's own randomness (random expander).
    ClusterAutoscaler,
    /// The spot market (docs/model/ec2.md §2): per-zone price and capacity factors drawn at
    /// time zero, and the random-access key of the day-to-day capacity variation and the price
    /// drift. A stream of its own so that the market never shifts allocation's tie draws.
    SpotMarket,
}

impl Stream {
    pub const ALL: [Stream; 8] = [
        Stream::Workload,
        Stream::Latency,
        Stream::Spot,
        Stream::Allocation,
        Stream::Pods,
        Stream::Karpenter,
        Stream::ClusterAutoscaler,
        Stream::SpotMarket,
    ];

    fn name(self) -> &'static str {
        match self {
            Stream::Workload => "workload",
            Stream::Latency => "latency",
            Stream::Spot => "spot",
            Stream::Allocation => "allocation",
            Stream::Pods => "pods",
            Stream::Karpenter => "karpenter",
            Stream::ClusterAutoscaler => "cluster-autoscaler",
            Stream::SpotMarket => "spot-market",
        }
    }

    /// The seed of this stream under scenario seed `seed` (what [`RngStreams`] seeds it with),
    /// for a consumer that keys its own ChaCha8 by it (the mock EC2's spot market).
    pub fn seed(self, seed: u64) -> u64 {
        derive_seed(seed, self.name())
    }
}

/// One `ChaCha8Rng` per [`Stream`], each seeded from the scenario seed and the stream's name.
///
/// ChaCha8 is specified and portable, unlike `StdRng`; the seed derivation is our own FNV-1a over
/// the name mixed with the scenario seed, so it is stable across dependency upgrades.
pub struct RngStreams {
    rngs: Vec<ChaCha8Rng>,
}

impl RngStreams {
    pub fn new(seed: u64) -> Self {
        RngStreams {
            rngs: Stream::ALL
                .iter()
                .map(|s| ChaCha8Rng::seed_from_u64(derive_seed(seed, s.name())))
                .collect(),
        }
    }

    pub fn get(&mut self, stream: Stream) -> &mut ChaCha8Rng {
        &mut self.rngs[Self::index(stream)]
    }

    fn index(stream: Stream) -> usize {
        Stream::ALL
            .iter()
            .position(|s| *s == stream)
            .unwrap_or_default()
    }

    /// An autoscaler's own stream and the three cloud streams at once.
    pub fn own_and_cloud(&mut self, own: Stream) -> [&mut ChaCha8Rng; 4] {
        let idx = [own, Stream::Latency, Stream::Spot, Stream::Allocation].map(Self::index);
        match self.rngs.get_disjoint_mut(idx) {
            Ok(four) => four,
            Err(_) => unreachable!("an autoscaler stream is never a cloud stream"),
        }
    }

    /// The latency, spot and allocation streams at once, as the mock EC2 draws from all three.
    pub fn cloud(&mut self) -> [&mut ChaCha8Rng; 3] {
        let [a, b, c] = [Stream::Latency, Stream::Spot, Stream::Allocation].map(Self::index);
        match self.rngs.get_disjoint_mut([a, b, c]) {
            Ok(three) => three,
            Err(_) => unreachable!("the three cloud streams are distinct"),
        }
    }
}

/// Seed for a named stream: FNV-1a of the name, mixed with the scenario seed by splitmix64.
pub fn derive_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix64(seed ^ h)
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn same_seed_gives_same_draws_per_stream() {
        let mut a = RngStreams::new(7);
        let mut b = RngStreams::new(7);
        let x: u64 = a.get(Stream::Spot).random();
        let y: u64 = b.get(Stream::Spot).random();
        assert_eq!(x, y);
    }

    #[test]
    fn a_draw_in_one_stream_does_not_shift_another() {
        let mut a = RngStreams::new(7);
        let mut b = RngStreams::new(7);
        let _: u64 = a.get(Stream::Workload).random();
        let x: u64 = a.get(Stream::Latency).random();
        let y: u64 = b.get(Stream::Latency).random();
        assert_eq!(x, y);
    }

    #[test]
    fn streams_differ_from_each_other() {
        let mut a = RngStreams::new(7);
        let x: u64 = a.get(Stream::Spot).random();
        let y: u64 = a.get(Stream::Latency).random();
        assert_ne!(x, y);
    }
}
