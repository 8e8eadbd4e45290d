//! Availability-zone ids (`use1-az1`) for zone names (`us-east-1a`).
//!
//! EC2 maps zone *names* to physical zones per account; the zone *id* names the physical zone
//! and is what `topology.k8s.aws/zone-id` carries (Karpenter's AWS provider puts the subnets'
//! zone ids on every instance type and offering; the AWS cloud controller labels each node).
//! The simulator has one account, so it uses a fixed mapping: the region's short code (`us` +
//! `e` + `1` for us-east-1, `ap` + `ne` + `1` for ap-northeast-1) and the zone letter's position
//! (`a` → `az1`). Real accounts shuffle the letters; nothing else in the simulation depends on
//! which id a name gets, only on the mapping being one-to-one. docs/model/ec2.md "Zones".

/// The zone id of `zone` (`us-east-1a` → `use1-az1`). A name that does not end in a letter
/// after a region keeps itself as its id.
pub fn zone_id(zone: &str) -> String {
    let Some(letter) = zone.chars().last().filter(char::is_ascii_lowercase) else {
        return zone.to_string();
    };
    let region = &zone[..zone.len() - 1];
    let n = u32::from(letter) - u32::from('a') + 1;
    format!("{}-az{n}", region_code(region))
}

/// `us-east-1` → `use1`, `ap-southeast-2` → `apse2`, `us-gov-west-1` → `usgw1`.
fn region_code(region: &str) -> String {
    let mut parts: Vec<&str> = region.split('-').collect();
    let Some(number) = parts.pop() else {
        return region.to_string();
    };
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            out.push_str(p);
            continue;
        }
        let short = match *p {
            "north" => "n",
            "south" => "s",
            "east" => "e",
            "west" => "w",
            "central" => "c",
            "northeast" => "ne",
            "northwest" => "nw",
            "southeast" => "se",
            "southwest" => "sw",
            "gov" => "g",
            "iso" => "i",
            other => &other[..other.len().min(1)],
        };
        out.push_str(short);
    }
    out.push_str(number);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_follow_the_ec2_pattern() {
        assert_eq!(zone_id("us-east-1a"), "use1-az1");
        assert_eq!(zone_id("us-east-1c"), "use1-az3");
        assert_eq!(zone_id("us-west-2b"), "usw2-az2");
        assert_eq!(zone_id("ap-northeast-1a"), "apne1-az1");
        assert_eq!(zone_id("ap-southeast-2c"), "apse2-az3");
        assert_eq!(zone_id("eu-central-1a"), "euc1-az1");
        assert_eq!(zone_id("us-gov-west-1a"), "usgw1-az1");
    }

    #[test]
    fn zone_ids_are_one_to_one_within_a_region() {
        let ids: std::collections::BTreeSet<String> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|l| zone_id(&format!("us-east-1{l}")))
            .collect();
        assert_eq!(ids.len(), 6);
    }
}
