//! The simulated network between ensemble members: TCP-like connections, seeded delays,
//! breaks, partitions.
//!
//! The fault model is TCP's, because both ZooKeeper protocols (election notifications
//! over `QuorumCnxManager`, and the Leader/Learner QuorumPacket stream) run over TCP:
//! - a connection delivers its bytes in order, each direction FIFO, or not at all: a
//!   message's delay is random, but never less than the one sent before it on the same
//!   connection direction (delivery times are non-decreasing per direction);
//! - a connection can break at any moment: what is in flight is lost, and both ends are
//!   told (an RST or EOF); nothing is corrupted or duplicated inside a connection (TCP
//!   checksums and sequence numbers see to that, so flipping bits or re-delivering bytes
//!   would test a network the members never run on);
//! - a partition between two members breaks their connections and makes new ones fail
//!   until it heals; a crashed member's connections break the same way;
//! - separate connections (each member pair's election link, each learner's quorum link)
//!   are independent, so messages reorder across them.
//!
//! Duplication does happen in these protocols, above TCP: the election re-sends its last
//! notification on every new connection (`SendWorker`'s `lastMessage`), and a learner
//! that reconnects gets the proposals again in its sync. The member models those where
//! the shell does them (`member::ElectionPeer`), not here.
//!
//! Owns: connections, their in-flight messages and delivery times, the cut pairs, which
//! members are down.
//! Must never: look inside a message or decide anything for a member.

use super::rng::Rng;
use crate::zab::election::Notification;
use crate::zab::packet::QuorumPacket;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub type Sid = i64;
pub type ConnId = u64;

/// Which port a connection is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Port {
    Election,
    Quorum,
}

/// What travels on a connection.
#[derive(Debug, Clone)]
pub enum Payload {
    Vote(Notification),
    Packet(QuorumPacket),
    /// The SNAP stream body that follows a SNAP packet (raw bytes on the quorum link).
    SnapBody(Bytes),
}

/// Something the network hands a member.
#[derive(Debug)]
pub enum Delivery {
    Message {
        conn: ConnId,
        port: Port,
        from: Sid,
        to: Sid,
        payload: Payload,
    },
    /// `peer` dialed `to` and the connection is up (the acceptor's side).
    Accepted {
        conn: ConnId,
        port: Port,
        to: Sid,
        peer: Sid,
    },
    /// `conn` broke; `to` is told (its peer was `peer`).
    Broken {
        conn: ConnId,
        port: Port,
        to: Sid,
        peer: Sid,
    },
}

struct Dir {
    queue: VecDeque<(i64, u64, Payload)>,
    last_at: i64,
}

struct Conn {
    port: Port,
    /// The dialer and the acceptor.
    a: Sid,
    b: Sid,
    ab: Dir,
    ba: Dir,
}

/// See the module doc.
pub struct Net {
    conns: BTreeMap<ConnId, Conn>,
    cut: BTreeSet<(Sid, Sid)>,
    down: BTreeSet<Sid>,
    next_conn: ConnId,
    seq: u64,
    broken: VecDeque<Delivery>,
    /// Upper bound of a message's delay (ms); a run changes it over time.
    pub max_delay_ms: i64,
    /// Links (ordered pair) currently slow: extra delay until the given time.
    slow: BTreeMap<(Sid, Sid), (i64, i64)>,
}

fn pair(a: Sid, b: Sid) -> (Sid, Sid) {
    (a.min(b), a.max(b))
}

impl Default for Net {
    fn default() -> Self {
        Net::new()
    }
}

impl Net {
    pub fn new() -> Net {
        Net {
            conns: BTreeMap::new(),
            cut: BTreeSet::new(),
            down: BTreeSet::new(),
            next_conn: 1,
            seq: 0,
            broken: VecDeque::new(),
            max_delay_ms: 5,
            slow: BTreeMap::new(),
        }
    }

    /// Whether `a` can reach `b` now.
    pub fn reachable(&self, a: Sid, b: Sid) -> bool {
        a != b
            && !self.down.contains(&a)
            && !self.down.contains(&b)
            && !self.cut.contains(&pair(a, b))
    }

    /// Dial: a connection `from` → `to` on `port`, or None (unreachable, or `accepting`
    /// false: nobody listens there).
    pub fn connect(&mut self, from: Sid, to: Sid, port: Port, accepting: bool) -> Option<ConnId> {
        if !accepting || !self.reachable(from, to) {
            return None;
        }
        let id = self.next_conn;
        self.next_conn += 1;
        let dir = || Dir {
            queue: VecDeque::new(),
            last_at: 0,
        };
        self.conns.insert(
            id,
            Conn {
                port,
                a: from,
                b: to,
                ab: dir(),
                ba: dir(),
            },
        );
        self.broken.push_back(Delivery::Accepted {
            conn: id,
            port,
            to,
            peer: from,
        });
        Some(id)
    }

    /// The highest connection id handed out.
    pub fn max_conn(&self) -> ConnId {
        self.next_conn - 1
    }

    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// Queue `payload` from `from` on `conn`; false when the connection is gone.
    pub fn send(
        &mut self,
        conn: ConnId,
        from: Sid,
        payload: Payload,
        now: i64,
        rng: &mut Rng,
    ) -> bool {
        let max = self.max_delay_ms.max(1);
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let to = if c.a == from { c.b } else { c.a };
        let extra = match self.slow.get(&(from, to)) {
            Some(&(until, ms)) if until > now => ms,
            _ => 0,
        };
        let d = if c.a == from { &mut c.ab } else { &mut c.ba };
        let at = (now + 1 + rng.below(max as u64) as i64 + extra).max(d.last_at);
        d.last_at = at;
        self.seq += 1;
        d.queue.push_back((at, self.seq, payload));
        true
    }

    /// Break `conn`: in-flight messages are lost, both ends are told.
    pub fn break_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            for (to, peer) in [(c.a, c.b), (c.b, c.a)] {
                self.broken.push_back(Delivery::Broken {
                    conn,
                    port: c.port,
                    to,
                    peer,
                });
            }
        }
    }

    /// Close `conn` from one end: the other end is told after what is in flight (an
    /// orderly close is a FIN behind the data; here the data is dropped with it, which
    /// the protocols must survive anyway).
    pub fn close(&mut self, conn: ConnId) {
        self.break_conn(conn);
    }

    /// Connections between `a` and `b` (either direction, any port).
    fn conns_between(&self, a: Sid, b: Sid) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| pair(c.a, c.b) == pair(a, b))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Cut `a` from `b` until `heal`.
    pub fn partition(&mut self, a: Sid, b: Sid) {
        self.cut.insert(pair(a, b));
        for c in self.conns_between(a, b) {
            self.break_conn(c);
        }
    }

    pub fn heal(&mut self, a: Sid, b: Sid) {
        self.cut.remove(&pair(a, b));
    }

    pub fn heal_all(&mut self) {
        self.cut.clear();
        self.slow.clear();
    }

    pub fn cut_pairs(&self) -> Vec<(Sid, Sid)> {
        self.cut.iter().copied().collect()
    }

    /// Messages from `from` to `to` take `ms` longer until `until`.
    pub fn slow_link(&mut self, from: Sid, to: Sid, until: i64, ms: i64) {
        self.slow.insert((from, to), (until, ms));
    }

    /// `sid` crashed: its connections break (its peers are told), nothing reaches it.
    pub fn crash(&mut self, sid: Sid) {
        self.down.insert(sid);
        let mine: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.a == sid || c.b == sid)
            .map(|(id, _)| *id)
            .collect();
        for c in mine {
            self.break_conn(c);
        }
        self.broken.retain(|d| {
            !matches!(d, Delivery::Broken { to, .. } | Delivery::Accepted { to, .. } if *to == sid)
        });
    }

    pub fn restart(&mut self, sid: Sid) {
        self.down.remove(&sid);
    }

    pub fn is_down(&self, sid: Sid) -> bool {
        self.down.contains(&sid)
    }

    /// The next thing to hand a member at `now`: connection notices first, then the message
    /// due earliest (ties by send order).
    pub fn next_due(&mut self, now: i64) -> Option<Delivery> {
        if let Some(d) = self.broken.pop_front() {
            return Some(d);
        }
        let mut best: Option<(i64, u64, ConnId, bool)> = None;
        for (id, c) in &self.conns {
            for (fwd, d) in [(true, &c.ab), (false, &c.ba)] {
                if let Some(&(at, seq, _)) = d.queue.front()
                    && at <= now
                    && best.is_none_or(|(ba, bs, _, _)| (at, seq) < (ba, bs))
                {
                    best = Some((at, seq, *id, fwd));
                }
            }
        }
        let (_, _, id, fwd) = best?;
        let c = self.conns.get_mut(&id)?;
        let (from, to, d) = if fwd {
            (c.a, c.b, &mut c.ab)
        } else {
            (c.b, c.a, &mut c.ba)
        };
        let (_, _, payload) = d.queue.pop_front()?;
        Some(Delivery::Message {
            conn: id,
            port: c.port,
            from,
            to,
            payload,
        })
    }

    /// Messages in flight (for settling).
    pub fn in_flight(&self) -> usize {
        self.conns
            .values()
            .map(|c| c.ab.queue.len() + c.ba.queue.len())
            .sum::<usize>()
            + self.broken.len()
    }
}
