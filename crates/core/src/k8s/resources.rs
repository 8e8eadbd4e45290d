//! Resource lists in integer units: CPU in millicores, memory and storage in bytes, pods as a
//! count, extended resources (`nvidia.com/gpu`, …) as counts.

use std::collections::BTreeMap;
use std::fmt;

pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const PODS: &str = "pods";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const NVIDIA_GPU: &str = "nvidia.com/gpu";

/// A Kubernetes resource list. The four core resources are fields (the hot path of every fit
/// check); extended resources live in a small ordered map that is empty for most pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu_m: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub pods: i64,
    pub extended: BTreeMap<String, i64>,
}

impl Resources {
    pub fn new(cpu_m: i64, memory: i64) -> Self {
        Resources {
            cpu_m,
            memory,
            ..Default::default()
        }
    }

    /// Set a resource by its Kubernetes name, in integer units (millicores for cpu).
    pub fn set(&mut self, name: &str, value: i64) {
        match name {
            CPU => self.cpu_m = value,
            MEMORY => self.memory = value,
            EPHEMERAL_STORAGE => self.ephemeral_storage = value,
            PODS => self.pods = value,
            other => {
                if value == 0 {
                    self.extended.remove(other);
                } else {
                    self.extended.insert(other.to_string(), value);
                }
            }
        }
    }

    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.cpu_m,
            MEMORY => self.memory,
            EPHEMERAL_STORAGE => self.ephemeral_storage,
            PODS => self.pods,
            other => self.extended.get(other).copied().unwrap_or(0),
        }
    }

    pub fn add(&mut self, o: &Resources) {
        self.cpu_m += o.cpu_m;
        self.memory += o.memory;
        self.ephemeral_storage += o.ephemeral_storage;
        self.pods += o.pods;
        for (k, v) in &o.extended {
            *self.extended.entry(k.clone()).or_insert(0) += v;
        }
    }

    pub fn sub(&mut self, o: &Resources) {
        self.cpu_m -= o.cpu_m;
        self.memory -= o.memory;
        self.ephemeral_storage -= o.ephemeral_storage;
        self.pods -= o.pods;
        for (k, v) in &o.extended {
            let e = self.extended.entry(k.clone()).or_insert(0);
            *e -= v;
            if *e == 0 {
                self.extended.remove(k);
            }
        }
    }

    /// Element-wise maximum (init containers vs. the sum of app containers).
    pub fn max_with(&mut self, o: &Resources) {
        self.cpu_m = self.cpu_m.max(o.cpu_m);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
        self.pods = self.pods.max(o.pods);
        for (k, v) in &o.extended {
            let e = self.extended.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
    }

    /// `self + extra ≤ capacity` for every resource that `self + extra` requests.
    pub fn fits_with(&self, extra: &Resources, capacity: &Resources) -> bool {
        self.cpu_m + extra.cpu_m <= capacity.cpu_m
            && self.memory + extra.memory <= capacity.memory
            && self.ephemeral_storage + extra.ephemeral_storage <= capacity.ephemeral_storage
            && self.pods + extra.pods <= capacity.pods
            && extra.extended.iter().all(|(k, v)| {
                *v <= 0 || self.extended.get(k).copied().unwrap_or(0) + v <= capacity.get(k)
            })
    }

    /// `self ≤ capacity` for every resource `self` requests (a zero request always fits).
    pub fn fits_in(&self, capacity: &Resources) -> bool {
        // `Resources::default().fits_with(self, capacity)`, without building (and dropping)
        // an empty map on every one of a solve's many checks.
        self.cpu_m <= capacity.cpu_m
            && self.memory <= capacity.memory
            && self.ephemeral_storage <= capacity.ephemeral_storage
            && self.pods <= capacity.pods
            && self
                .extended
                .iter()
                .all(|(k, v)| *v <= 0 || *v <= capacity.get(k))
    }

    /// The first resource of `self + extra` that exceeds `capacity`, for "why not" messages.
    pub fn first_exceeded(&self, extra: &Resources, capacity: &Resources) -> Option<&'static str> {
        if self.cpu_m + extra.cpu_m > capacity.cpu_m {
            Some(CPU)
        } else if self.memory + extra.memory > capacity.memory {
            Some(MEMORY)
        } else if self.pods + extra.pods > capacity.pods {
            Some(PODS)
        } else if self.ephemeral_storage + extra.ephemeral_storage > capacity.ephemeral_storage {
            Some(EPHEMERAL_STORAGE)
        } else if extra.extended.iter().any(|(k, v)| {
            *v > 0 && self.extended.get(k).copied().unwrap_or(0) + v > capacity.get(k)
        }) {
            Some("extended resource")
        } else {
            None
        }
    }

    pub fn is_zero(&self) -> bool {
        self.cpu_m == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.pods == 0
            && self.extended.values().all(|v| *v == 0)
    }

    pub fn gpus(&self) -> i64 {
        self.get(NVIDIA_GPU)
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cpu={}m memory={}Mi pods={}",
            self.cpu_m,
            self.memory / (1 << 20),
            self.pods
        )?;
        for (k, v) in &self.extended {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_request_fits_anywhere() {
        assert!(Resources::default().fits_in(&Resources::default()));
    }

    #[test]
    fn extended_resource_must_exist_on_node() {
        let mut pod = Resources::new(100, 0);
        pod.set(NVIDIA_GPU, 1);
        let node = Resources::new(4000, 1 << 30);
        assert!(!pod.fits_in(&node));
        let mut gpu_node = node.clone();
        gpu_node.set(NVIDIA_GPU, 1);
        assert!(pod.fits_in(&gpu_node));
    }

    #[test]
    fn add_then_sub_is_identity() {
        let mut a = Resources::new(100, 200);
        let mut b = Resources::new(5, 7);
        b.set(NVIDIA_GPU, 2);
        a.add(&b);
        a.sub(&b);
        assert_eq!(a, Resources::new(100, 200));
    }
}
