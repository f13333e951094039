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
}

impl Default for RaftSettings {
    fn default() -> Self {
        RaftSettings {
            heartbeat_ms: 150,
            election_timeout_min_ms: 750,
            election_timeout_max_ms: 1500,
            snapshot_every_entries: 5000,
            keep_entries_after_snapshot: 1000,
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

    /// Checks ids, addresses and timing; the error names the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.this_member()?;
        check_members(&self.members)?;
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

fn invalid(setting: &'static str, value: impl ToString, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        setting,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn check_members(members: &[MemberConfig]) -> Result<(), ConfigError> {
    let mut ids = std::collections::BTreeSet::new();
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
        }
    }
    Ok(())
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
    fn unknown_key_is_rejected() {
        let text = format!("{SAMPLE}\nbogus = 1\n");
        assert!(toml::from_str::<NodeConfig>(&text).is_err());
    }
}
