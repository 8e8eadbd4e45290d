//! [`Scenario::from_raw`]: a parsed scenario (the Scenario document and its manifests) checked
//! and converted into a runnable [`Scenario`], one named step at a time.
//!
//! Every error names the file, the line, the field and what is wrong (tests/validate_errors.rs
//! pins many of them). Only the first error is reported, so the order of the steps in
//! `from_raw`, and of the checks inside each, is part of the behaviour.
//!
//! The steps live where their subject does: `manifests` (PriorityClasses, workloads, PDBs,
//! Nodes, NodePools, EC2NodeClasses), `volumes` (StorageClasses, PersistentVolumeClaims),
//! `timeline`, `arrivals` (generators and traces); the checks
//! of the Scenario document's own sections are here.

mod arrivals;
mod hpa;
mod manifests;
pub(crate) mod size;
mod timeline;
mod volumes;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use asim_cluster_autoscaler::ClusterAutoscalerConfig;
use asim_core::catalog::Catalog;
use asim_karpenter::KarpenterConfig;
use asim_karpenter::apis::{EC2NodeClass, NodePool};
use asim_karpenter::config as karpenter_config;

use crate::load::{self, LoadError, Manifest, Source};
use crate::scenario::{AutoscalerKind, ObjectRef, ScenarioSpec};
use crate::{Scenario, Workload, is_known_expect_key};

const DEFAULT_REGION: &str = "us-east-1";

fn region_zones(region: &str) -> Vec<String> {
    ["a", "b", "c"]
        .iter()
        .map(|s| format!("{region}{s}"))
        .collect()
}

impl Scenario {
    /// Validates a parsed scenario, step by step; later steps use what earlier ones built (the
    /// zones and catalog, the workloads by name, the NodePools and EC2NodeClasses).
    pub(crate) fn from_raw(
        raw: load::RawScenario,
        limits: &size::Limits,
    ) -> Result<Scenario, LoadError> {
        let load::RawScenario {
            doc,
            source,
            text,
            manifests,
        } = raw;
        let spec = doc.spec;
        let d = Doc {
            spec: &spec,
            source: &source,
            text: &text,
            base_dir: source.file.parent().unwrap_or(Path::new(".")).to_path_buf(),
        };

        d.check_name(&doc.metadata.name)?;
        let duration_ms = d.duration()?;
        d.scheduler()?;
        let (region, zones, catalog) = d.region_zones_catalog()?;
        let priority_classes = manifests::priority_classes(&manifests)?;
        let deferred = manifests::deferred(&d)?;
        let storage = volumes::storage(&manifests, &zones)?;
        let objects = manifests::convert(&manifests, &priority_classes, &storage, &deferred)?;
        let mut timeline =
            timeline::timeline(&d, duration_ms, &objects.workloads, &objects.nodeclasses)?;
        // Replica histories (`format: replicas` traces) are scale steps after the timeline's own
        // at the same time; the sort is stable.
        timeline.extend(arrivals::replica_histories(
            &d,
            duration_ms,
            &objects.workloads,
        )?);
        timeline.sort_by_key(|a| a.at_ms);
        let generators = arrivals::generators(&d, duration_ms, &objects.workloads)?;
        let traces = arrivals::traces(&d, duration_ms, &objects.workloads)?;
        d.check_subnets(&zones)?;
        d.check_static_nodes(&catalog)?;
        d.check_capacity_windows(&zones, &catalog)?;
        d.check_price_changes()?;
        d.check_expectations()?;
        let karpenter =
            d.karpenter_config(&objects.nodepools, &objects.nodeclasses, &zones, &catalog)?;
        let cluster_autoscaler =
            d.cluster_autoscaler_config(&zones, &region, &catalog, &manifests)?;
        let default_autoscaler = default_autoscaler(&spec, &objects.nodepools);
        let mut warnings = not_simulated(&objects.nodeclasses);
        let (hpa_settings, hpa_new_pod_metrics_delay_ms) = hpa::settings(&d)?;
        let hpas = hpa::convert(
            &d,
            &manifests,
            &objects.workloads,
            &hpa_settings,
            duration_ms,
            &mut warnings,
        )?;
        let node_group_min: Vec<(String, u32)> = cluster_autoscaler
            .node_groups
            .iter()
            .map(|g| (g.name.clone(), g.min_size))
            .collect();
        let size = size::check(
            &d,
            &size::Inputs {
                duration_ms,
                workloads: &objects.workloads,
                nodes: &objects.nodes,
                timeline: &timeline,
                generators: &generators,
                traces: &traces,
                hpas: &hpas,
                hpa_sync_ms: hpa_settings.sync_period_ms,
                node_group_min: &node_group_min,
                manifests: &manifests,
            },
            limits,
        )?;

        let manifests::Objects {
            workloads,
            pdbs,
            nodes,
            nodepools,
            nodeclasses,
        } = objects;
        Ok(Scenario {
            name: doc.metadata.name,
            file: source.file.clone(),
            seed: spec.seed,
            duration_ms,
            region,
            zones,
            catalog,
            default_autoscaler,
            expect: spec.expect.clone(),
            spec,
            workloads,
            pdbs,
            nodes,
            nodepools,
            nodeclasses,
            timeline,
            generators,
            traces,
            storage_classes: storage.classes,
            claims: storage.claims,
            karpenter,
            cluster_autoscaler,
            warnings,
            hpas,
            hpa_settings,
            hpa_new_pod_metrics_delay_ms,
            size,
        })
    }
}

/// One line per accepted field the simulator does not model, located like an error:
/// `file:line: KIND/NAME: field: what is not simulated`. (NodePool fields the simulator
/// cannot honour, such as a static NodePool's `replicas`, are errors instead.)
fn not_simulated(nodeclasses: &[(Source, EC2NodeClass)]) -> Vec<String> {
    let mut out = Vec::new();
    for (src, nc) in nodeclasses {
        for (field, why) in nc.not_simulated() {
            out.push(format!(
                "{}:{}: EC2NodeClass/{}: {field}: {why}",
                src.file.display(),
                src.line,
                nc.name()
            ));
        }
    }
    out
}

/// The Scenario document being validated: its spec, and where it came from, for errors.
struct Doc<'a> {
    spec: &'a ScenarioSpec,
    source: &'a Source,
    text: &'a str,
    /// The scenario file's folder: catalogs, traces and applied files are relative to it.
    base_dir: PathBuf,
}

impl Doc<'_> {
    /// An error at `field` of the Scenario document, on the line where the field is written.
    fn err(&self, field: &str, msg: String) -> LoadError {
        let line = load::field_line(self.source.line, self.text, field);
        LoadError::new(&self.source.file, Some(line), Some(field), msg)
    }

    /// `metadata.name` names directories (`check --out DIR/<name>/…`, `--baseline DIR/<name>/…`):
    /// it must be a file name of its own, never a path (`../x`) or a hidden entry.
    fn check_name(&self, name: &str) -> Result<(), LoadError> {
        let ok = !name.is_empty()
            && name.len() <= 253
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            return Ok(());
        }
        Err(self.err(
            "metadata.name",
            format!(
                "must be 1 to 253 letters, digits, '-', '_' or '.', not starting with '.' (it names the report directories), got {name:?}"
            ),
        ))
    }

    /// `spec.scheduler.percentageOfNodesToScore` is a percentage.
    fn scheduler(&self) -> Result<(), LoadError> {
        match self.spec.scheduler.percentage_of_nodes_to_score {
            Some(p) if p > 100 => Err(self.err(
                "spec.scheduler.percentageOfNodesToScore",
                format!("expected 0 to 100 (0: kube-scheduler's adaptive default), got {p}"),
            )),
            _ => Ok(()),
        }
    }

    /// `spec.duration` is positive.
    fn duration(&self) -> Result<u64, LoadError> {
        let duration_ms = self.spec.duration.0;
        if duration_ms == 0 {
            return Err(self.err("spec.duration", "must be positive".into()));
        }
        Ok(duration_ms)
    }

    /// `spec.region` (default us-east-1) and `spec.zones` (default its a, b and c): at least one
    /// zone, each in the region. Then the catalog: `spec.catalog` (a folder relative to the
    /// scenario) or the region's shipped one; a catalog that cannot load is reported at the field
    /// that chose it.
    fn region_zones_catalog(&self) -> Result<(String, Vec<String>, Arc<Catalog>), LoadError> {
        let spec = self.spec;
        let region = spec
            .region
            .clone()
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        let zones = spec.zones.clone().unwrap_or_else(|| region_zones(&region));
        if zones.is_empty() {
            return Err(self.err("spec.zones", "must list at least one zone".into()));
        }
        for z in &zones {
            if !z.starts_with(&region) {
                return Err(self.err(
                    "spec.zones",
                    format!("zone {z:?} is not in region {region:?}"),
                ));
            }
        }
        let catalog = match &spec.catalog {
            Some(dir) => Catalog::load_dir(&self.base_dir.join(dir)),
            None => Catalog::for_region(&region, None),
        }
        .map_err(|e| {
            self.err(
                if spec.catalog.is_some() {
                    "spec.catalog"
                } else {
                    "spec.region"
                },
                e.to_string(),
            )
        })?;
        Ok((region, zones, Arc::new(catalog)))
    }

    /// The workload a reference names (`{deployment: web}`): exactly one kind set, and a
    /// manifest of that kind and name. Used by timeline steps and generators.
    fn find_workload(
        &self,
        workloads: &[Workload],
        r: &ObjectRef,
        field: &str,
    ) -> Result<usize, LoadError> {
        let (kind, name) = r.single().map_err(|m| self.err(field, m))?;
        workloads
            .iter()
            .position(|w| w.kind.as_str() == kind && w.name == name)
            .ok_or_else(|| {
                // The reference's keys are the kinds in lower case (`{deployment: web}`).
                self.err(
                    &format!("{field}.{}", kind.to_lowercase()),
                    format!("no {kind} named {name:?} in the scenario's manifests"),
                )
            })
    }

    /// `spec.subnets`: each subnet is in one of the scenario's zones.
    fn check_subnets(&self, zones: &[String]) -> Result<(), LoadError> {
        for (i, sn) in self.spec.subnets.iter().enumerate() {
            if !zones.contains(&sn.zone) {
                return Err(self.err(
                    &format!("spec.subnets[{i}].zone"),
                    format!(
                        "zone {:?} is not one of the scenario zones {zones:?}",
                        sn.zone
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `spec.staticNodes`: each names an instance type of the catalog.
    fn check_static_nodes(&self, catalog: &Catalog) -> Result<(), LoadError> {
        for (i, s) in self.spec.static_nodes.iter().enumerate() {
            if catalog.get(&s.instance_type).is_none() {
                return Err(self.err(
                    &format!("spec.staticNodes[{i}].instanceType"),
                    catalog.unknown_type(&s.instance_type),
                ));
            }
        }
        Ok(())
    }

    /// `spec.cloud.capacity` (insufficient-capacity windows): their instance types are in the
    /// catalog and their zones are the scenario's.
    fn check_capacity_windows(&self, zones: &[String], catalog: &Catalog) -> Result<(), LoadError> {
        for (i, w) in self.spec.cloud.capacity.iter().enumerate() {
            for (j, t) in w.instance_types.iter().enumerate() {
                if catalog.get(t).is_none() {
                    return Err(self.err(
                        &format!("spec.cloud.capacity[{i}].instanceTypes[{j}]"),
                        catalog.unknown_type(t),
                    ));
                }
            }
            for z in &w.zones {
                if !zones.contains(z) {
                    return Err(self.err(
                        &format!("spec.cloud.capacity[{i}].zones"),
                        format!("zone {z:?} is not one of the scenario zones {zones:?}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `spec.cloud.spot.priceChanges` (docs/model/ec2.md §2.4): a positive interval and a step
    /// in (0, 50 %] — a larger step would hit the ±50 % band at once.
    fn check_price_changes(&self) -> Result<(), LoadError> {
        let Some(pc) = self.spec.cloud.spot.price_changes else {
            return Ok(());
        };
        if pc.every.0 == 0 {
            return Err(self.err(
                "spec.cloud.spot.priceChanges.every",
                "must be positive (e.g. 1h)".into(),
            ));
        }
        if !(pc.max_step.0 > 0.0 && pc.max_step.0 <= 0.5) {
            return Err(self.err(
                "spec.cloud.spot.priceChanges.maxStep",
                format!(
                    "must be more than 0 and at most 50% (got {}%)",
                    pc.max_step.0 * 100.0
                ),
            ));
        }
        Ok(())
    }

    /// `spec.expect`: keyed by a known autoscaler (or `all`), each check names a report key
    /// ([`is_known_expect_key`]) and has a min, a max or both.
    fn check_expectations(&self) -> Result<(), LoadError> {
        for (who, checks) in &self.spec.expect {
            if !matches!(
                who.as_str(),
                "karpenter" | "cluster-autoscaler" | "none" | "all"
            ) {
                return Err(self.err(
                    &format!("spec.expect.{who}"),
                    "unknown autoscaler (expected karpenter, cluster-autoscaler, none or all)"
                        .into(),
                ));
            }
            for (key, t) in checks {
                if !is_known_expect_key(key) {
                    let why = match asim_report::RENAMED_KEYS.iter().find(|(old, _)| old == key) {
                        Some((_, new)) => format!(
                            "report key renamed in report schema {}: use {new}",
                            asim_report::SCHEMA_VERSION
                        ),
                        None => "unknown report key (see docs/scenario.md for the list)".into(),
                    };
                    return Err(self.err(&format!("spec.expect.{who}.{key}"), why));
                }
                if t.min.is_none() && t.max.is_none() {
                    return Err(self.err(
                        &format!("spec.expect.{who}.{key}"),
                        "needs min, max or both".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Karpenter's configuration (`spec.karpenter` settings and feature gates, the NodePools
    /// and EC2NodeClasses, subnets, zones, catalog), checked as Karpenter would when it starts,
    /// so a mistake is reported here with its line rather than when a run begins. A problem of
    /// one NodePool is reported at that NodePool's manifest.
    fn karpenter_config(
        &self,
        nodepools: &[(Source, NodePool)],
        nodeclasses: &[(Source, EC2NodeClass)],
        zones: &[String],
        catalog: &Arc<Catalog>,
    ) -> Result<KarpenterConfig, LoadError> {
        let spec = self.spec;
        let karpenter = KarpenterConfig {
            settings: karpenter_config::Settings::parse(&spec.karpenter.settings)
                .map_err(|e| self.err(&e.field, e.message))?,
            feature_gates: karpenter_config::FeatureGates::parse(&spec.karpenter.feature_gates)
                .map_err(|e| self.err(&e.field, e.message))?,
            nodepools: nodepools.iter().map(|(_, np)| np.clone()).collect(),
            nodeclasses: nodeclasses.iter().map(|(_, nc)| nc.clone()).collect(),
            subnets: spec.subnets.clone(),
            zones: zones.to_vec(),
            catalog: Arc::clone(catalog),
        };
        karpenter.validate().map_err(|e| {
            match nodepools
                .iter()
                .find(|(_, np)| Some(np.name()) == e.nodepool.as_deref())
            {
                Some((src, _)) => LoadError::at(src, Some(&e.field), e.message.clone()),
                None => self.err(&e.field, e.message.clone()),
            }
        })?;
        Ok(karpenter)
    }

    /// cluster-autoscaler's configuration (`spec.clusterAutoscaler` flags and node groups),
    /// checked as it would be when cluster-autoscaler starts.
    fn cluster_autoscaler_config(
        &self,
        zones: &[String],
        region: &str,
        catalog: &Arc<Catalog>,
        manifests: &[Manifest],
    ) -> Result<ClusterAutoscalerConfig, LoadError> {
        let ca = &self.spec.cluster_autoscaler;
        let other = if let Some(i) = ca.node_groups.iter().position(|g| g.priority.is_some()) {
            Some(format!("spec.clusterAutoscaler.nodeGroups[{i}].priority"))
        } else if ca.flags.contains_key("sim-priority-expander-config") {
            Some("spec.clusterAutoscaler.flags.sim-priority-expander-config".to_string())
        } else {
            None
        };
        let config_map = manifests::priority_expander(manifests, other.as_deref())?;
        ClusterAutoscalerConfig::new(
            &self.spec.cluster_autoscaler.flags,
            config_map,
            self.spec.cluster_autoscaler.node_groups.clone(),
            &self.spec.cluster_autoscaler.termination_handler,
            zones.to_vec(),
            region.to_string(),
            Arc::clone(catalog),
        )
        .map_err(|e| self.err(&e.field, e.message))
    }
}

/// `spec.autoscaler`, or the one the scenario configures: Karpenter if it has NodePools, else
/// cluster-autoscaler if it has node groups, else none.
fn default_autoscaler(spec: &ScenarioSpec, nodepools: &[(Source, NodePool)]) -> AutoscalerKind {
    spec.autoscaler.unwrap_or(if !nodepools.is_empty() {
        AutoscalerKind::Karpenter
    } else if !spec.cluster_autoscaler.node_groups.is_empty() {
        AutoscalerKind::ClusterAutoscaler
    } else {
        AutoscalerKind::None
    })
}
