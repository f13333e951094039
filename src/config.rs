//! Node configuration: a TOML file, overridden by `RAFTCRON_*` environment variables, overridden
//! by command-line flags (the last two are applied by `cli`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::raft_types::{NodeId, NodeInfo};

/// A configuration that cannot be used; the message names the setting and the value.
#[derive(thiserror::Error, Debug)]
pub enum ConfigError {
    #[error("failed to read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid setting {setting} = {value}: {reason}")]
    Invalid {
        setting: &'static str,
        value: String,
        reason: String,
    },
}

/// One member of the initial cluster.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    pub id: NodeId,
    /// `host:port` other nodes use for Raft traffic.
    pub peer_addr: String,
    /// `host:port` clients use for gRPC and REST.
    pub client_addr: String,
}

/// Raft timing and log retention.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RaftSettings {
    /// Interval between leader heartbeats, in milliseconds.
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout, in milliseconds.
    pub election_timeout_min_ms: u64,
    /// Upper bound of the randomized election timeout, in milliseconds.
    pub election_timeout_max_ms: u64,
    /// A snapshot is built after this many log entries since the last one.
    pub snapshot_every_entries: u64,
    /// Log entries kept after a snapshot, so a briefly lagging follower needs no snapshot.
    pub keep_entries_after_snapshot: u64,
    /// Maximum number of log entries in one AppendEntries request. openraft 0.9 cancels an
    /// AppendEntries that takes longer than `heartbeat_ms`, so a batch must be small enough to
    /// be sent, appended and acknowledged within it, or a lagging follower never catches up.
    pub max_append_entries: u64,
}

impl Default for RaftSettings {
    fn default() -> Self {
        RaftSettings {
            heartbeat_ms: 150,
            election_timeout_min_ms: 750,
            election_timeout_max_ms: 1500,
            snapshot_every_entries: 5000,
            keep_entries_after_snapshot: 1000,
            max_append_entries: 16,
        }
    }
}

/// sled settings.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// sled's page cache, in MiB (sled's own default is 1 GiB).
    pub cache_mb: u64,
    /// fdatasync sled's files after each log flush, so an append survives power loss.
    pub fsync: bool,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            cache_mb: 64,
            fsync: true,
        }
    }
}

/// Client-call settings.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// Time allowed for one write or linearizable read, forwarding included, in milliseconds.
    pub request_timeout_ms: u64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            request_timeout_ms: 5000,
        }
    }
}

/// Scheduler settings.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerSettings {
    /// Age, in milliseconds, past which a schedule instant that no leader could fire in time
    /// is missed and follows its job's misfire policy. Younger instants fire normally, so a
    /// leader failover shorter than this loses no instant.
    pub misfire_threshold_ms: u64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            misfire_threshold_ms: 60_000,
        }
    }
}

/// Everything `raftcron serve` needs.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's id; must be one of `members`.
    pub node_id: NodeId,
    /// Directory of this node's sled database.
    pub data_dir: PathBuf,
    /// Address the public gRPC and REST service binds to; defaults to this member's
    /// `client_addr`.
    #[serde(default)]
    pub listen_client_addr: Option<String>,
    /// Address the peer service binds to; defaults to this member's `peer_addr`.
    #[serde(default)]
    pub listen_peer_addr: Option<String>,
    /// The initial members, this node included.
    pub members: Vec<MemberConfig>,
    #[serde(default)]
    pub raft: RaftSettings,
    #[serde(default)]
    pub storage: StorageSettings,
    #[serde(default)]
    pub api: ApiSettings,
    #[serde(default)]
    pub scheduler: SchedulerSettings,
    /// Addresses this node dials to reach some peers, by node id, when they differ from the
    /// peer's `peer_addr` in `members` (behind NAT, a port forward or a proxy). The membership
    /// itself keeps the `peer_addr` values. TOML: `[peer_dial]` then `2 = "10.0.0.7:9012"`.
    #[serde(default)]
    pub peer_dial: BTreeMap<String, String>,
}

impl NodeConfig {
    /// Reads a TOML file; call [`NodeConfig::validate`] after applying overrides.
    pub fn from_file(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    /// This node's own member entry.
    pub fn this_member(&self) -> Result<&MemberConfig, ConfigError> {
        self.members
            .iter()
            .find(|member| member.id == self.node_id)
            .ok_or_else(|| ConfigError::Invalid {
                setting: "node_id",
                value: self.node_id.to_string(),
                reason: "not listed in members".to_string(),
            })
    }

    /// The members as openraft's initial membership.
    pub fn membership(&self) -> BTreeMap<NodeId, NodeInfo> {
        self.members
            .iter()
            .map(|member| {
                let info = NodeInfo {
                    peer_addr: member.peer_addr.clone(),
                    client_addr: member.client_addr.clone(),
                };
                (member.id, info)
            })
            .collect()
    }

    /// Returns the `peer_dial` overrides by node id, or the first invalid entry as an error.
    pub fn peer_dial_addresses(&self) -> Result<BTreeMap<NodeId, String>, ConfigError> {
        let mut addresses = BTreeMap::new();
        for (id, address) in &self.peer_dial {
            let setting = "peer_dial";
            let node_id = id
                .parse::<NodeId>()
                .map_err(|_| invalid(setting, id, "expected a node id as the key"))?;
            if !self.members.iter().any(|member| member.id == node_id) {
                return Err(invalid(setting, id, "not listed in members"));
            }
            if !is_host_port(address) {
                return Err(invalid(setting, address, "expected host:port"));
            }
            addresses.insert(node_id, address.clone());
        }
        Ok(addresses)
    }

    /// Checks ids, addresses and timing; the error names the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.this_member()?;
        check_members(&self.members)?;
        self.check_listen_addresses()?;
        self.peer_dial_addresses()?;
        check_raft(&self.raft)?;
        if self.api.request_timeout_ms == 0 {
            return Err(invalid("api.request_timeout_ms", 0, "must be positive"));
        }
        if self.storage.cache_mb == 0 {
            return Err(invalid("storage.cache_mb", 0, "must be positive"));
        }
        if self.scheduler.misfire_threshold_ms == 0 {
            return Err(invalid(
                "scheduler.misfire_threshold_ms",
                0,
                "must be positive",
            ));
        }
        Ok(())
    }
}

impl NodeConfig {
    /// Checks that the two addresses this node binds differ from each other and from the
    /// addresses of the other members, so the node does not fail later with "address in use"
    /// or take another member's traffic.
    fn check_listen_addresses(&self) -> Result<(), ConfigError> {
        let member = self.this_member()?;
        let client = ("listen_client_addr", self.listen_client_addr.as_ref());
        let peer = ("listen_peer_addr", self.listen_peer_addr.as_ref());
        for (setting, address) in [client, peer] {
            if let Some(address) = address
                && !is_host_port(address)
            {
                return Err(invalid(setting, address, "expected host:port"));
            }
        }
        let client_addr = client.1.unwrap_or(&member.client_addr);
        let peer_addr = peer.1.unwrap_or(&member.peer_addr);
        if binds_overlap(client_addr, peer_addr) {
            let reason = format!(
                "the client service binds {client_addr} already; give the two services \
                 different ports"
            );
            return Err(invalid("listen_peer_addr", peer_addr, &reason));
        }
        self.check_not_other_member(client)?;
        self.check_not_other_member(peer)
    }

    /// Rejects an explicit listen address that is an address of another member.
    fn check_not_other_member(
        &self,
        (setting, address): (&'static str, Option<&String>),
    ) -> Result<(), ConfigError> {
        let Some(address) = address else {
            return Ok(());
        };
        let others = self.members.iter().filter(|other| other.id != self.node_id);
        for other in others {
            for (name, used) in [
                ("peer_addr", &other.peer_addr),
                ("client_addr", &other.client_addr),
            ] {
                if same_address(address, used) {
                    let reason = format!("already the {name} of member {}", other.id);
                    return Err(invalid(setting, address, &reason));
                }
            }
        }
        Ok(())
    }
}

fn invalid(setting: &'static str, value: impl ToString, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        setting,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Checks member ids and addresses: every id and every address (peer or client, over all
/// members) appears once.
fn check_members(members: &[MemberConfig]) -> Result<(), ConfigError> {
    let mut ids = std::collections::BTreeSet::new();
    // Address in lower case -> the setting and the member that use it first.
    let mut used: BTreeMap<String, (&str, NodeId)> = BTreeMap::new();
    for member in members {
        if !ids.insert(member.id) {
            return Err(invalid("members.id", member.id, "listed twice"));
        }
        for (setting, address) in [
            ("members.peer_addr", &member.peer_addr),
            ("members.client_addr", &member.client_addr),
        ] {
            if !is_host_port(address) {
                return Err(invalid(setting, address, "expected host:port"));
            }
            let key = address.to_ascii_lowercase();
            if let Some((first_setting, first_id)) = used.get(&key) {
                let reason = format!(
                    "already used as {first_setting} of member {first_id}; every address must \
                     be distinct"
                );
                return Err(invalid(setting, address, &reason));
            }
            used.insert(key, (setting, member.id));
        }
    }
    Ok(())
}

/// Compares two `host:port` addresses, ignoring the case of the host.
fn same_address(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Returns true when binding both addresses on one host would collide: they are the same, or
/// they share a port and one binds every interface (`0.0.0.0`, `[::]`).
fn binds_overlap(a: &str, b: &str) -> bool {
    if same_address(a, b) {
        return true;
    }
    let (Some((host_a, port_a)), Some((host_b, port_b))) = (a.rsplit_once(':'), b.rsplit_once(':'))
    else {
        return false;
    };
    let is_wildcard = |host: &str| matches!(host, "0.0.0.0" | "[::]" | "::");
    port_a == port_b && (is_wildcard(host_a) || is_wildcard(host_b))
}

fn is_host_port(address: &str) -> bool {
    match address.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

fn check_raft(raft: &RaftSettings) -> Result<(), ConfigError> {
    if raft.heartbeat_ms == 0 {
        return Err(invalid("raft.heartbeat_ms", 0, "must be positive"));
    }
    if raft.election_timeout_min_ms <= raft.heartbeat_ms {
        let reason = "must be greater than raft.heartbeat_ms";
        return Err(invalid(
            "raft.election_timeout_min_ms",
            raft.election_timeout_min_ms,
            reason,
        ));
    }
    if raft.election_timeout_max_ms <= raft.election_timeout_min_ms {
        let reason = "must be greater than raft.election_timeout_min_ms";
        return Err(invalid(
            "raft.election_timeout_max_ms",
            raft.election_timeout_max_ms,
            reason,
        ));
    }
    if raft.snapshot_every_entries == 0 {
        return Err(invalid(
            "raft.snapshot_every_entries",
            0,
            "must be positive",
        ));
    }
    if raft.max_append_entries == 0 {
        return Err(invalid("raft.max_append_entries", 0, "must be positive"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
node_id = 2
data_dir = "data/node2"

[[members]]
id = 1
peer_addr = "127.0.0.1:7101"
client_addr = "127.0.0.1:7001"

[[members]]
id = 2
peer_addr = "127.0.0.1:7102"
client_addr = "127.0.0.1:7002"

[raft]
heartbeat_ms = 100
"#;

    #[test]
    fn sample_config_parses_with_defaults() {
        let config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.validate().unwrap();
        assert_eq!(config.raft.heartbeat_ms, 100);
        assert_eq!(config.raft.election_timeout_min_ms, 750);
        assert_eq!(config.storage.cache_mb, 64);
        assert_eq!(config.this_member().unwrap().client_addr, "127.0.0.1:7002");
        assert_eq!(config.membership().len(), 2);
    }

    #[test]
    fn unlisted_node_id_is_rejected() {
        let mut config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.node_id = 9;
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("node_id = 9"), "{message}");
    }

    #[test]
    fn bad_address_is_rejected() {
        let mut config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.members[0].peer_addr = "nowhere".into();
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("members.peer_addr = nowhere"), "{message}");
    }

    #[test]
    fn election_timeout_must_exceed_heartbeat() {
        let mut config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.raft.election_timeout_min_ms = 50;
        let message = config.validate().unwrap_err().to_string();
        assert!(
            message.contains("raft.election_timeout_min_ms"),
            "{message}"
        );
    }

    #[test]
    fn misfire_threshold_defaults_to_one_minute() {
        let config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        assert_eq!(config.scheduler.misfire_threshold_ms, 60_000);
    }

    #[test]
    fn misfire_threshold_is_read() {
        let text = format!("{SAMPLE}\n[scheduler]\nmisfire_threshold_ms = 1500\n");
        let config: NodeConfig = toml::from_str(&text).unwrap();
        config.validate().unwrap();
        assert_eq!(config.scheduler.misfire_threshold_ms, 1500);
    }

    #[test]
    fn zero_misfire_threshold_is_rejected() {
        let mut config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.scheduler.misfire_threshold_ms = 0;
        let message = config.validate().unwrap_err().to_string();
        let expected = "invalid setting scheduler.misfire_threshold_ms = 0: must be positive";
        assert_eq!(message, expected);
    }

    #[test]
    fn zero_max_append_entries_is_rejected() {
        let mut config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.raft.max_append_entries = 0;
        let message = config.validate().unwrap_err().to_string();
        let expected = "invalid setting raft.max_append_entries = 0: must be positive";
        assert_eq!(message, expected);
    }

    #[test]
    fn unknown_scheduler_key_is_rejected() {
        let text = format!("{SAMPLE}\n[scheduler]\nmax_catch_up = 5\n");
        let error = toml::from_str::<NodeConfig>(&text).unwrap_err().to_string();
        assert!(error.contains("max_catch_up"), "{error}");
    }

    #[test]
    fn cluster_examples_are_valid() {
        let examples = [
            ("node1", include_str!("../cluster/node1.toml")),
            ("node2", include_str!("../cluster/node2.toml")),
            ("node3", include_str!("../cluster/node3.toml")),
        ];
        for (name, text) in examples {
            let config: NodeConfig =
                toml::from_str(text).unwrap_or_else(|error| panic!("{name}: {error}"));
            config
                .validate()
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            assert_eq!(config.scheduler, SchedulerSettings::default(), "{name}");
        }
    }

    #[test]
    fn peer_dial_is_read() {
        let text = format!("{SAMPLE}\n[peer_dial]\n1 = \"127.0.0.1:9012\"\n");
        let config: NodeConfig = toml::from_str(&text).unwrap();
        config.validate().unwrap();
        let addresses = config.peer_dial_addresses().unwrap();
        assert_eq!(
            addresses.get(&1).map(String::as_str),
            Some("127.0.0.1:9012")
        );
        assert_eq!(config.membership()[&1].peer_addr, "127.0.0.1:7101");
    }

    #[test]
    fn peer_dial_of_unknown_node_is_rejected() {
        let text = format!("{SAMPLE}\n[peer_dial]\n7 = \"127.0.0.1:9012\"\n");
        let config: NodeConfig = toml::from_str(&text).unwrap();
        let message = config.validate().unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid setting peer_dial = 7: not listed in members"
        );
    }

    #[test]
    fn peer_dial_without_port_is_rejected() {
        let text = format!("{SAMPLE}\n[peer_dial]\n1 = \"proxy\"\n");
        let config: NodeConfig = toml::from_str(&text).unwrap();
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("peer_dial = proxy"), "{message}");
    }

    #[test]
    fn member_client_and_peer_addresses_must_differ() {
        let mut config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.members[1].client_addr = config.members[1].peer_addr.clone();
        let message = config.validate().unwrap_err().to_string();
        let expected = "invalid setting members.client_addr = 127.0.0.1:7102: already used as \
                        members.peer_addr of member 2; every address must be distinct";
        assert_eq!(message, expected);
    }

    #[test]
    fn addresses_must_differ_across_members() {
        let mut config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.members[1].client_addr = "127.0.0.1:7001".to_string();
        let message = config.validate().unwrap_err().to_string();
        assert!(
            message.starts_with("invalid setting members.client_addr = 127.0.0.1:7001"),
            "{message}"
        );
        assert!(
            message.contains("members.client_addr of member 1"),
            "{message}"
        );
    }

    #[test]
    fn listen_addresses_must_differ() {
        let mut config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.listen_client_addr = Some("0.0.0.0:7102".to_string());
        let message = config.validate().unwrap_err().to_string();
        let expected = "invalid setting listen_peer_addr = 127.0.0.1:7102: the client service \
                        binds 0.0.0.0:7102 already; give the two services different ports";
        assert_eq!(message, expected);
    }

    #[test]
    fn explicit_listen_addresses_must_differ() {
        let mut config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.listen_client_addr = Some("0.0.0.0:7000".to_string());
        config.listen_peer_addr = Some("0.0.0.0:7000".to_string());
        let message = config.validate().unwrap_err().to_string();
        assert!(
            message.contains("listen_peer_addr = 0.0.0.0:7000"),
            "{message}"
        );
    }

    #[test]
    fn listen_address_of_other_member_is_rejected() {
        let mut config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.listen_peer_addr = Some("127.0.0.1:7101".to_string());
        let message = config.validate().unwrap_err().to_string();
        let expected = "invalid setting listen_peer_addr = 127.0.0.1:7101: already the \
                        peer_addr of member 1";
        assert_eq!(message, expected);
    }

    #[test]
    fn bad_listen_address_is_rejected() {
        let mut config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.listen_client_addr = Some("7002".to_string());
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("listen_client_addr = 7002"), "{message}");
    }

    #[test]
    fn wildcard_listen_addresses_on_other_ports_are_valid() {
        let mut config: NodeConfig = toml::from_str(SAMPLE).unwrap();
        config.listen_client_addr = Some("0.0.0.0:7002".to_string());
        config.listen_peer_addr = Some("[::]:7102".to_string());
        config.validate().unwrap();
    }

    #[test]
    fn unknown_key_is_rejected() {
        let text = format!("{SAMPLE}\nbogus = 1\n");
        assert!(toml::from_str::<NodeConfig>(&text).is_err());
    }
}
