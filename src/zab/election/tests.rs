//! Election tests: the captured bytes (both versions), legacy forms, malformed input, and
//! the state machine driven by hand, incl. replays of the S01/S06/S10/S11 transcripts.

use super::wire::*;
use super::*;
use std::collections::VecDeque;

const VECTORS: &str = include_str!("../../../testdata/quorum-captures/election-vectors.txt");

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

struct Vector {
    version: String,
    scenario: String,
    kind: String,
    subtype: String,
    sender: i64,
    bytes: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    VECTORS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Vector {
                version: f[0].into(),
                scenario: f[1].into(),
                kind: f[2].into(),
                subtype: f[3].into(),
                sender: f[4].parse().unwrap(),
                bytes: unhex(f[6]),
            }
        })
        .collect()
}

#[test]
fn captured_initial_messages_decode_and_reencode() {
    let mut seen = 0;
    for v in vectors().iter().filter(|v| v.kind == "INITIAL") {
        let (m, used) = InitialMessage::decode(&v.bytes).unwrap().unwrap();
        assert_eq!(used, v.bytes.len(), "{} {}", v.version, v.scenario);
        assert_eq!(m.form, InitialForm::V1);
        assert_eq!(m.sid, v.sender);
        assert_eq!(m.addrs.len(), 1);
        assert_eq!(v.bytes.len(), 35);
        assert_eq!(InitialMessage::encode(m.sid, &m.addrs, false), v.bytes);
        // Every shorter prefix asks for more bytes.
        for cut in 0..v.bytes.len() {
            assert_eq!(InitialMessage::decode(&v.bytes[..cut]), Ok(None));
        }
        seen += 1;
    }
    assert_eq!(seen, 2);
}

#[test]
fn captured_notifications_decode_and_reencode() {
    let mut seen = 0;
    for v in vectors().iter().filter(|v| v.kind == "NOTIFICATION") {
        let (payload, used) = decode_frame(&v.bytes).unwrap().unwrap();
        assert_eq!(used, v.bytes.len());
        assert_eq!(payload.len(), 222);
        let n = Notification::decode(payload).unwrap();
        assert_eq!(n.version, 2);
        let cfg = n.config.clone().unwrap();
        assert_eq!(cfg.len(), 178);
        assert!(cfg.ends_with(b"\nversion=0"));
        assert_eq!(n.config_version_hex(), "0");
        match v.subtype.as_str() {
            "LOOKING" => {
                assert_eq!(n.state, PeerState::Looking);
                assert_eq!(n.leader, v.sender);
                assert_eq!((n.zxid, n.election_epoch, n.peer_epoch), (0, 1, 0));
            }
            "LOOKING-nonvoter" => {
                assert_eq!(n.state, PeerState::Looking);
                assert_eq!(
                    (n.leader, n.zxid, n.peer_epoch),
                    (i64::MIN, i64::MIN, i64::MIN)
                );
                assert_eq!(n.election_epoch, 1);
            }
            "LEADING" | "FOLLOWING" => {
                let st = if v.subtype == "LEADING" {
                    PeerState::Leading
                } else {
                    PeerState::Following
                };
                assert_eq!(n.state, st);
                assert_eq!(
                    (n.leader, n.zxid, n.election_epoch, n.peer_epoch),
                    (3, 0, 1, 1)
                );
            }
            other => panic!("unexpected subtype {other}"),
        }
        assert_eq!(
            n.encode_framed().to_vec(),
            v.bytes,
            "{} {}",
            v.version,
            v.scenario
        );
        seen += 1;
    }
    assert_eq!(seen, 8);
}

#[test]
fn initial_message_forms_and_errors() {
    // V2 with two addresses, IPv6 bracketed.
    let addrs = vec!["10.0.0.1:3888".to_string(), "[::1]:3889".to_string()];
    let b = InitialMessage::encode(7, &addrs, true);
    let (m, used) = InitialMessage::decode(&b).unwrap().unwrap();
    assert_eq!((m.form, m.sid, used), (InitialForm::V2, 7, b.len()));
    assert_eq!(m.addrs, addrs);
    assert_eq!(parse_host_port(&m.addrs[1]), Ok(("::1".to_string(), 3889)));
    // V1 sends only the first address.
    let b = InitialMessage::encode(7, &addrs, false);
    assert_eq!(&b[..8], &PROTOCOL_VERSION_V1.to_be_bytes());
    assert_eq!(
        InitialMessage::decode(&b).unwrap().unwrap().0.addrs,
        vec!["10.0.0.1:3888"]
    );
    // Pre-3.5: a bare sid, and the framed stream starts right after it.
    let mut b = 5i64.to_be_bytes().to_vec();
    b.extend_from_slice(&[0, 0, 0, 1]);
    let (m, used) = InitialMessage::decode(&b).unwrap().unwrap();
    assert_eq!((m.form, m.sid, used), (InitialForm::Legacy, 5, 8));
    assert!(m.addrs.is_empty());
    // Unknown negative version.
    let b = (-3i64).to_be_bytes();
    assert_eq!(
        InitialMessage::decode(&b),
        Err(WireError::ProtocolVersion(-3))
    );
    // Address length out of 1..=2048.
    for len in [0i32, -1, 2049, i32::MAX] {
        let mut b = PROTOCOL_VERSION_V1.to_be_bytes().to_vec();
        b.extend_from_slice(&1i64.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
        assert_eq!(InitialMessage::decode(&b), Err(WireError::AddrLength(len)));
    }
    // 2048 is fine (if the text is a valid address).
    let long = format!("{}:1", "h".repeat(2046));
    let b = InitialMessage::encode(1, std::slice::from_ref(&long), false);
    assert_eq!(
        InitialMessage::decode(&b).unwrap().unwrap().0.addrs,
        vec![long]
    );
    // Badly formed addresses.
    for bad in [
        "nohost", "a:b", "a:1:2", "[::1]", "[::1:5", "h:70000", "h:-1", "",
    ] {
        let b = InitialMessage::encode(1, &[bad.to_string()], false);
        assert!(InitialMessage::decode(&b).is_err(), "{bad:?}");
    }
}

fn payload(state: i32, leader: i64, zxid: i64, ee: i64, rest: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&state.to_be_bytes());
    b.extend_from_slice(&leader.to_be_bytes());
    b.extend_from_slice(&zxid.to_be_bytes());
    b.extend_from_slice(&ee.to_be_bytes());
    b.extend_from_slice(rest);
    b
}

#[test]
fn legacy_notification_forms() {
    // 28 bytes: no peer epoch, taken from the zxid.
    let b = payload(1, 3, 0x5_0000_0007, 9, &[]);
    let n = Notification::decode(&b).unwrap();
    assert_eq!(
        (n.state, n.leader, n.zxid, n.election_epoch),
        (PeerState::Following, 3, 0x5_0000_0007, 9)
    );
    assert_eq!((n.peer_epoch, n.version, n.config.clone()), (5, 0, None));
    // 40 bytes: peer epoch, and the version int is not read (test-only buildMsg writes 1).
    let mut rest = 6i64.to_be_bytes().to_vec();
    rest.extend_from_slice(&1i32.to_be_bytes());
    let n = Notification::decode(&payload(2, 3, 7, 9, &rest)).unwrap();
    assert_eq!(
        (n.state, n.peer_epoch, n.version, n.config),
        (PeerState::Leading, 6, 0, None)
    );
    // Any other length >= 44 with version 1: no config, trailing bytes ignored.
    let mut rest = 6i64.to_be_bytes().to_vec();
    rest.extend_from_slice(&1i32.to_be_bytes());
    rest.extend_from_slice(&[9; 8]);
    let n = Notification::decode(&payload(0, 3, 7, 9, &rest)).unwrap();
    assert_eq!((n.version, n.config), (1, None));
}

#[test]
fn malformed_notifications_are_errors() {
    let ok = Notification::new(
        PeerState::Looking,
        1,
        2,
        3,
        4,
        Bytes::from_static(b"version=0"),
    )
    .encode();
    assert_eq!(ok.len(), 53);
    for cut in 0..28 {
        assert_eq!(
            Notification::decode(&ok[..cut]),
            Err(WireError::ShortNotification(cut))
        );
    }
    // 29..43 bytes (not 40): partial.
    for cut in (29..44).filter(|&c| c != 40) {
        assert!(
            matches!(
                Notification::decode(&ok[..cut]),
                Err(WireError::PartialNotification { .. })
            ),
            "{cut}"
        );
    }
    // Config cut short.
    assert!(Notification::decode(&ok[..50]).is_err());
    // Negative / huge config length.
    for cl in [-1i32, 54, i32::MAX, i32::MIN] {
        let mut b = ok.clone();
        b[40..44].copy_from_slice(&cl.to_be_bytes());
        assert!(Notification::decode(&b).is_err(), "{cl}");
    }
    // Unknown state.
    let mut b = ok.clone();
    b[0..4].copy_from_slice(&7i32.to_be_bytes());
    assert_eq!(Notification::decode(&b), Err(WireError::UnknownState(7)));
    // Frames: 1..=512 KiB.
    assert_eq!(decode_frame(&[0, 0, 0]), Ok(None));
    assert_eq!(decode_frame(&[0, 0, 0, 0]), Err(WireError::FrameLength(0)));
    assert_eq!(
        decode_frame(&[0xff, 0xff, 0xff, 0xff]),
        Err(WireError::FrameLength(-1))
    );
    assert_eq!(
        decode_frame(&[0, 8, 0, 1]),
        Err(WireError::FrameLength(0x80001))
    );
    assert_eq!(decode_frame(&[0, 8, 0, 0]), Ok(None));
    assert_eq!(decode_frame(&[0, 0, 0, 1, 9]), Ok(Some((&[9u8][..], 5))));
}

#[test]
fn config_bytes_match_the_capture_layout() {
    let cfg = crate::config::Config::parse_str(
        "dataDir=/d\ninitLimit=5\nsyncLimit=2\n\
         server.1=127.0.0.1:26011:26021:participant\n\
         server.2=127.0.0.1:26112:26212:participant\n\
         server.3=127.0.0.1:26113:26213:participant\n\
         server.4=127.0.0.1:26114:26214:observer\n",
    )
    .unwrap();
    assert_eq!(
        config_bytes(&cfg),
        config_bytes_for(cfg.servers.values(), 0)
    );
    assert_eq!(
        &config_bytes(&cfg)[..],
        b"server.1=127.0.0.1:26011:26021:participant\nserver.2=127.0.0.1:26112:26212:participant\n\
          server.3=127.0.0.1:26113:26213:participant\nserver.4=127.0.0.1:26114:26214:observer\nversion=0"
    );
}

// ---- the state machine ----

const CFG: &[u8] = b"version=0";

fn fle(me: i64, voters: &[i64]) -> FastLeaderElection {
    FastLeaderElection::new(
        me,
        voters.contains(&me),
        voters.iter().copied(),
        Bytes::from_static(CFG),
        Timing::default(),
    )
}

fn n(state: PeerState, leader: i64, zxid: i64, ee: i64, pe: i64) -> Notification {
    Notification::new(state, leader, zxid, ee, pe, Bytes::from_static(CFG))
}

fn sends(a: &[Action]) -> Vec<(i64, PeerState, i64, i64, i64, i64)> {
    a.iter()
        .filter_map(|a| match a {
            Action::Send { to, n } => Some((
                *to,
                n.state,
                n.leader,
                n.zxid,
                n.election_epoch,
                n.peer_epoch,
            )),
            _ => None,
        })
        .collect()
}

fn decided(a: &[Action]) -> Option<Decision> {
    a.iter().find_map(|a| match a {
        Action::Decided(d) => Some(*d),
        _ => None,
    })
}

use PeerState::*;

/// A tiny in-memory network: FIFO delivery, time advanced by hand.
struct Net {
    nodes: BTreeMap<i64, FastLeaderElection>,
    wire: VecDeque<(i64, i64, Notification)>,
    decisions: BTreeMap<i64, (i64, Decision)>,
    now: i64,
    down: BTreeSet<i64>,
}

impl Net {
    fn new(voters: &[i64], observers: &[i64]) -> Net {
        let nodes = voters
            .iter()
            .chain(observers)
            .map(|&s| (s, fle(s, voters)))
            .collect();
        Net {
            nodes,
            wire: VecDeque::new(),
            decisions: BTreeMap::new(),
            now: 0,
            down: BTreeSet::new(),
        }
    }
    fn collect(&mut self, sid: i64) {
        let Some(node) = self.nodes.get_mut(&sid) else {
            return;
        };
        for a in node.take_actions() {
            match a {
                Action::Send { to, n } => self.wire.push_back((sid, to, n)),
                Action::Decided(d) => {
                    self.decisions.insert(sid, (self.now, d));
                }
            }
        }
    }
    fn start(&mut self, sid: i64, zxid: i64, epoch: i64) {
        let now = self.now;
        if let Some(node) = self.nodes.get_mut(&sid) {
            node.start_round(now, zxid, epoch);
        }
        self.collect(sid);
    }
    /// Deliver everything in flight, then run timers in time order, until `until`.
    fn run(&mut self, until: i64) {
        loop {
            while let Some((from, to, n)) = self.wire.pop_front() {
                if self.down.contains(&to) || self.down.contains(&from) {
                    continue;
                }
                let now = self.now;
                if let Some(node) = self.nodes.get_mut(&to) {
                    node.on_notification(now, from, n);
                }
                self.collect(to);
            }
            let next = self
                .nodes
                .iter()
                .filter(|(s, _)| !self.down.contains(s))
                .filter_map(|(s, f)| f.next_deadline().map(|d| (d, *s)))
                .min();
            match next {
                Some((d, sid)) if d <= until => {
                    self.now = self.now.max(d);
                    let now = self.now;
                    if let Some(node) = self.nodes.get_mut(&sid) {
                        node.on_timer(now);
                    }
                    self.collect(sid);
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }
}

#[test]
fn fresh_three_nodes_elect_the_highest_sid() {
    let mut net = Net::new(&[1, 2, 3], &[]);
    for s in [1, 2, 3] {
        net.start(s, 0, 0);
    }
    net.run(1000);
    let v = Vote {
        id: 3,
        zxid: 0,
        election_epoch: 1,
        peer_epoch: 0,
    };
    assert_eq!(
        net.decisions[&3].1,
        Decision {
            state: Leading,
            vote: v
        }
    );
    assert_eq!(
        net.decisions[&1].1,
        Decision {
            state: Following,
            vote: v
        }
    );
    assert_eq!(
        net.decisions[&2].1,
        Decision {
            state: Following,
            vote: v
        }
    );
    // Every decision waited finalizeWait after the last useful message.
    for (t, _) in net.decisions.values() {
        assert_eq!(*t, 200);
    }
}

#[test]
fn highest_zxid_then_epoch_wins_over_sid() {
    let mut net = Net::new(&[1, 2, 3], &[]);
    net.start(1, 0x1_0000_0005, 1);
    net.start(2, 0x1_0000_0004, 1);
    net.start(3, 0x1_0000_0004, 1);
    net.run(1000);
    for s in [1, 2, 3] {
        assert_eq!(net.decisions[&s].1.vote.id, 1, "sid {s}");
    }
    assert_eq!(net.decisions[&1].1.state, Leading);
    // A higher epoch beats a higher zxid.
    let mut net = Net::new(&[1, 2, 3, 4, 5], &[]);
    net.start(1, 0x1_0000_0009, 1);
    net.start(2, 0x2_0000_0000, 2);
    for s in [3, 4, 5] {
        net.start(s, 0x1_0000_0001, 1);
    }
    net.run(1000);
    for s in 1..=5 {
        assert_eq!(net.decisions[&s].1.vote.id, 2, "sid {s}");
    }
}

#[test]
fn s01_sequential_start_as_transcribed() {
    // Member 2 starts alone: it times out and re-sends (200, 400...) until 3 comes up.
    let mut f2 = fle(2, &[1, 2, 3]);
    f2.start_round(0, 0, 0);
    assert_eq!(
        sends(&f2.take_actions()),
        vec![(1, Looking, 2, 0, 1, 0), (3, Looking, 2, 0, 1, 0)]
    );
    assert_eq!(f2.next_deadline(), Some(200));
    // Member 3's first notification (transcript +669.870): adopt 3, re-broadcast.
    f2.on_notification(20, 3, n(Looking, 3, 0, 1, 0));
    assert_eq!(
        sends(&f2.take_actions()),
        vec![(1, Looking, 3, 0, 1, 0), (3, Looking, 3, 0, 1, 0)]
    );
    // 2 and 3 agree: a quorum of 3 → finalizeWait, then FOLLOWING 3 (1 joins later).
    assert_eq!(f2.next_deadline(), Some(220));
    f2.on_timer(219);
    assert!(f2.take_actions().is_empty());
    f2.on_timer(220);
    let d = decided(&f2.take_actions()).unwrap();
    assert_eq!(d.state, Following);
    assert_eq!(
        d.vote,
        Vote {
            id: 3,
            zxid: 0,
            election_epoch: 1,
            peer_epoch: 0
        }
    );
    // Member 1 starts (transcript +736): it proposes itself, 2 (now FOLLOWING)
    // answers its LOOKING notification with its current vote in its own state.
    f2.on_notification(100, 1, n(Looking, 1, 0, 1, 0));
    assert_eq!(sends(&f2.take_actions()), vec![(1, Following, 3, 0, 1, 0)]);
}

#[test]
fn s06_restarted_follower_joins_from_answers_without_finalize_wait() {
    // Member 2 restarts with zxid 0x10000001b, epoch 1, logicalclock back to 0.
    let mut f2 = fle(2, &[1, 2, 3]);
    f2.start_round(0, 0x1_0000_001b, 1);
    assert_eq!(
        sends(&f2.take_actions()),
        vec![
            (1, Looking, 2, 0x1_0000_001b, 1, 1),
            (3, Looking, 2, 0x1_0000_001b, 1, 1)
        ]
    );
    // Transcript order: 1's stale LOOKING re-send, 3's stale LOOKING re-send, 3's
    // LEADING answer, 1's FOLLOWING answer.
    f2.on_notification(2, 1, n(Looking, 3, 0, 1, 0));
    f2.on_notification(5, 3, n(Looking, 3, 0, 1, 0));
    f2.on_notification(7, 3, n(Leading, 3, 0, 1, 1));
    assert!(decided(&f2.take_actions()).is_none());
    f2.on_notification(11, 1, n(Following, 3, 0, 1, 1));
    let a = f2.take_actions();
    assert_eq!(
        decided(&a),
        Some(Decision {
            state: Following,
            vote: Vote {
                id: 3,
                zxid: 0,
                election_epoch: 1,
                peer_epoch: 1
            }
        })
    );
    assert_eq!(f2.next_deadline(), None);
}

#[test]
fn s10_survivors_elect_then_the_killed_leader_rejoins() {
    // Members 1 and 2 were following 3 (round 3); 3 is killed.
    let z = 0x3_0000_0006;
    let mut f2 = fle(2, &[1, 2, 3]);
    f2.logicalclock = 3;
    f2.start_round(0, z, 3);
    assert_eq!(
        sends(&f2.take_actions()),
        vec![(1, Looking, 2, z, 4, 3), (3, Looking, 2, z, 4, 3)]
    );
    f2.on_notification(3, 1, n(Looking, 1, z, 4, 3));
    assert!(f2.take_actions().is_empty());
    f2.on_notification(7, 1, n(Looking, 2, z, 4, 3));
    assert!(f2.take_actions().is_empty());
    f2.on_timer(206);
    assert!(f2.take_actions().is_empty());
    f2.on_timer(207);
    let d = decided(&f2.take_actions()).unwrap();
    assert_eq!(
        d,
        Decision {
            state: Leading,
            vote: Vote {
                id: 2,
                zxid: z,
                election_epoch: 4,
                peer_epoch: 3
            }
        }
    );
    // After sync the leader reports the new epoch (ZOOKEEPER-1732).
    f2.set_current_epoch(4);

    // Member 3 restarts (logicalclock 0): stale LOOKING re-sends from 1 and 2 carry
    // round 4, so it jumps to round 4 and keeps proposing itself; then the answers.
    let mut f3 = fle(3, &[1, 2, 3]);
    f3.start_round(0, z, 3);
    assert_eq!(
        sends(&f3.take_actions()),
        vec![(1, Looking, 3, z, 1, 3), (2, Looking, 3, z, 1, 3)]
    );
    f3.on_notification(1, 1, n(Looking, 2, z, 4, 3));
    assert_eq!(
        sends(&f3.take_actions()),
        vec![(1, Looking, 3, z, 4, 3), (2, Looking, 3, z, 4, 3)]
    );
    f3.on_notification(2, 2, n(Looking, 2, z, 4, 3));
    // Leader 2 answers 3's (round 1) notification as the transcript shows.
    f2.on_notification(3, 3, n(Looking, 3, z, 1, 3));
    assert_eq!(sends(&f2.take_actions()), vec![(3, Leading, 2, z, 4, 4)]);
    f3.on_notification(4, 1, n(Following, 2, z, 4, 4));
    assert!(decided(&f3.take_actions()).is_none());
    f3.on_notification(5, 2, n(Leading, 2, z, 4, 4));
    let d = decided(&f3.take_actions()).unwrap();
    assert_eq!(
        d,
        Decision {
            state: Following,
            vote: Vote {
                id: 2,
                zxid: z,
                election_epoch: 4,
                peer_epoch: 4
            }
        }
    );
}

#[test]
fn s11_observer_follows_the_established_leader() {
    let z = 0x3_0000_0006;
    let mut f4 = fle(4, &[1, 2, 3]);
    f4.start_round(0, 0, 0);
    let m = i64::MIN;
    assert_eq!(
        sends(&f4.take_actions()),
        vec![
            (1, Looking, m, m, 1, m),
            (2, Looking, m, m, 1, m),
            (3, Looking, m, m, 1, m)
        ]
    );
    // A voter that is FOLLOWING answers a non-voter with its vote and its logicalclock.
    let mut f1 = fle(1, &[1, 2, 3]);
    f1.logicalclock = 4;
    f1.set_not_looking(
        Following,
        Vote {
            id: 2,
            zxid: z,
            election_epoch: 4,
            peer_epoch: 4,
        },
    );
    f1.on_notification(0, 4, n(Looking, m, m, 1, m));
    assert_eq!(sends(&f1.take_actions()), vec![(4, Following, 2, z, 4, 4)]);

    f4.on_notification(2, 2, n(Leading, 2, z, 4, 4));
    assert!(decided(&f4.take_actions()).is_none());
    f4.on_notification(3, 3, n(Following, 2, z, 4, 4));
    let d = decided(&f4.take_actions()).unwrap();
    assert_eq!(
        d,
        Decision {
            state: Observing,
            vote: Vote {
                id: 2,
                zxid: z,
                election_epoch: 4,
                peer_epoch: 4
            }
        }
    );
    assert_eq!(f4.logical_clock(), 4);
}

#[test]
fn observers_never_count_and_never_lead() {
    // 3 voters + 2 observers start fresh; the observers end OBSERVING 3.
    let mut net = Net::new(&[1, 2, 3], &[4, 5]);
    for s in 1..=5 {
        net.start(s, 0, 0);
    }
    net.run(2000);
    assert_eq!(net.decisions[&3].1.state, Leading);
    for s in [1, 2] {
        assert_eq!(net.decisions[&s].1.state, Following);
    }
    for s in [4, 5] {
        assert_eq!(net.decisions[&s].1.state, Observing, "sid {s}");
        assert_eq!(net.decisions[&s].1.vote.id, 3);
    }
    // Observers' LOOKING votes never make a quorum for a voter.
    let mut f1 = fle(1, &[1, 2, 3]);
    f1.start_round(0, 0, 0);
    f1.take_actions();
    f1.on_notification(1, 4, n(Looking, 1, 0, 1, 0));
    f1.on_notification(1, 5, n(Looking, 1, 0, 1, 0));
    let a = f1.take_actions();
    // ...they only get answers.
    assert_eq!(
        sends(&a),
        vec![(4, Looking, 1, 0, 1, 0), (5, Looking, 1, 0, 1, 0)]
    );
    assert_eq!(f1.next_deadline(), Some(200));
    f1.on_timer(200);
    assert!(decided(&f1.take_actions()).is_none());
}

#[test]
fn timeouts_double_up_to_the_maximum_and_rebroadcast() {
    let mut f = FastLeaderElection::new(
        1,
        true,
        [1, 2, 3],
        Bytes::from_static(CFG),
        Timing {
            max_notification_interval_ms: 1000,
            ..Timing::default()
        },
    );
    f.start_round(0, 0, 0);
    assert_eq!(sends(&f.take_actions()).len(), 2);
    let mut t = 0;
    let mut waits = Vec::new();
    for _ in 0..6 {
        let d = f.next_deadline().unwrap();
        waits.push(d - t);
        t = d;
        f.on_timer(t - 1);
        assert!(f.take_actions().is_empty());
        f.on_timer(t);
        assert_eq!(
            sends(&f.take_actions()),
            vec![(2, Looking, 1, 0, 1, 0), (3, Looking, 1, 0, 1, 0)]
        );
    }
    assert_eq!(waits, vec![200, 400, 800, 1000, 1000, 1000]);
    // A notification restarts the wait with the current (doubled) timeout.
    f.on_notification(t + 10, 2, n(Looking, 1, 0, 1, 0));
    // ...and with 1 and 2 agreeing on 1, finalizeWait starts instead.
    assert_eq!(f.next_deadline(), Some(t + 210));
}

#[test]
fn a_better_vote_during_finalize_wait_reopens_the_round() {
    let mut f1 = fle(1, &[1, 2, 3]);
    f1.start_round(0, 0, 0);
    f1.take_actions();
    f1.on_notification(10, 2, n(Looking, 2, 0, 1, 0));
    f1.take_actions();
    f1.on_notification(20, 3, n(Looking, 2, 0, 1, 0));
    assert_eq!(f1.next_deadline(), Some(220));
    // A vote that is not better is dropped and the wait restarts.
    f1.on_notification(100, 2, n(Looking, 1, 0, 1, 0));
    assert!(f1.take_actions().is_empty());
    assert_eq!(f1.next_deadline(), Some(300));
    // A better one (3) reopens.
    f1.on_notification(150, 3, n(Looking, 3, 0, 1, 0));
    assert_eq!(
        sends(&f1.take_actions()),
        vec![(2, Looking, 3, 0, 1, 0), (3, Looking, 3, 0, 1, 0)]
    );
    f1.on_timer(300);
    assert!(decided(&f1.take_actions()).is_none());
    f1.on_notification(160, 2, n(Looking, 3, 0, 1, 0));
    f1.on_timer(360);
    assert_eq!(decided(&f1.take_actions()).unwrap().vote.id, 3);
}

#[test]
fn lagging_looking_peers_get_our_proposal_and_round() {
    let mut f1 = fle(1, &[1, 2, 3]);
    f1.logicalclock = 6;
    f1.start_round(0, 5, 1);
    f1.take_actions();
    f1.on_notification(1, 2, n(Looking, 2, 0, 3, 0));
    assert_eq!(sends(&f1.take_actions()), vec![(2, Looking, 1, 5, 7, 1)]);
}

#[test]
fn leader_claim_needs_the_leader_itself_to_say_leading() {
    // Two FOLLOWING votes for 3, but 3 never said LEADING: no decision (checkLeader).
    let mut f1 = fle(1, &[1, 2, 3, 4, 5]);
    f1.start_round(0, 0, 0);
    f1.take_actions();
    f1.on_notification(1, 2, n(Following, 3, 0, 4, 4));
    f1.on_notification(2, 4, n(Following, 3, 0, 4, 4));
    f1.on_notification(3, 5, n(Following, 3, 0, 4, 4));
    assert!(decided(&f1.take_actions()).is_none());
    f1.on_notification(4, 3, n(Leading, 3, 0, 4, 4));
    let d = decided(&f1.take_actions()).unwrap();
    assert_eq!(
        (d.state, d.vote.id, d.vote.election_epoch),
        (Following, 3, 4)
    );
    assert_eq!(f1.logical_clock(), 4);
    // A dead leader's LEADING claim from an old round with a different peer epoch does
    // not combine with followers of a newer epoch.
    let mut f1 = fle(1, &[1, 2, 3]);
    f1.start_round(0, 0, 0);
    f1.take_actions();
    f1.on_notification(1, 3, n(Leading, 3, 0, 4, 4));
    f1.on_notification(2, 2, n(Following, 3, 0, 5, 5));
    assert!(decided(&f1.take_actions()).is_none());
}

#[test]
fn legacy_version_zero_answers_match_on_leader_only() {
    // A pre-ZOOKEEPER-1732 peer (40-byte form, version 0) reports another peer epoch: the
    // votes still combine (Vote.equals compares only the leader across versions).
    let mut f1 = fle(1, &[1, 2, 3]);
    f1.start_round(0, 0, 0);
    f1.take_actions();
    let mut rest = 1i64.to_be_bytes().to_vec();
    rest.extend_from_slice(&1i32.to_be_bytes());
    let old = Notification::decode(&payload(2, 3, 0, 4, &rest)).unwrap();
    assert_eq!(old.version, 0);
    f1.on_notification(1, 3, old);
    f1.on_notification(2, 2, n(Following, 3, 0, 4, 2));
    let d = decided(&f1.take_actions()).unwrap();
    assert_eq!((d.state, d.vote.id, d.vote.peer_epoch), (Following, 3, 2));
}

#[test]
fn notifications_before_the_round_are_kept_for_it() {
    let mut f1 = fle(1, &[1, 2, 3]);
    f1.on_notification(0, 3, n(Looking, 3, 0, 1, 0));
    assert!(f1.take_actions().is_empty());
    f1.start_round(5, 0, 0);
    // Adopted at once from the queued vote.
    assert_eq!(
        sends(&f1.take_actions()),
        vec![
            (2, Looking, 1, 0, 1, 0),
            (3, Looking, 1, 0, 1, 0),
            (2, Looking, 3, 0, 1, 0),
            (3, Looking, 3, 0, 1, 0)
        ]
    );
    assert_eq!(f1.next_deadline(), Some(205)); // 1 and 3 agree: finalizing
}

#[test]
fn kill_and_reelect_in_the_model() {
    let mut net = Net::new(&[1, 2, 3, 4, 5], &[]);
    for s in 1..=5 {
        net.start(s, 0, 0);
    }
    net.run(1000);
    assert_eq!(net.decisions[&5].1.state, Leading);
    // Leader 5 dies; the others look again and elect 4; 5 comes back and follows 4.
    net.down.insert(5);
    net.decisions.clear();
    let t = net.now;
    for s in 1..=4 {
        net.start(s, 0x1_0000_0000, 1);
    }
    net.run(t + 2000);
    for s in 1..=4 {
        assert_eq!(net.decisions[&s].1.vote.id, 4, "sid {s}");
    }
    net.down.remove(&5);
    net.nodes.insert(5, fle(5, &[1, 2, 3, 4, 5]));
    net.start(5, 0x1_0000_0000, 1);
    let t0 = net.now;
    net.run(t0 + 100);
    let (t, d) = net.decisions[&5];
    assert_eq!((d.state, d.vote.id), (Following, 4));
    assert_eq!(t, t0, "joined from the answers, no finalizeWait");
}

proptest::proptest! {
    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120)) {
        let _ = Notification::decode(&b);
        let _ = InitialMessage::decode(&b);
        let _ = decode_frame(&b);
        // With a plausible header in front, too.
        let mut v1 = PROTOCOL_VERSION_V1.to_be_bytes().to_vec();
        v1.extend_from_slice(&b);
        let _ = InitialMessage::decode(&v1);
        let mut n = 2i32.to_be_bytes().to_vec();
        n.extend_from_slice(&[0; 32]);
        n.extend_from_slice(&b);
        let _ = Notification::decode(&n);
    }

    #[test]
    fn notifications_round_trip(
        state in 0i32..4,
        leader in proptest::prelude::any::<i64>(),
        zxid in proptest::prelude::any::<i64>(),
        ee in proptest::prelude::any::<i64>(),
        pe in proptest::prelude::any::<i64>(),
        cfg in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
    ) {
        let st = PeerState::from_code(state).unwrap();
        let n = Notification::new(st, leader, zxid, ee, pe, Bytes::from(cfg));
        let framed = n.encode_framed();
        let (payload, used) = decode_frame(&framed).unwrap().unwrap();
        proptest::prop_assert_eq!(used, framed.len());
        proptest::prop_assert_eq!(Notification::decode(payload).unwrap(), n);
    }
}

#[test]
fn recorded_vote_equality_is_javas() {
    let v = |id, zxid, ee, pe| Vote {
        id,
        zxid,
        election_epoch: ee,
        peer_epoch: pe,
    };
    let r = |vote, state, version| Recorded {
        vote,
        state,
        version,
    };
    // A LOOKING side compares all four numbers.
    assert!(r(v(3, 1, 2, 3), Looking, 0).same_as(&r(v(3, 1, 2, 3), Following, 2)));
    assert!(!r(v(3, 1, 2, 3), Looking, 0).same_as(&r(v(3, 1, 2, 4), Following, 2)));
    // Out of election, same version class: leader and peer epoch only.
    assert!(r(v(3, 1, 2, 3), Following, 2).same_as(&r(v(3, 9, 7, 3), Leading, 2)));
    assert!(!r(v(3, 1, 2, 3), Following, 2).same_as(&r(v(3, 1, 2, 4), Leading, 2)));
    // Mixed versions: leader only.
    assert!(r(v(3, 1, 2, 3), Following, 0).same_as(&r(v(3, 9, 7, 8), Leading, 2)));
    assert!(!r(v(3, 1, 2, 3), Following, 0).same_as(&r(v(2, 1, 2, 3), Leading, 2)));
}

impl Net {
    /// Deliver in an order chosen by `picks` (indices into what is in flight), then run
    /// timers as `run` does.
    fn run_shuffled(&mut self, until: i64, picks: &[usize]) {
        let mut k = 0;
        loop {
            while !self.wire.is_empty() {
                let i = picks.get(k).copied().unwrap_or(0) % self.wire.len();
                k += 1;
                let Some((from, to, n)) = self.wire.remove(i) else {
                    break;
                };
                let now = self.now;
                if let Some(node) = self.nodes.get_mut(&to) {
                    node.on_notification(now, from, n);
                }
                self.collect(to);
            }
            let next = self
                .nodes
                .iter()
                .filter_map(|(s, f)| f.next_deadline().map(|d| (d, *s)))
                .min();
            match next {
                Some((d, sid)) if d <= until => {
                    self.now = self.now.max(d);
                    let now = self.now;
                    if let Some(node) = self.nodes.get_mut(&sid) {
                        node.on_timer(now);
                    }
                    self.collect(sid);
                }
                _ => break,
            }
        }
    }
}

proptest::proptest! {
    #[test]
    fn any_delivery_order_elects_the_best_vote(
        n in 3usize..7,
        zxids in proptest::collection::vec(0i64..3, 7),
        picks in proptest::collection::vec(0usize..1000, 0..400),
    ) {
        let voters: Vec<i64> = (1..=n as i64).collect();
        let mut net = Net::new(&voters, &[]);
        for (i, &s) in voters.iter().enumerate() {
            net.start(s, zxids[i], 1);
        }
        net.run_shuffled(10_000, &picks);
        // Everyone saw every vote before any finalizeWait ended: unanimous on the best.
        let best = voters
            .iter()
            .map(|&s| (zxids[(s - 1) as usize], s))
            .max()
            .map(|(_, s)| s)
            .unwrap();
        for &s in &voters {
            let d = net.decisions.get(&s).map(|x| x.1);
            proptest::prop_assert!(d.is_some(), "sid {} undecided", s);
            let d = d.unwrap();
            proptest::prop_assert_eq!(d.vote.id, best);
            let want = if s == best { Leading } else { Following };
            proptest::prop_assert_eq!(d.state, want);
        }
    }
}

#[test]
fn a_lost_voter_is_not_waited_for_when_everyone_else_agrees() {
    // S10 again, but member 2's connection to the killed leader 3 is known lost: once 1
    // and 2 agree there is nobody left who could send a better vote, so no finalizeWait.
    let z = 0x3_0000_0006;
    let mut f2 = fle(2, &[1, 2, 3]);
    f2.logicalclock = 3;
    f2.set_lost([3].into_iter().collect());
    f2.start_round(0, z, 3);
    f2.take_actions();
    f2.on_notification(3, 1, n(Looking, 1, z, 4, 3));
    assert!(f2.take_actions().is_empty());
    f2.on_notification(7, 1, n(Looking, 2, z, 4, 3));
    assert_eq!(f2.next_deadline(), Some(7), "decides at once");
    f2.on_timer(7);
    let d = decided(&f2.take_actions()).expect("decided without finalizeWait");
    assert_eq!((d.state, d.vote.id), (Leading, 2));

    // Nobody lost (everyone alive, or never seen): Java's finalizeWait as before.
    let mut f2 = fle(2, &[1, 2, 3]);
    f2.logicalclock = 3;
    f2.start_round(0, z, 3);
    f2.take_actions();
    f2.on_notification(7, 1, n(Looking, 2, z, 4, 3));
    assert_eq!(f2.next_deadline(), Some(207));

    // Lost 3, but 1 votes for someone else: a quorum (1, 2) does not exist for 2 yet, and
    // once it does with 1's vote, still only the lost one is missing.
    let mut f1 = fle(1, &[1, 2, 3, 4, 5]);
    f1.set_lost([5].into_iter().collect());
    f1.start_round(0, z, 3);
    f1.take_actions();
    for from in [2, 3, 4] {
        f1.on_notification(1, from, n(Looking, 4, z, 1, 3));
    }
    // 1 adopted 4; votes from 1..4 agree, 5 is lost: decide now.
    f1.on_notification(2, 1, n(Looking, 4, z, 1, 3));
    f1.take_actions();
    assert!(
        f1.next_deadline().is_some_and(|d| d <= 2),
        "{:?}",
        f1.next_deadline()
    );
}

#[test]
fn finalize_wait_ends_when_the_missing_voter_turns_out_lost() {
    let z = 0x3_0000_0006;
    let mut f2 = fle(2, &[1, 2, 3]);
    f2.logicalclock = 3;
    f2.start_round(0, z, 3);
    f2.take_actions();
    f2.on_notification(7, 1, n(Looking, 2, z, 4, 3));
    assert_eq!(
        f2.next_deadline(),
        Some(207),
        "3 not known lost yet: finalizeWait"
    );
    f2.recheck_lost(20, [1].into_iter().collect());
    assert_eq!(
        f2.next_deadline(),
        Some(207),
        "a lost voter that already voted changes nothing: 3 may still send a better vote"
    );
    f2.recheck_lost(30, [3].into_iter().collect());
    assert_eq!(
        f2.next_deadline(),
        Some(30),
        "3's connection broke: decide now"
    );
    f2.on_timer(30);
    assert_eq!(decided(&f2.take_actions()).map(|d| d.vote.id), Some(2));
}

#[test]
fn a_lost_voter_outside_finalize_wait_changes_no_deadline() {
    let z = 0x3_0000_0006;
    let mut f2 = fle(2, &[1, 2, 3]);
    f2.logicalclock = 3;
    f2.start_round(0, z, 3);
    f2.take_actions();
    let before = f2.next_deadline();
    f2.recheck_lost(20, [3].into_iter().collect());
    assert_eq!(
        f2.next_deadline(),
        before,
        "no quorum yet: nothing to decide"
    );
}

/// Failover as it happens on loopback: 2 notices the leader's death first and its vote
/// reaches 1 while 1 still follows; 1's own round must start with 2's vote, not wait a
/// notification timeout for 2 to send it again.
#[test]
fn a_looking_vote_heard_while_following_counts_in_the_next_round() {
    let z = 0x1_0000_0002;
    let mut f1 = fle(1, &[1, 2, 3]);
    f1.logicalclock = 1;
    f1.set_not_looking(
        Following,
        Vote {
            id: 3,
            zxid: 0,
            election_epoch: 1,
            peer_epoch: 1,
        },
    );
    f1.on_notification(100, 2, n(Looking, 2, z, 2, 1));
    assert_eq!(sends(&f1.take_actions()), vec![(2, Following, 3, 0, 1, 1)]);
    f1.start_round(102, z, 1);
    let out = sends(&f1.take_actions());
    assert!(
        out.contains(&(2, Looking, 2, z, 2, 1)),
        "1 adopts 2's vote at once: {out:?}"
    );
    assert_eq!(
        f1.next_deadline(),
        Some(302),
        "1 and 2 agree: finalizeWait, no notification timeout"
    );
}

#[test]
fn a_stale_or_old_round_vote_heard_while_following_is_not_replayed() {
    let z = 0x1_0000_0002;
    for (at, round) in [(0, 2), (2_000, 1)] {
        let mut f1 = fle(1, &[1, 2, 3]);
        f1.logicalclock = 1;
        f1.set_not_looking(
            Following,
            Vote {
                id: 3,
                zxid: 0,
                election_epoch: 1,
                peer_epoch: 1,
            },
        );
        f1.on_notification(at, 2, n(Looking, 2, z, round, 1));
        f1.take_actions();
        f1.start_round(2_002, z, 1);
        let out = sends(&f1.take_actions());
        assert!(
            out.iter().all(|s| s.2 == 1),
            "heard at {at} in round {round}: 1 still proposes itself: {out:?}"
        );
    }
}
