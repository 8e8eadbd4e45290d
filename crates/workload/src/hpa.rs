//! HorizontalPodAutoscaler manifests as the simulator reads them (`autoscaling/v2`, and `v1`
//! converted); [`crate::HpaDef`] is what a run drives (docs/model/hpa.md). Only the fields
//! the controller decides with are read; like the API server, unknown fields are ignored.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct HpaDoc {
    pub metadata: HpaMeta,
    pub spec: HpaSpecDoc,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct HpaMeta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaSpecDoc {
    pub scale_target_ref: TargetRef,
    #[serde(default)]
    pub min_replicas: Option<i64>,
    pub max_replicas: i64,
    #[serde(default)]
    pub metrics: Option<Vec<MetricDoc>>,
    #[serde(default)]
    pub behavior: Option<BehaviorDoc>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    #[serde(default)]
    pub api_version: Option<String>,
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricDoc {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub resource: Option<ResourceMetricDoc>,
    #[serde(default)]
    pub container_resource: Option<ResourceMetricDoc>,
    #[serde(default)]
    pub pods: Option<NamedMetricDoc>,
    #[serde(default)]
    pub object: Option<NamedMetricDoc>,
    #[serde(default)]
    pub external: Option<NamedMetricDoc>,
}

impl MetricDoc {
    /// A Resource metric on cpu at `pct` % utilization (v1's only metric, and v2's default at
    /// 80 %).
    pub fn cpu_utilization(pct: i64) -> MetricDoc {
        MetricDoc {
            kind: "Resource".into(),
            resource: Some(ResourceMetricDoc {
                name: "cpu".into(),
                target: TargetDoc {
                    kind: "Utilization".into(),
                    average_utilization: Some(pct),
                    average_value: None,
                    value: None,
                },
            }),
            container_resource: None,
            pods: None,
            object: None,
            external: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResourceMetricDoc {
    pub name: String,
    pub target: TargetDoc,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NamedMetricDoc {
    pub metric: MetricIdentifier,
    pub target: TargetDoc,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricIdentifier {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetDoc {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub average_utilization: Option<i64>,
    /// A quantity (`500m`, `2`, `1Gi`).
    #[serde(default)]
    pub average_value: Option<Value>,
    #[serde(default)]
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BehaviorDoc {
    #[serde(default)]
    pub scale_up: Option<RulesDoc>,
    #[serde(default)]
    pub scale_down: Option<RulesDoc>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesDoc {
    #[serde(default)]
    pub stabilization_window_seconds: Option<i64>,
    #[serde(default)]
    pub select_policy: Option<String>,
    #[serde(default)]
    pub policies: Option<Vec<PolicyDoc>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDoc {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: i64,
    pub period_seconds: i64,
}

/// `autoscaling/v1`: one CPU utilization target.
#[derive(Debug, Clone, Deserialize)]
pub struct HpaV1Doc {
    pub metadata: HpaMeta,
    pub spec: HpaV1Spec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaV1Spec {
    pub scale_target_ref: TargetRef,
    #[serde(default)]
    pub min_replicas: Option<i64>,
    pub max_replicas: i64,
    #[serde(default)]
    pub target_cpu_utilization_percentage: Option<i64>,
}

impl HpaV1Doc {
    /// The v2 object the API server would serve for it (no target: 80 % CPU, as v2 defaults).
    pub fn into_v2(self) -> HpaDoc {
        let metrics = self
            .spec
            .target_cpu_utilization_percentage
            .map(|pct| vec![MetricDoc::cpu_utilization(pct)]);
        HpaDoc {
            metadata: self.metadata,
            spec: HpaSpecDoc {
                scale_target_ref: self.spec.scale_target_ref,
                min_replicas: self.spec.min_replicas,
                max_replicas: self.spec.max_replicas,
                metrics,
                behavior: None,
            },
        }
    }
}
