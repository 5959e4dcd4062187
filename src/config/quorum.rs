//! Ensemble membership as written in zoo.cfg: `server.N=` lines and the `myid` file.
//!
//! Owns: parsing one `server.N` value the way `QuorumPeer.QuorumServer` does
//! (`host:quorumPort:electionPort[:participant|observer][;[clientHost:]clientPort]`, IPv6
//! hosts in brackets, several addresses joined with `|`), printing it back in
//! `QuorumServer.toString()` form, and reading `<dataDir>/myid`.
//! Must never: resolve host names or open sockets (addresses stay strings until the
//! server binds/dials), or decide quorum math (that is `zab`).

use std::fmt;
use std::path::Path;

/// Role of a server in the ensemble (`LearnerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerType {
    #[default]
    Participant,
    Observer,
}

impl PeerType {
    /// `participant` / `observer`, case-insensitive, surrounding whitespace ignored.
    pub fn parse(s: &str) -> Option<PeerType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "participant" => Some(PeerType::Participant),
            "observer" => Some(PeerType::Observer),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PeerType::Participant => "participant",
            PeerType::Observer => "observer",
        }
    }
}

/// An unresolved `host:port`. `host` holds no brackets; IPv6 literals are bracketed when
/// displayed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        HostPort {
            host: host.into(),
            port,
        }
    }
    /// The host, bracketed if it is an IPv6 literal (Java's `delimitedHostString`).
    pub fn delimited_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.delimited_host(), self.port)
    }
}

/// One address of a quorum member: the same host with its quorum and election ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr {
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
}

impl PeerAddr {
    pub fn quorum(&self) -> HostPort {
        HostPort::new(self.host.clone(), self.quorum_port)
    }
    pub fn election(&self) -> HostPort {
        HostPort::new(self.host.clone(), self.election_port)
    }
}

/// A `server.N` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumServer {
    pub id: i64,
    /// One or more addresses (more than one only with `multiAddress.enabled`).
    pub addrs: Vec<PeerAddr>,
    pub peer_type: PeerType,
    /// From `;[host:]port`; host defaults to `0.0.0.0` when only a port is given.
    pub client_addr: Option<HostPort>,
    /// From a third `;`-part (TLS client port; recorded, not supported).
    pub secure_client_addr: Option<HostPort>,
}

/// Split `host:port:...` with an optional `[ipv6]` host (`ConfigUtils.getHostAndPort`).
fn host_and_port(s: &str) -> Result<Vec<String>, String> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some(i) = rest.find(']') else {
            return Err(format!("{s} starts with '[' but has no matching ']:'"));
        };
        let host = &rest[..i];
        let after = &rest[i + 1..];
        if after.is_empty() {
            return Ok(vec![host.to_string()]);
        }
        let Some(ports) = after.strip_prefix(':') else {
            return Err(format!("{s}: expected ':' after ']'"));
        };
        if ports.is_empty() {
            return Err(format!("{s} doesn't have a port after colon"));
        }
        let mut v = vec![host.to_string()];
        v.extend(ports.split(':').map(str::to_string));
        Ok(v)
    } else {
        Ok(s.split(':').map(str::to_string).collect())
    }
}

/// A host naming every local address (`0.0.0.0`, `::`, `[::]`): Java's
/// `InetAddress.isAnyLocalAddress`.
pub fn is_wildcard_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
}

/// Java's `Integer.parseInt` followed by the `InetSocketAddress` range check.
pub fn parse_port(s: &str) -> Result<u16, String> {
    let n: i32 = s
        .trim()
        .parse()
        .map_err(|_| format!("port {s:?} is not a number"))?;
    u16::try_from(n).map_err(|_| format!("port out of range: {n}"))
}

fn parse_client_part(part: &str, whole: &str) -> Result<HostPort, String> {
    let parts = host_and_port(part)?;
    match parts.as_slice() {
        [port] => Ok(HostPort::new("0.0.0.0", parse_port(port)?)),
        [host, port] => Ok(HostPort::new(host.clone(), parse_port(port)?)),
        _ => Err(format!("{whole}: client address must be [host:]port")),
    }
}

impl QuorumServer {
    /// Parse the value of a `server.<id>` key. `multi_address` = `multiAddress.enabled`.
    pub fn parse(id: i64, value: &str, multi_address: bool) -> Result<QuorumServer, String> {
        let value = value.trim();
        let wrong = || {
            format!(
                "{value}: does not have the form server_config or \
                 server_config;client_config where server_config is the pipe separated list \
                 of host:port:port or host:port:port:type and client_config is port or host:port"
            )
        };
        let parts: Vec<&str> = value.split(';').collect();
        if parts.len() > 3 {
            return Err(wrong());
        }
        let client_addr = match parts.get(1) {
            Some(p) if !p.is_empty() => Some(parse_client_part(p, value)?),
            _ => None,
        };
        let secure_client_addr = match parts.get(2) {
            Some(p) if !p.is_empty() => Some(parse_client_part(p, value)?),
            _ => None,
        };
        let addr_strs: Vec<&str> = parts[0].split('|').collect();
        if addr_strs.len() > 1 && !multi_address {
            return Err(format!(
                "Multiple address feature is disabled, but multiple addresses were specified \
                 for sid {id}"
            ));
        }
        let mut addrs = Vec::new();
        let mut peer_type: Option<PeerType> = None;
        for a in addr_strs {
            let p = host_and_port(a)?;
            if p.len() < 3 || p.len() > 4 {
                return Err(wrong());
            }
            let quorum_port = parse_port(&p[1]).map_err(|e| format!("{value}: {e}"))?;
            let election_port = parse_port(&p[2]).map_err(|e| format!("{value}: {e}"))?;
            if quorum_port == election_port {
                return Err(format!(
                    "Client and election port must be different! Please update the \
                     configuration file on server.{id}"
                ));
            }
            if let Some(t) = p.get(3) {
                let t = PeerType::parse(t).ok_or_else(|| format!("Unrecognised peertype: {t}"))?;
                if peer_type.is_some_and(|prev| prev != t) {
                    return Err("Multiple addresses should have similar roles".to_string());
                }
                peer_type = Some(t);
            }
            addrs.push(PeerAddr {
                host: p[0].clone(),
                quorum_port,
                election_port,
            });
        }
        Ok(QuorumServer {
            id,
            addrs,
            peer_type: peer_type.unwrap_or_default(),
            client_addr,
            secure_client_addr,
        })
    }

    /// `QuorumServer.toString()`: the value part of a `server.N=` line in dynamic config
    /// (addresses sorted by host, `:participant|observer`, then `;clientHost:port`).
    pub fn to_config_string(&self) -> String {
        let mut addrs = self.addrs.clone();
        addrs.sort_by(|a, b| a.host.cmp(&b.host));
        let mut s = addrs
            .iter()
            .map(|a| {
                format!(
                    "{}:{}:{}",
                    a.quorum().delimited_host(),
                    a.quorum_port,
                    a.election_port
                )
            })
            .collect::<Vec<_>>()
            .join("|");
        s.push(':');
        s.push_str(self.peer_type.as_str());
        if let Some(c) = &self.client_addr {
            s.push(';');
            s.push_str(&c.to_string());
        }
        s
    }
}

/// Read `<data_dir>/myid`: `Ok(None)` if the file does not exist (standalone needs none),
/// otherwise its first line parsed as a decimal id (`Long.parseLong`, so no whitespace
/// is allowed on the line itself).
pub fn read_myid(data_dir: &Path) -> Result<Option<i64>, String> {
    let path = data_dir.join("myid");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = super::properties::decode_bytes(&text);
    let first = text.split(['\n', '\r']).next().unwrap_or("");
    first
        .parse::<i64>()
        .map(Some)
        .map_err(|_| format!("serverid {first} is not a number (in {})", path.display()))
}
