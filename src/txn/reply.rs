//! The client reply for an applied write (FinalRequestProcessor's write branches).
//!
//! Owns: mapping a `TxnResult` to (error code, response body). Must never: look at the
//! tree (everything needed is in the result).

use crate::jute::records::{Create2Response, CreateResponse, Stat, StatResponse};
use crate::proto::{MultiResult, Response, err, op};
use crate::tree::TxnResult;

fn multi_result(r: &TxnResult) -> MultiResult {
    match r {
        TxnResult::Created { op, path, stat } => {
            if *op == op::CREATE {
                MultiResult::Create { path: path.clone() }
            } else {
                MultiResult::Create2 {
                    path: path.clone(),
                    stat: *stat,
                }
            }
        }
        TxnResult::Deleted => MultiResult::Delete,
        TxnResult::DataSet { stat } => MultiResult::SetData { stat: *stat },
        TxnResult::Checked => MultiResult::Check,
        TxnResult::Error(e) => MultiResult::Error { err: *e },
        // Not valid inside a multi.
        TxnResult::AclSet { .. }
        | TxnResult::Multi(_)
        | TxnResult::SessionCreated
        | TxnResult::SessionClosed => MultiResult::Error {
            err: err::MARSHALLING_ERROR,
        },
    }
}

/// Where a multi request has create2 sub-ops (their indexes), if it has any: they are
/// logged as create sub-txns (see `prep`) and answered as 3.9 answers them, with a Stat.
pub fn create2_subops(req: &crate::proto::Request) -> Option<Box<[u32]>> {
    let crate::proto::Request::Multi(ops) = req else {
        return None;
    };
    let at: Box<[u32]> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.op_code() == op::CREATE2)
        .map(|(i, _)| i as u32)
        .collect();
    (!at.is_empty()).then_some(at)
}

/// Turn the create results at `at` (a multi's create2 sub-ops, `create2_subops`) into
/// create2 results with the node's Stat, as 3.9 answers them (ZOOKEEPER-4026). A failed
/// multi's error results and a create2 sub-txn from a 3.9 leader are left as they are.
pub fn answer_create2_subops(resp: &mut Response, outcome: &TxnResult, at: &[u32]) {
    let (Response::Multi(results), TxnResult::Multi(applied)) = (resp, outcome) else {
        return;
    };
    for &i in at {
        let i = i as usize;
        if let (Some(r @ MultiResult::Create { .. }), Some(TxnResult::Created { stat, .. })) =
            (results.get_mut(i), applied.get(i))
            && let MultiResult::Create { path } = std::mem::replace(r, MultiResult::Delete)
        {
            *r = MultiResult::Create2 { path, stat: *stat };
        }
    }
}

/// Java's reply for a write request with opcode `op_code` whose txn produced `outcome`:
/// (ReplyHeader.err, body). A body is only sent when err == 0. A failed multi answers
/// err 0 with every result an ErrorResult.
pub fn write_reply(op_code: i32, outcome: &TxnResult) -> (i32, Response) {
    match outcome {
        TxnResult::Error(e) => (*e, Response::Empty),
        TxnResult::Multi(rs) => (
            err::OK,
            Response::Multi(rs.iter().map(multi_result).collect()),
        ),
        TxnResult::Created { path, stat, .. } => match op_code {
            op::CREATE => (
                err::OK,
                Response::Create(CreateResponse { path: path.clone() }),
            ),
            _ => (
                err::OK,
                Response::Create2(Create2Response {
                    path: path.clone(),
                    stat: *stat,
                }),
            ),
        },
        TxnResult::DataSet { stat } | TxnResult::AclSet { stat } => {
            (err::OK, Response::Stat(StatResponse { stat: *stat }))
        }
        // A top-level check answers a SetDataResponse; Java has no stat for it.
        TxnResult::Checked => (
            err::OK,
            Response::Stat(StatResponse {
                stat: Stat::default(),
            }),
        ),
        TxnResult::Deleted | TxnResult::SessionCreated | TxnResult::SessionClosed => {
            (err::OK, Response::Empty)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_shapes() {
        let st = Stat {
            czxid: 3,
            ..Default::default()
        };
        let c = TxnResult::Created {
            op: 1,
            path: "/a".into(),
            stat: st,
        };
        assert_eq!(
            write_reply(op::CREATE, &c),
            (0, Response::Create(CreateResponse { path: "/a".into() }))
        );
        let c2 = TxnResult::Created {
            op: 15,
            path: "/a".into(),
            stat: st,
        };
        assert_eq!(
            write_reply(op::CREATE2, &c2),
            (
                0,
                Response::Create2(Create2Response {
                    path: "/a".into(),
                    stat: st
                })
            )
        );
        assert_eq!(
            write_reply(op::CREATE_TTL, &c2).1,
            write_reply(op::CREATE_CONTAINER, &c2).1
        );
        assert_eq!(
            write_reply(op::DELETE, &TxnResult::Deleted),
            (0, Response::Empty)
        );
        assert_eq!(
            write_reply(op::DELETE, &TxnResult::Error(-101)),
            (-101, Response::Empty)
        );
        assert_eq!(
            write_reply(op::SET_DATA, &TxnResult::DataSet { stat: st }),
            (0, Response::Stat(StatResponse { stat: st }))
        );
        assert_eq!(
            write_reply(op::SET_ACL, &TxnResult::AclSet { stat: st }),
            (0, Response::Stat(StatResponse { stat: st }))
        );
        assert_eq!(
            write_reply(op::CLOSE_SESSION, &TxnResult::SessionClosed),
            (0, Response::Empty)
        );
        let m = TxnResult::Multi(vec![
            c,
            c2,
            TxnResult::Deleted,
            TxnResult::Checked,
            TxnResult::DataSet { stat: st },
        ]);
        assert_eq!(
            write_reply(op::MULTI, &m),
            (
                0,
                Response::Multi(vec![
                    MultiResult::Create { path: "/a".into() },
                    MultiResult::Create2 {
                        path: "/a".into(),
                        stat: st
                    },
                    MultiResult::Delete,
                    MultiResult::Check,
                    MultiResult::SetData { stat: st },
                ])
            )
        );
        let f = TxnResult::Multi(vec![
            TxnResult::Error(0),
            TxnResult::Error(-110),
            TxnResult::Error(-2),
        ]);
        assert_eq!(
            write_reply(op::MULTI, &f),
            (
                0,
                Response::Multi(vec![
                    MultiResult::Error { err: 0 },
                    MultiResult::Error { err: -110 },
                    MultiResult::Error { err: -2 },
                ])
            )
        );
    }
}
