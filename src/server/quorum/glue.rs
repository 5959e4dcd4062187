//! The pure mapping between the protocol state machines (`zab::leader`, `zab::learner`)
//! and the core, shared by the tokio role loops (`lead`, `follow`) and the simulator, so
//! both carry out the same protocol-to-core steps.
//!
//! Owns: which leader/learner action is a core input (and which core output is a
//! learner call or a leader proposal).
//! Must never: do I/O, or hold state.

use crate::server::core::Input;
use crate::server::persister::PersistBatch;
use crate::zab::leader::{Leader, LeaderAction, LeaderError};
use crate::zab::learner::{Learner, LearnerAction};
use crate::zab::packet::{self, ForwardedRequest, QuorumPacket};

/// A learner action that is the core's to handle, as its input; any other is returned.
pub fn learner_action_input(a: LearnerAction) -> Result<Input, LearnerAction> {
    match a {
        LearnerAction::Log { zxid, entry } => Ok(Input::Log { zxid, entry }),
        LearnerAction::Commit { txn, .. } => Ok(Input::Apply(txn)),
        LearnerAction::SyncDone => Ok(Input::SyncDone),
        LearnerAction::Revalidated { session, valid } => Ok(Input::Revalidated {
            session_id: session,
            valid,
        }),
        other => Err(other),
    }
}

/// A learner core's packet for the leader, handed to the learner (which counts pending
/// syncs and revalidations and sends it).
pub fn core_packet_to_learner(learner: &mut Learner, p: QuorumPacket) -> Result<(), String> {
    match p.kind {
        packet::kind::REVALIDATE => {
            let (session, timeout) =
                packet::decode_revalidate_request(&p.data_bytes()).map_err(|e| e.to_string())?;
            learner
                .revalidate(session, timeout)
                .map_err(|e| e.to_string())
        }
        _ => {
            let req = ForwardedRequest::decode(&p.data_bytes()).map_err(|e| e.to_string())?;
            learner
                .forward_request(&req, p.auth)
                .map_err(|e| e.to_string())
        }
    }
}

/// A leader action that is the core's to handle, as its input; any other is returned.
pub fn leader_action_input(a: LeaderAction) -> Result<Input, LeaderAction> {
    match a {
        LeaderAction::Commit(z) => Ok(Input::Committed(z)),
        LeaderAction::Request { lid, req, auth, .. } => Ok(Input::Forwarded {
            learner: lid.0,
            req,
            auth,
        }),
        LeaderAction::Touch(v) => Ok(Input::TouchSessions(v)),
        other => Err(other),
    }
}

/// Propose a leader core's log batch (the entries are the PROPOSAL data), handing the
/// learners' syncs to the leader in their place among the proposals: a sync taken
/// after zxid `z` goes in once `z` is proposed and before anything later. `syncs` keeps
/// those whose place is after this batch.
pub fn propose_batch(
    leader: &mut Leader,
    b: &PersistBatch,
    syncs: &mut std::collections::VecDeque<(u64, i64)>,
) -> Result<(), (i64, LeaderError)> {
    for (z, e) in b.zxids.iter().zip(&b.entries) {
        hand_syncs_before(leader, syncs, *z);
        leader.proposed(*z, e.clone()).map_err(|err| (*z, err))?;
        crate::metrics::PROPOSAL_COUNT.inc();
    }
    Ok(())
}

/// Hand the leader every sync taken before zxid `next` was handed out.
pub fn hand_syncs_before(
    leader: &mut Leader,
    syncs: &mut std::collections::VecDeque<(u64, i64)>,
    next: i64,
) {
    while let Some(&(lid, after)) = syncs.front() {
        if after >= next {
            break;
        }
        syncs.pop_front();
        leader.process_sync(crate::zab::leader::LearnerId(lid));
    }
}
