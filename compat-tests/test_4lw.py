"""Four-letter words on the client port.

Covers: ruok, srvr, stat, mntr, conf, cons, envi, wchs, wchc, wchp, dump, isro, dirs
with `4lw.commands.whitelist=*` (the text formats tools parse), the message for a word
outside the default whitelist (only srvr enabled), and an unknown 4-byte prefix being
treated as a frame length (silent close).
"""

import re

import pytest

import zkraw


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


def test_stat_lists_clients(server, raw):
    c = raw()
    c.exists("/")
    text = server.fourlw("stat")
    assert "Clients:" in text and "Mode: standalone" in text, text
    assert re.search(r"/127\.0\.0\.1:\d+\[1\]\(queued=\d+,recved=\d+,sent=\d+", text), text


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
    cons = server.fourlw("cons")
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
