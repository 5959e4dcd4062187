"""Four-letter words on the client port.

Covers: ruok, srvr, stat, mntr, conf, cons, envi, wchs, wchc, wchp, dump, isro, dirs
with `4lw.commands.whitelist=*` (the text formats tools parse), the connection that asks
being listed by cons/stat and counted (as ZooKeeper does), the message for a word outside
the default whitelist (only srvr enabled), and an unknown 4-byte prefix being treated as a
frame length (silent close).
"""

import re
import time

import pytest

import zkraw
from conftest import wait_until


def test_ruok_and_isro(server):
    assert server.fourlw("ruok") == "imok"
    assert server.fourlw("isro") == "rw"


def test_srvr_format(server):
    text = server.fourlw("srvr")
    lines = text.splitlines()
    assert lines[0].startswith("Zookeeper version: "), text
    for pattern in (r"^Latency min/avg/max: \d+/[\d.]+/\d+$", r"^Received: \d+$", r"^Sent: \d+$",
                    r"^Connections: \d+$", r"^Outstanding: \d+$", r"^Zxid: 0x[0-9a-f]+$",
                    r"^Mode: standalone$", r"^Node count: \d+$"):
        assert any(re.match(pattern, line) for line in lines), (pattern, text)


def settled_answer(server, word, pattern, timeout=10):
    """`word`'s answer once it matches `pattern` (the last answer after `timeout`). Java
    re-enables a connection's interest ops on its I/O thread just after the reply is out,
    so a word sent right after a reply may list that connection as [0] for a moment
    (see test_cons_and_stat_list_the_asking_connection)."""
    last = None

    def ask():
        nonlocal last
        last = server.fourlw(word)
        return re.search(pattern, last)

    wait_until(ask, timeout, interval=0.05)
    return last


def test_stat_lists_clients(server, raw):
    c = raw()
    c.exists("/")
    pattern = r"/127\.0\.0\.1:\d+\[1\]\(queued=\d+,recved=\d+,sent=\d+"
    text = settled_answer(server, "stat", pattern)
    assert "Clients:" in text and "Mode: standalone" in text, text
    assert re.search(pattern, text), text


def test_mntr_keys(server, raw, root):
    c = raw()
    c.create(root, flags=zkraw.Flags.EPHEMERAL)
    text = server.fourlw("mntr")
    kv = dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)
    for key in ("zk_version", "zk_server_state", "zk_avg_latency", "zk_max_latency", "zk_min_latency",
                "zk_packets_received", "zk_packets_sent", "zk_num_alive_connections", "zk_outstanding_requests",
                "zk_znode_count", "zk_watch_count", "zk_ephemerals_count", "zk_approximate_data_size",
                "zk_open_file_descriptor_count", "zk_max_file_descriptor_count", "zk_global_sessions"):
        assert key in kv, (key, text[:2000])
    assert kv["zk_server_state"] == "standalone"
    assert int(kv["zk_ephemerals_count"]) >= 1
    assert int(kv["zk_num_alive_connections"]) >= 1


def test_conf(server):
    text = server.fourlw("conf")
    kv = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert kv["clientPort"] == str(server.port), text
    assert kv["tickTime"] == "2000" and kv["maxClientCnxns"] == "0", text
    assert kv["minSessionTimeout"] == "4000" and kv["maxSessionTimeout"] == "40000", text
    assert kv["dataDir"].startswith(server.data_dir), text


def test_cons_wchs_wchc_dump_envi_dirs(server, raw, root):
    c = raw()
    c.create(root)
    c.get_data(root, watch=True)
    c.create(root + "/e", flags=zkraw.Flags.EPHEMERAL)
    cons = settled_answer(server, "cons", r"/127\.0\.0\.1:\d+\[1\]\(queued=")
    assert re.search(r"/127\.0\.0\.1:\d+\[1\]\(queued=", cons), cons
    wchs = server.fourlw("wchs")
    assert re.search(r"^\d+ connections watching \d+ paths$", wchs.splitlines()[0]), wchs
    assert re.search(r"Total watches:\d+", wchs), wchs
    assert f"0x{c.session_id:x}" in server.fourlw("wchc"), "wchc lists sessions"
    assert root in server.fourlw("wchp")
    dump = server.fourlw("dump")
    assert "Sessions with Ephemerals" in dump and root + "/e" in dump, dump
    assert server.fourlw("envi").startswith("Environment:")
    assert "datadir_size:" in server.fourlw("dirs")


def test_not_whitelisted(server_factory):
    srv = server_factory(**{"4lw.commands.whitelist": None})
    assert "Mode: standalone" in srv.fourlw("srvr")
    for word in ("ruok", "stat", "mntr", "conf", "cons", "dump", "envi", "wchs", "isro"):
        assert srv.fourlw(word) == f"{word} is not executed because it is not in the whitelist.\n"


def test_unknown_word_is_a_frame_length(server):
    # "xxxx" = 0x78787878 > jute.maxbuffer: the server just closes.
    assert server.fourlw("xxxx", timeout=5) == ""


def fourlw_from(host, port, word):
    """zkraw.four_letter_word's reply and the local port of the socket that asked."""
    return zkraw.four_letter_word(host, port, word, with_local_port=True)


CNXN = re.compile(r"^ /127\.0\.0\.1:(\d+)\[([0-9a-f]+)\]\((.*)\)$")


def cnxn_lines(text):
    """{port: (interest ops, fields)} of the connection lines of cons or stat."""
    out = {}
    for line in text.splitlines():
        m = CNXN.match(line)
        if m:
            out[int(m.group(1))] = (m.group(2), m.group(3))
    return out


def stat_clients(text):
    """The lines of stat's Clients: section."""
    lines = text.splitlines()
    start = lines.index("Clients:") + 1
    end = lines.index("", start)
    return lines[start:end]


def test_cons_and_stat_list_the_asking_connection(server_factory):
    # A server of its own, so no other test's connection is listed.
    srv = server_factory(**{"4lw.commands.whitelist": "cons,stat,srvr,mntr"})
    # Connections of the readiness probe may still be closing.
    deadline = time.monotonic() + 10
    while len(cnxn_lines(srv.fourlw("cons"))) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)

    asking = "[0](queued=0,recved=1,sent=0)"
    cons, port = fourlw_from(srv.host, srv.port, "cons")
    assert cons == f" /127.0.0.1:{port}{asking}\n\n", cons
    stat, port = fourlw_from(srv.host, srv.port, "stat")
    assert stat_clients(stat) == [f" /127.0.0.1:{port}{asking}"], stat
    assert "\nConnections: 1\n" in stat, stat
    assert "\nConnections: 1\n" in srv.fourlw("srvr")
    assert "zk_num_alive_connections\t1\n" in srv.fourlw("mntr")

    c = zkraw.connect(srv.host, srv.port)
    try:
        assert c.exists("/").err == 0
        session_port = c.sock.getsockname()[1]
        # Connect + exists. Java updates queued/sent and the interest ops on its I/O thread
        # after the reply is out, so a word sent right away may see them lag: ask again
        # until the session's line has settled.
        settled = f" /127.0.0.1:{session_port}[1](queued=0,recved=2,sent=2"

        def ask(word):
            deadline = time.monotonic() + 10
            while True:
                text, port = fourlw_from(srv.host, srv.port, word)
                if settled in text or time.monotonic() > deadline:
                    return text, port
                time.sleep(0.05)

        cons, port = ask("cons")
        lines = cnxn_lines(cons)
        assert sorted(lines) == sorted([port, session_port]), cons
        assert len([l for l in cons.splitlines() if l]) == 2, cons
        assert lines[port] == ("0", "queued=0,recved=1,sent=0"), cons
        # The session fields follow (test_cons_session_fields_follow_each_answer).
        assert f"{settled},sid=0x{c.session_id:x},lop=" in cons, cons
        stat, port = ask("stat")
        assert sorted(stat_clients(stat)) == sorted([f" /127.0.0.1:{port}{asking}", settled + ")"]), stat
        assert "\nConnections: 2\n" in stat, stat
    finally:
        c.close()


def session_fields(server, c):
    """cons's fields after `sid=` for the session of raw client `c`, in order."""
    cons = server.fourlw("cons")
    line = next((l for l in cons.splitlines() if f",sid=0x{c.session_id:x}," in l), None)
    assert line is not None, cons
    fields = line[line.index(",sid=") + 1:line.rindex(")")].split(",")
    return dict(f.split("=", 1) for f in fields)


def test_cons_session_fields_follow_each_answer(server, raw):
    # Java's ServerCnxn.updateStatsForResponse: every answer sets lop, lcxid (not for the
    # ping's special xid), lzxid and the latencies; an error txn's answer leaves lop "NA".
    c = raw()
    path = f"/cons-{c.session_id:x}"
    fields = session_fields(server, c)
    assert list(fields) == ["sid", "lop", "est", "to", "lcxid", "lzxid", "lresp", "llat",
                            "minlat", "avglat", "maxlat"], fields
    assert (fields["lop"], fields["lcxid"]) == ("SESS", "0x0"), fields
    created = c.call(zkraw.Op.CREATE, zkraw.enc_create(path, b"x"))
    assert created.err == 0
    assert c.call(zkraw.Op.GET_DATA, zkraw.enc_path_watch(path)).err == 0
    missing = c.call(zkraw.Op.EXISTS, zkraw.enc_path_watch(path + "/missing"))
    assert missing.err == zkraw.Err.NONODE
    fields = session_fields(server, c)
    assert (fields["lop"], fields["lcxid"], int(fields["lzxid"], 16)) == \
        ("EXIS", f"0x{missing.xid:x}", missing.zxid), fields
    lat = [int(fields[k]) for k in ("llat", "minlat", "avglat", "maxlat")]
    assert min(lat) >= 0 and lat[1] <= lat[2] <= lat[3], fields
    assert int(fields["lresp"]) > 0, fields
    c.ping()
    fields = session_fields(server, c)
    assert (fields["lop"], fields["lcxid"]) == ("PING", f"0x{missing.xid:x}"), fields
    again = c.call(zkraw.Op.CREATE, zkraw.enc_create(path, b"x"))
    assert again.err == zkraw.Err.NODEEXISTS
    fields = session_fields(server, c)
    assert (fields["lop"], fields["lcxid"], int(fields["lzxid"], 16)) == \
        ("NA", f"0x{again.xid:x}", again.zxid), fields


def mntr_int(server, key):
    return int(zkraw.mntr(server.host, server.port)[key])


def test_outstanding_falls_back_after_clients_drop_mid_write(server, raw, root):
    """Clients that drop their socket with writes still in process: those writes are
    answered to nobody, and `Outstanding` (srvr) / zk_outstanding_requests (mntr) fall back
    to 0 once the connections are gone, as Java's FinalRequestProcessor counts a stale
    request finished. (ferrokeeper once kept them counted forever, which also throttled
    every later client's pipelining once they passed globalOutstandingLimit.)"""
    c = raw()
    assert c.create(root).err == 0
    alive = mntr_int(server, "zk_num_alive_connections")
    payload = b"x" * 2048
    for rnd in range(5):
        d = raw(timeout_ms=4000)
        for i in range(300):
            d.send(zkraw.Op.CREATE, zkraw.enc_create(f"{root}/r{rnd}-{i}", payload))
        d.drop()
    # The server reads what the dropped clients sent before it sees them gone: wait until
    # all five are.
    assert wait_until(lambda: mntr_int(server, "zk_num_alive_connections") <= alive, 30), \
        server.fourlw("mntr")
    text = settled_answer(server, "srvr", r"(?m)^Outstanding: 0$", timeout=20)
    assert re.search(r"(?m)^Outstanding: 0$", text), text
    assert mntr_int(server, "zk_outstanding_requests") == 0, server.fourlw("mntr")
