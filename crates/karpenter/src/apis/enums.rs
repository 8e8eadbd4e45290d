//! The CRDs' string enums, with errors that name the value found and the allowed ones.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer};

/// A value outside a string enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {found:?} (expected {expected})")]
pub struct UnknownValueError {
    pub what: &'static str,
    pub found: String,
    pub expected: String,
}

/// A string enum with `as_str`, `FromStr`, `Display` and a `Deserialize` whose error names the
/// value found and lists the allowed ones.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValueError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValueError {
                        what: $what,
                        found: s.to_string(),
                        expected: $name::ALL
                            .iter()
                            .map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer)?
                    .parse()
                    .map_err(de::Error::custom)
            }
        }
    };
}

string_enum! {
    /// Which nodes consolidation may disrupt (docs/model/karpenter.md §4.3).
    #[derive(Default)]
    pub enum ConsolidationPolicy ("consolidation policy") {
        WhenEmpty = "WhenEmpty",
        /// The CRD default.
        #[default]
        WhenEmptyOrUnderutilized = "WhenEmptyOrUnderutilized",
        /// v1.14+: consolidation also weighs savings against disruption (§4.6).
        Balanced = "Balanced",
    }
}

string_enum! {
    /// Disruption methods a budget can apply to (docs/model/karpenter.md §4.7).
    pub enum DisruptionReason ("disruption reason") {
        Underutilized = "Underutilized",
        Empty = "Empty",
        Drifted = "Drifted",
    }
}

string_enum! {
    /// EC2NodeClass `amiFamily` (docs/model/karpenter.md §7).
    pub enum AmiFamily ("AMI family") {
        Al2 = "AL2",
        Al2023 = "AL2023",
        Bottlerocket = "Bottlerocket",
        Custom = "Custom",
        Windows2019 = "Windows2019",
        Windows2022 = "Windows2022",
        Windows2025 = "Windows2025",
    }
}

impl AmiFamily {
    pub fn is_windows(self) -> bool {
        matches!(
            self,
            AmiFamily::Windows2019 | AmiFamily::Windows2022 | AmiFamily::Windows2025
        )
    }

    /// The family named by an alias prefix (`al2023` in `al2023@latest`); `Custom` has none.
    pub fn from_alias_prefix(prefix: &str) -> Option<AmiFamily> {
        AmiFamily::ALL
            .iter()
            .copied()
            .filter(|f| *f != AmiFamily::Custom)
            .find(|f| f.as_str().to_ascii_lowercase() == prefix)
    }
}

string_enum! {
    pub enum InstanceStorePolicy ("instance store policy") {
        Raid0 = "RAID0",
    }
}

string_enum! {
    pub enum VolumeType ("EBS volume type") {
        Standard = "standard",
        Io1 = "io1",
        Io2 = "io2",
        Gp2 = "gp2",
        Sc1 = "sc1",
        St1 = "st1",
        Gp3 = "gp3",
    }
}

string_enum! {
    pub enum InterfaceType ("network interface type") {
        Interface = "interface",
        /// Does not count towards ENI-limited pods (docs/model/karpenter.md §1.5).
        EfaOnly = "efa-only",
    }
}

string_enum! {
    pub enum MetadataEndpointState ("metadata endpoint state") {
        Enabled = "enabled",
        Disabled = "disabled",
    }
}

string_enum! {
    pub enum HttpTokens ("httpTokens value") {
        Required = "required",
        Optional = "optional",
    }
}

string_enum! {
    pub enum InstanceMatchCriteria ("instanceMatchCriteria") {
        Open = "open",
        Targeted = "targeted",
    }
}
