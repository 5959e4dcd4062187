#!/usr/bin/env python3
"""Write the hand-made and captured seeds under fuzz/corpus/<target>/ (seed-*).

Quorum, election, txn and SNAP-stream seeds are the exact bytes Java 3.8.0/3.9.5 put on the
wire (testdata/quorum-captures/vectors-quorum-*.txt is not needed: the JSON vectors of
/work/shared/quorum-captures, or the SNAP body hex files in testdata/). Client frames are
built here by hand. Txn-log and snapshot seeds come from `cargo run --bin seeds` (it uses
ferrokeeper's own writers on the txn seeds written here)."""
import json, os, re, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(ROOT)
CORPUS = os.path.join(ROOT, "corpus")
VECTORS = [p for p in (os.path.join(REPO, "..", "shared", "quorum-captures", v, "vectors.json")
                       for v in ("3.8.0", "3.9.5")) if os.path.exists(p)]
if len(sys.argv) > 1:
    VECTORS = sys.argv[1:]


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)
def ustr(s):
    if s is None:
        return i32(-1)
    b = s.encode() if isinstance(s, str) else s
    return i32(len(b)) + b
def vec(items, f): return i32(len(items)) + b"".join(f(x) for x in items)
def acl(perms, scheme, ident): return i32(perms) + ustr(scheme) + ustr(ident)
OPEN = [acl(31, "world", "anyone")]


def frame(b): return i32(len(b)) + b


# --- quorum / election / txn / snap stream: Java's bytes -----------------------------
seen = set()
for path in VECTORS:
    ver = os.path.basename(os.path.dirname(path))
    for v in json.load(open(path)):
        raw = bytes.fromhex(v["hex"])
        key = (v["type"], v["subtype"], raw)
        if key in seen:
            continue
        seen.add(key)
        name = f'{ver}-{v["scenario"]}-{v["type"]}-{v["subtype"]}'
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
        if v["link"] == "e":
            if v["type"] == "INITIAL":
                # Odd first byte: the stream starts with the initial message.
                put("election", name, b"\x01" + raw)
            else:
                put("election", name, b"\x00" + raw)
        elif v["type"] == "SNAP-BODY":
            put("snap_stream", name + "-whole", b"\x00\xff" + raw)
            put("snap_stream", name + "-sliced", b"\x00\x05" + raw)
        else:
            put("quorum_packet", name, raw)
            if v["type"] in ("PROPOSAL", "INFORM"):
                # type i32, zxid i64, then the data buffer: the txn bytes.
                (n,) = struct.unpack(">i", raw[12:16])
                if n > 0:
                    put("txn", name, raw[16:16 + n])

# --- client frames -------------------------------------------------------------------
connect = frame(i32(0) + i64(0) + i32(30000) + i64(0) + ustr(b"\0" * 16) + b"\0")
connect_ro = frame(i32(0) + i64(0x100000005) + i32(4000) + i64(0x10000a5f29b0001)
                   + ustr(b"\x11" * 16) + b"\1")
def req(xid, op, body=b""): return frame(i32(xid) + i32(op) + body)
reqs = {
    "create": req(1, 1, ustr("/a") + ustr(b"data") + vec(OPEN, lambda a: a) + i32(0)),
    "create2-seq": req(2, 15, ustr("/a/b-") + ustr(None) + vec(OPEN, lambda a: a) + i32(2)),
    "createTTL": req(3, 21, ustr("/t") + ustr(b"x") + vec(OPEN, lambda a: a) + i32(5) + i64(1000)),
    "createContainer": req(3, 19, ustr("/c") + ustr(b"") + vec(OPEN, lambda a: a) + i32(4)),
    "delete": req(4, 2, ustr("/a") + i32(-1)),
    "exists": req(5, 3, ustr("/a") + b"\1"),
    "getData": req(6, 4, ustr("/a") + b"\0"),
    "setData": req(7, 5, ustr("/a") + ustr(b"new") + i32(3)),
    "getACL": req(8, 6, ustr("/a")),
    "setACL": req(9, 7, ustr("/a") + vec([acl(1, "digest", "u:h"), acl(31, "ip", "10.0.0.0/8")], lambda a: a) + i32(-1)),
    "getChildren": req(10, 8, ustr("/") + b"\0"),
    "sync": req(11, 9, ustr("/")),
    "ping": req(-2, 11),
    "getChildren2": req(12, 12, ustr("/a") + b"\1"),
    "check": req(13, 13, ustr("/a") + i32(1)),
    "multi": req(14, 14, i32(1) + b"\0" + i32(-1) + ustr("/m") + ustr(b"d") + vec(OPEN, lambda a: a) + i32(0)
                 + i32(13) + b"\0" + i32(-1) + ustr("/m") + i32(0)
                 + i32(5) + b"\0" + i32(-1) + ustr("/m") + ustr(b"e") + i32(-1)
                 + i32(2) + b"\0" + i32(-1) + ustr("/m") + i32(-1)
                 + i32(-1) + b"\1" + i32(-1)),
    "multiRead": req(15, 22, i32(4) + b"\0" + i32(-1) + ustr("/a") + b"\0"
                     + i32(8) + b"\0" + i32(-1) + ustr("/") + b"\0"
                     + i32(-1) + b"\1" + i32(-1)),
    "reconfig": req(16, 16, ustr("server.4=h:1:2") + ustr(None) + ustr(None) + i64(-1)),
    "checkWatches": req(17, 17, ustr("/a") + i32(1)),
    "removeWatches": req(18, 18, ustr("/a") + i32(3)),
    "auth": req(-4, 100, i32(0) + ustr("digest") + ustr(b"alice:secret")),
    "setWatches": req(-8, 101, i64(5) + vec(["/a"], ustr) + vec(["/b"], ustr) + vec(["/"], ustr)),
    "setWatches2": req(-8, 105, i64(5) + vec(["/a"], ustr) + vec([], ustr) + vec([], ustr)
                       + vec(["/p"], ustr) + vec(["/r"], ustr)),
    "addWatch": req(19, 106, ustr("/a") + i32(1)),
    "getEphemerals": req(20, 103, ustr("/")),
    "getAllChildrenNumber": req(21, 104, ustr("/")),
    "whoAmI": req(22, 107),
    "closeSession": req(23, -11),
}
for name, r in reqs.items():
    put("client_frame", name, connect + r)
put("client_frame", "pipelined", connect_ro + b"".join(reqs.values()))
put("client_frame", "4lw-ruok", b"ruok")
put("client_frame", "4lw-stmk", b"stmk" + i64(0x1ff))
print("seeds written under", CORPUS)
