"""Differential tests of watches and their event sequences.

Covers: one-shot data/exists/child watches (which op fires what, one-shot removal,
several watchers, event-before-reply ordering), persistent and persistent-recursive
watches (addWatch 106), a mode replacing an earlier one on the same path, one event per
watcher per txn, checkWatches/removeWatches (17/18) incl. NOWATCHER and watcher types
3.8 does not know, setWatches (101) / setWatches2 (105) after a reconnect firing the
missed events, watches not surviving a re-attach without setWatches, fire-time ACL
filtering, and the zxid a notification carries (the txn's, as 3.9 sends it).

Steps where 3.9.5 and ferrokeeper differ from Debian's 3.8.0 are `t.since39` steps:
compared with 3.9.5, checked against 3.8.0's own value (conftest.py).
"""

from zkraw import ACL, AddWatchMode, Err, Ev, Flags, Op, Perm, WatcherType, enc_create, enc_set_data

SETTLE = 0.3  # extra wait for unexpected events after the expected ones arrived


def count(env, n, zk38):
    """How many events a since39 step waits for: 3.8.0 sends fewer there (waiting for the
    3.9 count would cost it take_events' whole timeout; SETTLE still catches extra ones)."""
    return zk38 if env.server.kind == "zk" else n


def scenario_one_shot_watches(env):
    t, p = env.t, env.p
    c, w, w2 = env.connect(), env.connect(), env.connect()
    c.create(p())
    c.create(p("a"), b"1")
    t.expect("getData watch", w.get_data(p("a"), watch=True), err=0)
    t.expect("exists watch on missing", w.exists(p("b"), watch=True), err=Err.NONODE)
    t.expect("getData watch on missing", w.get_data(p("nope"), watch=True), err=Err.NONODE)
    t.expect("child watch", w.get_children(p(), watch=True), err=0)
    t.expect("exists watch second conn", w2.exists(p("a"), watch=True), err=0)
    t.expect("child2 watch second conn", w2.get_children2(p("a"), watch=True), err=0)

    # The writer's own reply must not overtake the notification: w sees the event
    # before the reply of its next request.
    c.set_data(p("a"), b"2")
    t.expect("w: setData a", w.take_events(1, settle=SETTLE), [("event", Ev.NODE_DATA_CHANGED, 3, "<root>/a")])
    t.expect("w2: setData a", w2.take_events(1, settle=SETTLE), [("event", Ev.NODE_DATA_CHANGED, 3, "<root>/a")])
    c.set_data(p("a"), b"3")
    t.expect("one-shot: nothing on second setData", w.take_events(0, settle=SETTLE), [])
    c.create(p("b"))
    t.expect("create b", w.take_events(2, settle=SETTLE),
             [("event", Ev.NODE_CREATED, 3, "<root>/b"), ("event", Ev.NODE_CHILDREN_CHANGED, 3, "<root>")])
    c.create(p("nope"))
    t.expect("getData watch on missing node was not set", w.take_events(0, settle=SETTLE), [])
    c.create(p("a/kid"))
    t.expect("w2 child watch on a", w2.take_events(1, settle=SETTLE),
             [("event", Ev.NODE_CHILDREN_CHANGED, 3, "<root>/a")])
    # delete with data + child watches on the node and a child watch on the parent
    w.get_data(p("b"), watch=True)
    w.get_children(p("b"), watch=True)
    w.get_children(p(), watch=True)
    w2.exists(p("b"), watch=True)
    c.delete(p("b"))
    t.expect("delete b (w)", w.take_events(2, settle=SETTLE))
    t.expect("delete b (w2)", w2.take_events(1, settle=SETTLE), [("event", Ev.NODE_DELETED, 3, "<root>/b")])
    # setACL fires nothing; sync fires nothing
    w.get_data(p("a"), watch=True)
    c.set_acl(p("a"), [ACL(Perm.ALL, "world", "anyone")])
    c.sync(p("a"))
    t.expect("setACL fires nothing", w.take_events(0, settle=SETTLE), [])
    c.delete(p("a/kid"))
    c.delete(p("a"))
    t.expect("delete a", w.take_events(1, settle=SETTLE), [("event", Ev.NODE_DELETED, 3, "<root>/a")])


def test_one_shot_watches(diff):
    diff(scenario_one_shot_watches)


def scenario_event_before_reply(env):
    """A client that writes a node it watches gets the notification before the reply."""
    t, p = env.t, env.p
    c = env.connect()
    c.create(p())
    c.get_data(p(), watch=True)
    xid = c.send(5, __import__("zkraw").enc_set_data(p(), b"x"))
    frames = []
    while len(frames) < 2:
        rep = c._read_one(5)
        frames.append("event" if rep is None else ("reply", rep.xid == xid, rep.err))
    t.expect("order", frames, ["event", ("reply", True, 0)])


def test_event_before_reply(diff):
    diff(scenario_event_before_reply)


def scenario_persistent_watches(env):
    t, p = env.t, env.p
    c, w = env.connect(), env.connect()
    c.create(p())
    t.expect("addWatch persistent", w.add_watch(p(), AddWatchMode.PERSISTENT), err=0, value=0)
    t.expect("addWatch on missing node", w.add_watch(p("later"), AddWatchMode.PERSISTENT), err=0)
    t.expect("addWatch bad mode", w.add_watch(p(), 2), err=Err.MARSHALLINGERROR)
    c.set_data(p(), b"1")
    c.set_data(p(), b"2")
    c.create(p("x"))
    c.create(p("x/y"))       # grandchild: not seen by a non-recursive watch
    c.set_data(p("x"), b"")  # child data: not seen
    c.delete(p("x/y"))
    c.delete(p("x"))
    c.create(p("later"))
    c.delete(p("later"))
    c.create(p("later"))
    # All 10 expected events: waiting for 8 left the last two to SETTLE's 0.3 s alone.
    t.expect("persistent events", w.take_events(10, settle=SETTLE), [
        ("event", Ev.NODE_DATA_CHANGED, 3, "<root>"),
        ("event", Ev.NODE_DATA_CHANGED, 3, "<root>"),
        ("event", Ev.NODE_CHILDREN_CHANGED, 3, "<root>"),
        ("event", Ev.NODE_CHILDREN_CHANGED, 3, "<root>"),
        ("event", Ev.NODE_CREATED, 3, "<root>/later"),
        ("event", Ev.NODE_CHILDREN_CHANGED, 3, "<root>"),
        ("event", Ev.NODE_DELETED, 3, "<root>/later"),
        ("event", Ev.NODE_CHILDREN_CHANGED, 3, "<root>"),
        ("event", Ev.NODE_CREATED, 3, "<root>/later"),
        ("event", Ev.NODE_CHILDREN_CHANGED, 3, "<root>"),
    ])
    # A standard watch on the same path: one event per txn per connection...
    w.get_data(p(), watch=True)
    c.set_data(p(), b"3")
    t.expect("one event per txn", w.take_events(1, settle=SETTLE), [("event", Ev.NODE_DATA_CHANGED, 3, "<root>")])
    # ...and (observed on 3.8.0) the one-shot registration REPLACED the data half of the
    # persistent watch: the next setData fires nothing, child changes still fire.
    c.set_data(p(), b"4")
    c.create(p("y"))
    t.since39("persistent data watch vs one-shot on the same path", w.take_events(count(env, 2, zk38=1), settle=SETTLE),
              zk38=[("event", Ev.NODE_CHILDREN_CHANGED, 3, "<root>")],
              value=[("event", Ev.NODE_DATA_CHANGED, 3, "<root>"), ("event", Ev.NODE_CHILDREN_CHANGED, 3, "<root>")],
              why="3.9 keeps both watch modes (ZOOKEEPER-4466); 3.8.0 let the one-shot replace the persistent one")
    t.expect("checkWatches any", w.check_watches(p(), WatcherType.ANY), err=0)
    t.expect("checkWatches data", w.check_watches(p(), WatcherType.DATA), err=Err.NOWATCHER)
    t.since39("checkWatches children", w.check_watches(p(), WatcherType.CHILDREN), zk38=0, value=Err.NOWATCHER,
              why="3.9: Children/Data types match standard watches only, not persistent ones")
    t.expect("removeWatches data", w.remove_watches(p(), WatcherType.DATA), err=Err.NOWATCHER)
    t.since39("removeWatches children", w.remove_watches(p(), WatcherType.CHILDREN), zk38=0, value=Err.NOWATCHER,
              why="3.9: Children/Data types match standard watches only, not persistent ones")
    t.since39("checkWatches after remove", w.check_watches(p(), WatcherType.ANY), zk38=Err.NOWATCHER, value=0,
              why="3.9 keeps every watch mode of a connection on a path (ZOOKEEPER-4466); 3.8.0 let the last one replace the others")
    t.since39("removeWatches any", w.remove_watches(p(), WatcherType.ANY), zk38=Err.NOWATCHER, value=0,
              why="3.9 keeps every watch mode of a connection on a path (ZOOKEEPER-4466); 3.8.0 let the last one replace the others")
    c.set_data(p(), b"5")
    c.create(p("z"))
    t.expect("removed: no more events", w.take_events(0, settle=SETTLE), [])
    t.expect("persistent node deletion", c.delete(p("later")), err=0)
    t.expect("watch on later still armed", w.take_events(1, settle=SETTLE),
             [("event", Ev.NODE_DELETED, 3, "<root>/later")])
    w2 = env.connect()
    w2.add_watch(p(), AddWatchMode.PERSISTENT)
    t.expect("removeWatches any removes persistent", w2.remove_watches(p(), WatcherType.ANY), err=0)
    c.set_data(p(), b"6")
    t.expect("nothing after remove any", w2.take_events(0, settle=SETTLE), [])


def test_persistent_watches(diff):
    diff(scenario_persistent_watches)


def scenario_recursive_watches(env):
    t, p = env.t, env.p
    c, w, w2 = env.connect(), env.connect(), env.connect()
    c.create(p())
    t.expect("addWatch recursive", w.add_watch(p(), AddWatchMode.PERSISTENT_RECURSIVE), err=0)
    c.create(p("a"))
    c.create(p("a/b"), b"")
    c.set_data(p("a/b"), b"x")
    c.create(p("a/b/c"), flags=Flags.EPHEMERAL)
    c.delete(p("a/b/c"))
    c.set_data(p(), b"r")
    t.expect("recursive events (never NodeChildrenChanged)", w.take_events(6, settle=SETTLE), [
        ("event", Ev.NODE_CREATED, 3, "<root>/a"),
        ("event", Ev.NODE_CREATED, 3, "<root>/a/b"),
        ("event", Ev.NODE_DATA_CHANGED, 3, "<root>/a/b"),
        ("event", Ev.NODE_CREATED, 3, "<root>/a/b/c"),
        ("event", Ev.NODE_DELETED, 3, "<root>/a/b/c"),
        ("event", Ev.NODE_DATA_CHANGED, 3, "<root>"),
    ])
    t.since39("checkWatches children on recursive", w.check_watches(p(), WatcherType.CHILDREN),
              zk38=0, value=Err.NOWATCHER,
              why="3.9 answers per registration table; a recursive watch is not a child watch")
    t.since39("checkWatches data on recursive", w.check_watches(p(), WatcherType.DATA), zk38=0, value=Err.NOWATCHER,
              why="3.9: Children/Data types match standard watches only, not persistent ones")
    t.expect("checkWatches on descendant", w.check_watches(p("a"), WatcherType.ANY), err=Err.NOWATCHER)
    # persistent then recursive on the same path by the same connection: the later mode wins
    w2.add_watch(p(), AddWatchMode.PERSISTENT)
    w2.add_watch(p(), AddWatchMode.PERSISTENT_RECURSIVE)
    c.create(p("n"))
    t.since39("persistent and recursive on one path", w2.take_events(count(env, 2, zk38=1), settle=SETTLE),
              zk38=[("event", Ev.NODE_CREATED, 3, "<root>/n")],
              value=[("event", Ev.NODE_CREATED, 3, "<root>/n"), ("event", Ev.NODE_CHILDREN_CHANGED, 3, "<root>")],
              why="3.9 keeps every watch mode of a connection on a path (ZOOKEEPER-4466); 3.8.0 let the last one replace the others")
    w2.add_watch(p(), AddWatchMode.PERSISTENT)
    c.create(p("n/deeper"))
    c.create(p("m"))
    t.since39("persistent re-added beside recursive", w2.take_events(count(env, 3, zk38=1), settle=SETTLE),
              zk38=[("event", Ev.NODE_CHILDREN_CHANGED, 3, "<root>")],
              value=[("event", Ev.NODE_CREATED, 3, "<root>/n/deeper"), ("event", Ev.NODE_CREATED, 3, "<root>/m"),
                     ("event", Ev.NODE_CHILDREN_CHANGED, 3, "<root>")],
              why="3.9 keeps every watch mode of a connection on a path (ZOOKEEPER-4466); 3.8.0 let the last one replace the others")
    w.take_events(0, settle=SETTLE)
    t.since39("removeWatches recursive with type data", w.remove_watches(p(), WatcherType.DATA),
              zk38=0, value=Err.NOWATCHER,
              why="3.9: Children/Data types match standard watches only, not persistent ones")
    c.create(p("after"))
    t.since39("after removeWatches data", w.take_events(count(env, 1, zk38=0), settle=SETTLE), zk38=[],
              value=[("event", Ev.NODE_CREATED, 3, "<root>/after")],
              why="3.9: Children/Data types match standard watches only, not persistent ones")
    t.since39("watcher types of 3.9 (persistent=4)", w.check_watches(p(), 4), zk38=Err.MARSHALLINGERROR,
              value=Err.NOWATCHER, why="3.9 added watcher types Persistent(4) and PersistentRecursive(5)")
    t.expect("watcher type 0", w.remove_watches(p(), 0), err=Err.MARSHALLINGERROR)
    t.expect("connection still usable", w.exists(p()).err, 0)


def test_recursive_watches(diff):
    diff(scenario_recursive_watches)


def scenario_check_remove_watches(env):
    t, p = env.t, env.p
    c, w = env.connect(), env.connect()
    c.create(p())
    c.create(p("a"))
    t.expect("check none", w.check_watches(p("a"), WatcherType.ANY), err=Err.NOWATCHER)
    t.expect("remove none", w.remove_watches(p("a"), WatcherType.DATA), err=Err.NOWATCHER)
    t.expect("check on missing node", w.check_watches(p("missing"), WatcherType.ANY), err=Err.NOWATCHER)
    w.get_data(p("a"), watch=True)
    t.expect("check data", w.check_watches(p("a"), WatcherType.DATA), err=0)
    t.expect("check children (only data set)", w.check_watches(p("a"), WatcherType.CHILDREN), err=Err.NOWATCHER)
    # Observed on 3.8.0: checkWatches answers whether ANY connection has such a watch on
    # the path, while removeWatches only looks at the caller's own watches.
    t.since39("checkWatches of another connection's watch", c.check_watches(p("a"), WatcherType.DATA),
              zk38=0, value=Err.NOWATCHER, why="3.9 checks the caller's own watches only")
    t.expect("removeWatches does not remove other's watch", c.remove_watches(p("a"), WatcherType.DATA),
             err=Err.NOWATCHER)
    w.exists(p("missing"), watch=True)
    t.expect("check exists-watch on missing", w.check_watches(p("missing"), WatcherType.DATA), err=0)
    t.expect("remove exists-watch on missing", w.remove_watches(p("missing"), WatcherType.ANY), err=0)
    w.get_children(p("a"), watch=True)
    t.expect("remove children", w.remove_watches(p("a"), WatcherType.CHILDREN), err=0)
    t.expect("data still there", w.check_watches(p("a"), WatcherType.DATA), err=0)
    t.expect("remove data", w.remove_watches(p("a"), WatcherType.DATA), err=0)
    t.expect("check any after", w.check_watches(p("a"), WatcherType.ANY), err=Err.NOWATCHER)
    c.set_data(p("a"), b"x")
    c.create(p("a/k"))
    c.create(p("missing"))
    t.expect("no events after removal", w.take_events(0, settle=SETTLE), [])
    t.since39("check bad path", w.check_watches("bad", WatcherType.ANY), zk38=Err.MARSHALLINGERROR,
              value=Err.NOWATCHER, why="3.8.0 fails inside its path iterator; 3.9 answers NOWATCHER")
    t.expect("fired watch is gone", (w.get_data(p("a"), watch=True).err, c.set_data(p("a"), b"y").err,
                                     len(w.take_events(1)), w.check_watches(p("a"), WatcherType.DATA).err),
             (0, 0, 1, Err.NOWATCHER))


def test_check_remove_watches(diff):
    diff(scenario_check_remove_watches)


def scenario_set_watches_after_reconnect(env):
    """A client reconnecting with setWatches(relativeZxid) gets the events it missed:
    data watch -> NodeDeleted / NodeDataChanged, exist watch -> NodeCreated, child watch
    -> NodeDeleted / NodeChildrenChanged; unchanged ones are re-armed silently."""
    t, p = env.t, env.p
    c = env.connect()
    c.create(p())
    for n in ("same", "changed", "gone", "kids", "gone2", "quiet"):
        c.create(p(n))
    w = env.connect()
    w.get_data(p("same"))
    seen = w.last_zxid
    w.drop()
    c.set_data(p("changed"), b"new")
    c.delete(p("gone"))
    c.create(p("born"))
    c.create(p("kids/k"))
    c.delete(p("gone2"))
    w2 = env.connect()
    r = w2.set_watches(seen,
                       data=[p("same"), p("changed"), p("gone")],
                       exist=[p("born"), p("unborn")],
                       child=[p("kids"), p("gone2"), p("quiet")])
    t.expect("setWatches reply", (r.xid, r.err, r.body), (-8, 0, b""))
    t.expect("missed events", w2.take_events(5, settle=SETTLE))
    t.expect("missed event set", sorted(e[1:] for e in t.entries[-1][1]), sorted([
        (Ev.NODE_DATA_CHANGED, 3, "<root>/changed"), (Ev.NODE_DELETED, 3, "<root>/gone"),
        (Ev.NODE_CREATED, 3, "<root>/born"), (Ev.NODE_CHILDREN_CHANGED, 3, "<root>/kids"),
        (Ev.NODE_DELETED, 3, "<root>/gone2")]))
    c.set_data(p("same"), b"x")
    c.create(p("unborn"))
    c.create(p("quiet/q"))
    c.set_data(p("changed"), b"again")  # that watch already fired: nothing
    t.expect("re-armed watches fire", w2.take_events(3, settle=SETTLE))
    # setWatches2: persistent + recursive re-armed silently
    w3 = env.connect()
    w3.exists(p())  # learn the current zxid, as a real client would have
    r = w3.set_watches2(w3.last_zxid, data=[p("same")], persistent=[p("kids")], recursive=[p()])
    t.expect("setWatches2 reply", (r.xid, r.err), (-8, 0))
    t.expect("nothing missed", w3.take_events(0, settle=SETTLE), [])
    c.create(p("kids/k2"))
    c.set_data(p("same"), b"y")
    c.set_data(p("same"), b"z")
    t.expect("setWatches2 events", w3.take_events(4, settle=SETTLE))
    # relativeZxid 0: everything "changed" since zxid 0
    w4 = env.connect()
    w4.set_watches(0, data=[p("same")], child=[p("quiet")], exist=[p("unborn")])
    t.expect("relativeZxid 0", sorted(w4.take_events(3, settle=SETTLE)))


def test_set_watches_after_reconnect(diff):
    diff(scenario_set_watches_after_reconnect)


def scenario_watches_are_per_connection(env):
    """Re-attaching a session on a new connection does not carry watches over."""
    t, p = env.t, env.p
    c = env.connect()
    c.create(p())
    w = env.connect()
    w.get_data(p(), watch=True)
    w.add_watch(p(), AddWatchMode.PERSISTENT_RECURSIVE)
    w.drop()
    w2 = env.server.raw(session_id=w.session_id, passwd=w.passwd)
    env.clients.append(w2)
    t.expect("same session", w2.session_id == w.session_id, True)
    c.set_data(p(), b"x")
    c.create(p("k"))
    t.expect("no events after re-attach", w2.take_events(0, settle=SETTLE), [])
    t.expect("no watches registered", w2.check_watches(p(), WatcherType.ANY), err=Err.NOWATCHER)


def test_watches_are_per_connection(diff):
    diff(scenario_watches_are_per_connection)


def scenario_watch_acl_at_fire_time(env):
    """Watches on nodes the watcher may not READ (CVE-2024-23944 territory)."""
    t, p = env.t, env.p
    owner, w = env.connect(), env.connect()
    owner.auth("digest", b"o:o")
    owner.create(p())
    owner.create(p("pub"))
    w.add_watch(p(), AddWatchMode.PERSISTENT_RECURSIVE)
    w.get_data(p("pub"), watch=True)
    import base64, hashlib
    me = ACL(Perm.ALL, "digest", "o:" + base64.b64encode(hashlib.sha1(b"o:o").digest()).decode())
    owner.set_acl(p("pub"), [me])
    owner.set_data(p("pub"), b"secret")
    owner.create(p("private"), acl=[me])
    owner.set_data(p("private"), b"x")
    t.expect("events seen by a watcher without READ", w.take_events(3, settle=SETTLE))


def test_watch_acl_at_fire_time(diff):
    diff(scenario_watch_acl_at_fire_time)


NOTIFICATION_ZXID_WHY = "3.9 sends the zxid of the txn that fired the event (ZOOKEEPER-4655); 3.8.0 sends -1"


def scenario_notification_zxids(env):
    """The zxid in a notification's reply header. 3.9.5 builds the WatchedEvent of a txn's
    change with that txn's zxid (WatchManager.triggerWatch, called by DataTree.createNode /
    deleteNode / setData with the txn header's zxid -- one zxid for all the changes of a
    multi or of a closeSession's ephemerals) and NIOServerCnxn.process copies it into the
    ReplyHeader; the same for one-shot, persistent and recursive watches. The events
    setWatches/setWatches2 fire on reconnect are built without one (DataTree.setWatches:
    WatchedEvent.NO_ZXID, -1). removeWatches sends no notification (the client makes up
    DataWatchRemoved/ChildWatchRemoved itself). 3.8.0 sends -1 for every event."""
    t, p = env.t, env.p
    c, w = env.connect(), env.connect()

    def step(label, events, want):
        """events: what arrived; want: [(type, path, zxid of the txn that fired it)]."""
        value = sorted((ty, t.norm(path), t.zxid(z)) for ty, path, z in want)
        zk38 = sorted((ty, t.norm(path), -1) for ty, path, _ in want)
        got = sorted((e.type, t.norm(e.path), t.zxid(e.zxid)) for e in events)
        t.since39(label, got, value=value, zk38=zk38, why=NOTIFICATION_ZXID_WHY)

    def stat(path):
        return c.exists(path).value

    c.create(p())
    c.create(p("a"), b"1")
    w.get_data(p("a"), watch=True)
    z = c.set_data(p("a"), b"2").value.mzxid
    step("one-shot data watch, setData", w.take_events(1, settle=SETTLE), [(Ev.NODE_DATA_CHANGED, p("a"), z)])

    w.exists(p("b"), watch=True)
    w.get_children(p(), watch=True)
    c.create(p("b"))
    z = stat(p("b")).czxid
    step("exists watch + child watch, create", w.take_events(2, settle=SETTLE),
         [(Ev.NODE_CREATED, p("b"), z), (Ev.NODE_CHILDREN_CHANGED, p(), z)])

    w.get_data(p("b"), watch=True)
    w.get_children(p(), watch=True)
    c.delete(p("b"))
    z = stat(p()).pzxid
    step("data watch + parent's child watch, delete", w.take_events(2, settle=SETTLE),
         [(Ev.NODE_DELETED, p("b"), z), (Ev.NODE_CHILDREN_CHANGED, p(), z)])

    # persistent and persistent-recursive watches
    c.create(p("r"))
    wp, wr = env.connect(), env.connect()
    wp.add_watch(p("r"), AddWatchMode.PERSISTENT)
    wr.add_watch(p("r"), AddWatchMode.PERSISTENT_RECURSIVE)
    c.create(p("r/x"))
    z1 = stat(p("r/x")).czxid
    c.create(p("r/x/y"))
    z2 = stat(p("r/x/y")).czxid
    z3 = c.set_data(p("r"), b"d").value.mzxid
    c.delete(p("r/x/y"))
    z4 = stat(p("r/x")).pzxid
    step("persistent watch", wp.take_events(2, settle=SETTLE),
         [(Ev.NODE_CHILDREN_CHANGED, p("r"), z1), (Ev.NODE_DATA_CHANGED, p("r"), z3)])
    step("persistent-recursive watch", wr.take_events(4, settle=SETTLE),
         [(Ev.NODE_CREATED, p("r/x"), z1), (Ev.NODE_CREATED, p("r/x/y"), z2),
          (Ev.NODE_DATA_CHANGED, p("r"), z3), (Ev.NODE_DELETED, p("r/x/y"), z4)])

    # a multi: every event carries the multi's one zxid
    c.create(p("m"))
    w.get_data(p("m"), watch=True)
    w.exists(p("m2"), watch=True)
    w.get_children(p(), watch=True)
    t.expect("multi", c.multi([(Op.SET_DATA, enc_set_data(p("m"), b"x")), (Op.CREATE, enc_create(p("m2")))]), err=0)
    z = stat(p("m")).mzxid
    step("multi", w.take_events(3, settle=SETTLE),
         [(Ev.NODE_DATA_CHANGED, p("m"), z), (Ev.NODE_CREATED, p("m2"), z), (Ev.NODE_CHILDREN_CHANGED, p(), z)])

    # an ephemeral deleted by its session's closeSession: the closeSession's zxid
    e = env.connect()
    e.create(p("eph"), flags=Flags.EPHEMERAL)
    w.exists(p("eph"), watch=True)
    w.get_children(p(), watch=True)
    e.close()
    evs = w.take_events(2, settle=SETTLE)
    z = stat(p()).pzxid
    step("ephemeral deleted by closeSession", evs,
         [(Ev.NODE_DELETED, p("eph"), z), (Ev.NODE_CHILDREN_CHANGED, p(), z)])

    # a container reaped by the server (its own deleteContainer txn)
    c.create_container(p("box"))
    c.create(p("box/k"))
    w.exists(p("box"), watch=True)
    c.delete(p("box/k"))
    evs = w.take_events(1, timeout=20, settle=SETTLE)
    z = stat(p()).pzxid
    step("container reaped", evs, [(Ev.NODE_DELETED, p("box"), z)])

    # removeWatches sends nothing
    w.get_data(p("m"), watch=True)
    t.expect("removeWatches", w.remove_watches(p("m"), WatcherType.DATA), err=0)
    t.expect("removeWatches sends no notification", w.take_events(0, settle=SETTLE), [])

    # setWatches on reconnect: the missed events carry -1 on every server...
    s = env.connect()
    r = s.set_watches(0, data=[p("a")], exist=[p("m2")], child=[p("r")])
    t.expect("setWatches reply", (r.xid, r.err), (-8, 0))
    t.expect("setWatches' missed events: zxid -1",
             sorted((e.type, t.norm(e.path), e.zxid) for e in s.take_events(3, settle=SETTLE)),
             sorted([(Ev.NODE_DATA_CHANGED, "<root>/a", -1), (Ev.NODE_CREATED, "<root>/m2", -1),
                     (Ev.NODE_CHILDREN_CHANGED, "<root>/r", -1)]))
    # ...and the watches it re-armed, fired later by a txn, its zxid
    s2 = env.connect()
    s2.exists(p())
    r = s2.set_watches2(s2.last_zxid, data=[p("a")], persistent=[p("m")])
    t.expect("setWatches2 reply", (r.xid, r.err), (-8, 0))
    t.expect("setWatches2: nothing missed", s2.take_events(0, settle=SETTLE), [])
    za = c.set_data(p("a"), b"3").value.mzxid
    zm = c.set_data(p("m"), b"y").value.mzxid
    step("watches re-armed by setWatches2", s2.take_events(2, settle=SETTLE),
         [(Ev.NODE_DATA_CHANGED, p("a"), za), (Ev.NODE_DATA_CHANGED, p("m"), zm)])


def test_notification_zxids(diff):
    diff(scenario_notification_zxids)
