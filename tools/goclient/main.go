// goclient drives github.com/go-zookeeper/zk against one server for the compat suite
// (compat-tests/test_client_go.py) and prints "CHECK name value" lines, which the test
// compares with the values every server kind must give.
//
//	goclient basic     HOST:PORT ROOT   sessions, CRUD + Stat, sequential nodes, multi,
//	                                    watches, ACLs, four-letter words (FLWSrvr/FLWCons/FLWRuok)
//	goclient reconnect PROXY PROXY2 ROOT   a session through a TCP proxy (PROXY) that the
//	                                    test drops and heals, then a server restart, then
//	                                    a drop longer than a session's timeout; a second
//	                                    client talks through PROXY2 (not dropped). The program prints
//	                                    "WAIT <what>" and the test does <what> (drop, heal,
//	                                    restart) while the program waits for the client's
//	                                    state to follow.
//
// Every wait has a deadline; the program ends with "DONE" (exit 0) or "FAIL <why>" (exit 1).
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

const waitFor = 60 * time.Second

func check(name string, value interface{}) {
	fmt.Printf("CHECK %s %v\n", name, value)
}

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func must(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// errName is the server's error code as a stable word ("ok" for none).
func errName(err error) string {
	if err == nil {
		return "ok"
	}
	switch err {
	case zk.ErrNoNode:
		return "NONODE"
	case zk.ErrNodeExists:
		return "NODEEXISTS"
	case zk.ErrBadVersion:
		return "BADVERSION"
	case zk.ErrNotEmpty:
		return "NOTEMPTY"
	case zk.ErrNoAuth:
		return "NOAUTH"
	case zk.ErrAPIError:
		return "APIERROR"
	case zk.ErrInvalidACL:
		return "INVALIDACL"
	case zk.ErrNoChildrenForEphemerals:
		return "NOCHILDRENFOREPHEMERALS"
	case zk.ErrSessionExpired:
		return "SESSIONEXPIRED"
	case zk.ErrBadArguments:
		return "BADARGUMENTS"
	}
	if err.Error() == "unknown error: -2" { // no name in the library
		return "RUNTIMEINCONSISTENCY"
	}
	return err.Error()
}

// client is a connection plus every event it delivered, in order (the library's own
// event channel holds 6 and drops the rest, so a callback keeps them all).
type client struct {
	conn    *zk.Conn
	name    string
	mu      sync.Mutex
	cond    *sync.Cond
	events  []zk.Event
	timeout int // negotiated session timeout in ms, from the library's log line
}

var timeoutLine = regexp.MustCompile(`authenticated: id=\d+, timeout=(\d+)`)

type captureLogger struct{ c *client }

func (l captureLogger) Printf(format string, args ...interface{}) {
	line := fmt.Sprintf(format, args...)
	if m := timeoutLine.FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[1])
		l.c.mu.Lock()
		l.c.timeout = n
		l.c.cond.Broadcast()
		l.c.mu.Unlock()
	}
	fmt.Fprintf(os.Stderr, "[%s] %s\n", l.c.name, line)
}

func connect(name, addr string, timeout time.Duration) *client {
	c := &client{name: name}
	c.cond = sync.NewCond(&c.mu)
	conn, _, err := zk.Connect([]string{addr}, timeout,
		zk.WithLogger(captureLogger{c}),
		zk.WithEventCallback(func(ev zk.Event) {
			c.mu.Lock()
			c.events = append(c.events, ev)
			c.cond.Broadcast()
			c.mu.Unlock()
		}))
	must(err, name+" connect")
	c.conn = conn
	c.waitState(zk.StateHasSession, 0)
	// The library logs the negotiated timeout after it reports the session: wait for it.
	c.waitTimeout()
	return c
}

// waitTimeout waits (at most waitFor) until the library's log told the session timeout.
func (c *client) waitTimeout() {
	timer := time.AfterFunc(waitFor, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(waitFor)
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.timeout == 0 && time.Now().Before(deadline) {
		c.cond.Wait()
	}
}

// waitState waits until the client reported `state` at an index >= from in its event
// list; returns the index after it.
func (c *client) waitState(state zk.State, from int) int {
	return c.waitEvent(from, fmt.Sprintf("state %v", state), func(ev zk.Event) bool {
		return ev.Type == zk.EventSession && ev.State == state
	})
}

func (c *client) waitEvent(from int, what string, pred func(zk.Event) bool) int {
	deadline := time.Now().Add(waitFor)
	timer := time.AfterFunc(waitFor, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for i := from; i < len(c.events); i++ {
			if pred(c.events[i]) {
				return i + 1
			}
		}
		if time.Now().After(deadline) {
			fail("%s: no %s within %v (events %v)", c.name, what, waitFor, c.events)
		}
		c.cond.Wait()
	}
}

func (c *client) eventCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// nodeEvents waits for n node (non-session) events from index `from` and returns them as
// "Type path" strings (with `root` shown as "<root>") and the index after the last one.
func (c *client) nodeEvents(from, n int, root string) ([]string, int) {
	var out []string
	i := from
	for len(out) < n {
		i = c.waitEvent(i, fmt.Sprintf("node event #%d", len(out)+1), func(ev zk.Event) bool {
			return ev.Type != zk.EventSession
		})
		c.mu.Lock()
		ev := c.events[i-1]
		c.mu.Unlock()
		out = append(out, fmt.Sprintf("%v %s", ev.Type, strings.Replace(ev.Path, root, "<root>", 1)))
	}
	return out, i
}

func statFields(st *zk.Stat) string {
	return fmt.Sprintf("version=%d,cversion=%d,aversion=%d,dataLength=%d,numChildren=%d",
		st.Version, st.Cversion, st.Aversion, st.DataLength, st.NumChildren)
}

func basic(addr, root string) {
	// --- sessions
	c1 := connect("c1", addr, 10*time.Second)
	c2 := connect("c2", addr, 10*time.Second)
	check("session.id_nonzero", c1.conn.SessionID() != 0)
	check("session.distinct", c1.conn.SessionID() != c2.conn.SessionID())
	check("session.timeout", c1.timeout)
	check("session.state", c1.conn.State())

	// --- CRUD with Stat
	p, err := c1.conn.Create(root, []byte("top"), 0, zk.WorldACL(zk.PermAll))
	must(err, "create root")
	check("crud.create_path", p == root)
	data, st, err := c1.conn.Get(root)
	must(err, "get root")
	check("crud.root_data", string(data))
	check("crud.root_stat", statFields(st))
	check("crud.root_czxid_is_mzxid", st.Czxid == st.Mzxid && st.Czxid == st.Pzxid)
	_, err = c1.conn.Create(root+"/a", []byte("1"), 0, zk.WorldACL(zk.PermAll))
	must(err, "create a")
	st, err = c1.conn.Set(root+"/a", []byte("22"), 0)
	must(err, "set a")
	check("crud.set_stat", statFields(st))
	check("crud.set_mzxid_after_czxid", st.Mzxid > st.Czxid)
	_, err = c1.conn.Set(root+"/a", []byte("x"), 0)
	check("crud.set_bad_version", errName(err))
	_, err = c1.conn.Create(root+"/a", nil, 0, zk.WorldACL(zk.PermAll))
	check("crud.create_exists", errName(err))
	_, err = c1.conn.Create(root+"/none/x", nil, 0, zk.WorldACL(zk.PermAll))
	check("crud.create_no_parent", errName(err))
	check("crud.delete_not_empty", errName(c1.conn.Delete(root, -1)))
	_, _, err = c1.conn.Get(root + "/missing")
	check("crud.get_missing", errName(err))
	_, st, err = c2.conn.Get(root)
	must(err, "get root from c2")
	check("crud.root_stat_after_child", statFields(st))
	ok, st, err := c2.conn.Exists(root + "/a")
	must(err, "exists a")
	check("crud.exists", fmt.Sprintf("%v,%s,ephemeralOwner=%d", ok, statFields(st), st.EphemeralOwner))
	check("crud.delete_bad_version", errName(c1.conn.Delete(root+"/a", 5)))
	check("crud.delete", errName(c1.conn.Delete(root+"/a", 1)))
	ok, _, err = c2.conn.Exists(root + "/a")
	check("crud.exists_after_delete", fmt.Sprintf("%v,%s", ok, errName(err)))
	_, err = c1.conn.Create(root+"/eph", []byte("e"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	must(err, "create eph")
	_, st, err = c2.conn.Get(root + "/eph")
	must(err, "get eph")
	check("crud.ephemeral_owner_is_c1", st.EphemeralOwner == c1.conn.SessionID())
	_, err = c1.conn.Create(root+"/eph/x", nil, 0, zk.WorldACL(zk.PermAll))
	check("crud.ephemeral_child", errName(err))

	// --- sequential nodes: the suffix is the parent's cversion (a created, a deleted,
	// eph created: 3)
	var seqs []string
	for i := 0; i < 2; i++ {
		p, err := c1.conn.Create(root+"/s-", nil, zk.FlagSequence, zk.WorldACL(zk.PermAll))
		must(err, "create sequential")
		seqs = append(seqs, strings.TrimPrefix(p, root+"/"))
	}
	p, err = c1.conn.Create(root+"/es-", nil, zk.FlagSequence|zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	must(err, "create ephemeral sequential")
	seqs = append(seqs, strings.TrimPrefix(p, root+"/"))
	check("seq.names", strings.Join(seqs, ","))
	children, st, err := c2.conn.Children(root)
	must(err, "children")
	sort.Strings(children)
	check("seq.children", strings.Join(children, ","))
	check("seq.parent_stat", statFields(st))

	// --- multi
	res, err := c1.conn.Multi(
		&zk.CreateRequest{Path: root + "/m1", Data: []byte("x"), Acl: zk.WorldACL(zk.PermAll)},
		&zk.SetDataRequest{Path: root + "/m1", Data: []byte("y"), Version: 0},
		&zk.CheckVersionRequest{Path: root + "/m1", Version: 1},
		&zk.CreateRequest{Path: root + "/m2", Acl: zk.WorldACL(zk.PermAll)},
		&zk.DeleteRequest{Path: root + "/m2", Version: 0},
	)
	check("multi.ok_err", errName(err))
	var parts []string
	for _, r := range res {
		s := errName(r.Error)
		if r.String != "" {
			s += ":" + strings.Replace(r.String, root, "<root>", 1)
		}
		if r.Stat != nil {
			s += ":v" + strconv.Itoa(int(r.Stat.Version))
		}
		parts = append(parts, s)
	}
	check("multi.ok_results", "["+strings.Join(parts, " ")+"]")
	data, _, err = c2.conn.Get(root + "/m1")
	check("multi.ok_m1", string(data)+","+errName(err))
	res, err = c1.conn.Multi(
		&zk.CreateRequest{Path: root + "/m3", Acl: zk.WorldACL(zk.PermAll)},
		&zk.SetDataRequest{Path: root + "/m1", Data: []byte("z"), Version: 7},
		&zk.DeleteRequest{Path: root + "/m1", Version: -1},
	)
	check("multi.fail_err", errName(err))
	parts = nil
	for _, r := range res {
		parts = append(parts, errName(r.Error))
	}
	check("multi.fail_results", "["+strings.Join(parts, " ")+"]")
	ok, _, _ = c2.conn.Exists(root + "/m3")
	check("multi.fail_m3_exists", ok)
	data, st, _ = c2.conn.Get(root + "/m1")
	check("multi.fail_m1", fmt.Sprintf("%s,v%d", data, st.Version))

	// --- watches (one-shot), seen through c1's event list, in the order they came
	_, err = c1.conn.Create(root+"/w", []byte("0"), 0, zk.WorldACL(zk.PermAll))
	must(err, "create w")
	mark := c1.eventCount()
	_, _, dataCh, err := c1.conn.GetW(root + "/w")
	must(err, "getw")
	_, _, childCh, err := c1.conn.ChildrenW(root + "/w")
	must(err, "childrenw")
	ok, _, existCh, err := c1.conn.ExistsW(root + "/nx")
	must(err, "existsw")
	check("watch.exists_missing", ok)
	_, err = c2.conn.Set(root+"/w", []byte("1"), -1)
	must(err, "set w")
	_, err = c2.conn.Create(root+"/w/c", nil, 0, zk.WorldACL(zk.PermAll))
	must(err, "create w/c")
	_, err = c2.conn.Create(root+"/nx", nil, 0, zk.WorldACL(zk.PermAll))
	must(err, "create nx")
	evs, next := c1.nodeEvents(mark, 3, root)
	check("watch.events", "["+strings.Join(evs, "; ")+"]")
	for name, ch := range map[string]<-chan zk.Event{"data": dataCh, "child": childCh, "exist": existCh} {
		select {
		case ev := <-ch:
			check("watch.channel_"+name, ev.Type)
		case <-time.After(waitFor):
			fail("watch channel %s got nothing", name)
		}
	}
	// One-shot: these changes notify nobody; the delete below (a fresh watch) is the next
	// event c1 sees, and a server delivers events in order.
	_, err = c2.conn.Set(root+"/w", []byte("2"), -1)
	must(err, "set w again")
	_, err = c2.conn.Create(root+"/w/d", nil, 0, zk.WorldACL(zk.PermAll))
	must(err, "create w/d")
	_, _, delCh, err := c1.conn.GetW(root + "/w/c")
	must(err, "getw w/c")
	check("watch.delete", errName(c2.conn.Delete(root+"/w/c", -1)))
	evs, _ = c1.nodeEvents(next, 1, root)
	check("watch.after_oneshot", "["+strings.Join(evs, "; ")+"]")
	<-delCh

	// --- ACLs: digest auth
	must(c1.conn.AddAuth("digest", []byte("alice:pw")), "addauth alice")
	_, err = c1.conn.Create(root+"/secret", []byte("s"), 0, zk.DigestACL(zk.PermAll, "alice", "pw"))
	must(err, "create secret")
	data, _, err = c1.conn.Get(root + "/secret")
	check("acl.owner_read", string(data)+","+errName(err))
	_, _, err = c2.conn.Get(root + "/secret")
	check("acl.other_read", errName(err))
	_, err = c2.conn.Set(root+"/secret", []byte("t"), -1)
	check("acl.other_write", errName(err))
	_, _, err = c2.conn.GetACL(root + "/secret")
	check("acl.other_getacl", errName(err))
	acl, st, err := c1.conn.GetACL(root + "/secret")
	must(err, "getacl")
	check("acl.get", fmt.Sprintf("%d:%s:%s,aversion=%d", acl[0].Perms, acl[0].Scheme, acl[0].ID, st.Aversion))
	c3 := connect("c3", addr, 10*time.Second)
	must(c3.conn.AddAuth("digest", []byte("alice:wrong")), "addauth wrong")
	_, _, err = c3.conn.Get(root + "/secret")
	check("acl.wrong_password_read", errName(err))
	must(c2.conn.AddAuth("digest", []byte("alice:pw")), "addauth alice on c2")
	data, _, err = c2.conn.Get(root + "/secret")
	check("acl.after_auth_read", string(data)+","+errName(err))
	readOnly := append(zk.WorldACL(zk.PermRead), zk.DigestACL(zk.PermAll, "alice", "pw")...)
	_, err = c1.conn.SetACL(root+"/w", readOnly, 0)
	check("acl.setacl", errName(err))
	_, err = c3.conn.Set(root+"/w", []byte("x"), -1)
	check("acl.readonly_write", errName(err))
	data, _, err = c3.conn.Get(root + "/w")
	check("acl.readonly_read", string(data)+","+errName(err))
	_, err = c3.conn.Create(root+"/w/x", nil, 0, zk.WorldACL(zk.PermAll))
	check("acl.readonly_create", errName(err))
	_, err = c1.conn.Create(root+"/bad", nil, 0, []zk.ACL{})
	check("acl.empty_list", errName(err))

	// --- sync, containers (reaped once their last child goes) and TTL nodes (reaped once
	// unmodified and childless past the TTL; the server runs with extendedTypesEnabled)
	p, err = c2.conn.Sync(root)
	check("special.sync", fmt.Sprintf("%v,%s", p == root, errName(err)))
	p, err = c1.conn.CreateContainer(root+"/cont", nil, zk.FlagContainer, zk.WorldACL(zk.PermAll))
	check("special.container_create", fmt.Sprintf("%v,%s", p == root+"/cont", errName(err)))
	_, err = c1.conn.Create(root+"/cont/x", nil, 0, zk.WorldACL(zk.PermAll))
	must(err, "create cont/x")
	ok, st, err = c2.conn.Exists(root + "/cont")
	check("special.container_stat", fmt.Sprintf("%v,%s,ephemeralOwner=%d", ok, statFields(st), st.EphemeralOwner))
	must(c1.conn.Delete(root+"/cont/x", -1), "delete cont/x")
	check("special.container_reaped", waitGone(c2, root+"/cont"))
	p, err = c1.conn.CreateTTL(root+"/ttl", []byte("t"), zk.FlagTTL, zk.WorldACL(zk.PermAll), 500*time.Millisecond)
	check("special.ttl_create", fmt.Sprintf("%v,%s", p == root+"/ttl", errName(err)))
	p, err = c1.conn.CreateTTL(root+"/ts-", nil, zk.FlagPersistentSequentialWithTTL, zk.WorldACL(zk.PermAll), 500*time.Millisecond)
	check("special.ttl_sequential", fmt.Sprintf("%s,%s", strings.TrimPrefix(p, root+"/"), errName(err)))
	_, st, err = c2.conn.Get(root + "/ttl")
	must(err, "get ttl")
	check("special.ttl_stat", fmt.Sprintf("%s,ephemeralOwner=0x%x", statFields(st), st.EphemeralOwner))
	check("special.ttl_reaped", waitGone(c2, root+"/ttl"))
	check("special.ttl_sequential_reaped", waitGone(c2, p))
	_, err = c1.conn.CreateTTL(root+"/ttl0", nil, zk.FlagTTL, zk.WorldACL(zk.PermAll), 0)
	check("special.ttl_zero", errName(err))

	// --- the library's lock recipe (protected ephemeral-sequential nodes, a watch on the
	// predecessor): c2 waits while c1 holds it and gets it once c1 unlocks.
	lock1 := zk.NewLock(c1.conn, root+"/lock", zk.WorldACL(zk.PermAll))
	must(lock1.Lock(), "lock 1")
	got2 := make(chan error, 1)
	lock2 := zk.NewLock(c2.conn, root+"/lock", zk.WorldACL(zk.PermAll))
	go func() { got2 <- lock2.Lock() }()
	// a window in which c2 must not get the lock (it cannot, on a correct server)
	blocked := false
	select {
	case <-got2:
	case <-time.After(500 * time.Millisecond):
		blocked = true
	}
	check("lock.second_blocked", blocked)
	// c2's contender node is created at once, but on a loaded machine maybe not within
	// the window above: wait (bounded) for both nodes.
	for deadline := time.Now().Add(waitFor); ; time.Sleep(50 * time.Millisecond) {
		children, _, err = c2.conn.Children(root + "/lock")
		if err != nil || len(children) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	check("lock.contenders", fmt.Sprintf("%d,%s", len(children), errName(err)))
	must(lock1.Unlock(), "unlock 1")
	select {
	case err = <-got2:
		check("lock.second_acquired", errName(err))
	case <-time.After(waitFor):
		check("lock.second_acquired", "timeout")
	}
	must(lock2.Unlock(), "unlock 2")
	children, _, err = c2.conn.Children(root + "/lock")
	check("lock.after_unlock", fmt.Sprintf("%d,%s", len(children), errName(err)))

	// --- four-letter words through the library's parsers
	fourLetterWords(addr, []*client{c1, c2, c3})

	// --- closing a session removes its ephemerals (as seen from another session)
	sid1 := c1.conn.SessionID()
	c1.conn.Close()
	ok, _, err = c2.conn.Exists(root + "/eph")
	check("close.ephemeral_gone", fmt.Sprintf("%v,%s", !ok, errName(err)))
	children, _, err = c2.conn.Children(root)
	must(err, "children after close")
	sort.Strings(children)
	check("close.children", strings.Join(children, ","))
	// Close returns once the server answered; the library's event loop moves the state
	// to StateDisconnected just after, on its own goroutine: wait for it (bounded).
	for deadline := time.Now().Add(5 * time.Second); c1.conn.State() != zk.StateDisconnected &&
		time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	check("close.c1_state", c1.conn.State())
	_ = sid1
	c2.conn.Close()
	c3.conn.Close()
}

// rawWord sends a four-letter word and returns the whole answer.
func rawWord(addr, word string) string {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	must(err, "dial "+word)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = conn.Write([]byte(word))
	must(err, "write "+word)
	out, err := io.ReadAll(conn)
	must(err, "read "+word)
	return string(out)
}

func fourLetterWords(addr string, clients []*client) {
	servers := []string{addr}
	check("flw.ruok", zk.FLWRuok(servers, 10*time.Second)[0])

	stats, ok := zk.FLWSrvr(servers, 10*time.Second)
	check("flw.srvr_ok", ok)
	if len(stats) == 1 {
		s := stats[0]
		check("flw.srvr_error", s.Error)
		check("flw.srvr_mode", s.Mode)
		check("flw.srvr_version_set", s.Version != "")
		check("flw.srvr_buildtime_set", !s.BuildTime.IsZero())
		check("flw.srvr_nodes_ge_5", s.NodeCount >= 5)
		check("flw.srvr_connections_ge_3", s.Connections >= 3)
		check("flw.srvr_counter_positive", s.Counter > 0)
	}

	// FLWCons: each of our three sessions is among the parsed clients, with its timeout.
	// The library reports not-ok when any line does not parse: Java lists the 4lw
	// connection itself without session fields, so "ok" is false on it too; the session
	// lines of a raw `cons` are counted instead.
	cons, ok := zk.FLWCons(servers, 10*time.Second)
	check("flw.cons_ok", ok)
	if len(cons) != 1 {
		fail("FLWCons gave %d servers", len(cons))
	}
	bySid := map[int64]*zk.ServerClient{}
	for _, sc := range cons[0].Clients {
		bySid[sc.SessionID] = sc
	}
	for _, c := range clients {
		sc := bySid[c.conn.SessionID()]
		if sc == nil {
			check("flw.cons_"+c.name, "missing")
			continue
		}
		addrOk := strings.HasPrefix(sc.Addr, "127.0.0.1:")
		// est is milliseconds since the epoch (the library reads it as seconds: its
		// time.Unix(n, 0) keeps n as the Unix() value); lresp is a monotonic clock's ms
		// on Java, so only > 0 is checked; lop (the last operation, PING when idle) too.
		nowMs := time.Now().UnixMilli()
		est := sc.Established.Unix()
		estOk := est > nowMs-10*60*1000 && est < nowMs+60*1000
		// queued: the library pings every timeout/3, and a ping in flight counts.
		check("flw.cons_"+c.name, fmt.Sprintf("to=%d,addr=%v,est=%v,lresp>0=%v,lop_set=%v,recved>0=%v,sent>0=%v,lzxid>0=%v,lcxid>0=%v,queued<=1=%v",
			sc.Timeout, addrOk, estOk, sc.LastResponse.Unix() > 0, sc.LastOperation != "",
			sc.Received > 0, sc.Sent > 0, sc.Lzxid > 0, sc.Lcxid > 0, sc.Queued <= 1))
	}
	// Every connection line with session fields must have parsed (lines without them --
	// the 4lw connection itself, connections still handshaking -- cannot).
	sessionLines := 0
	for _, l := range strings.Split(rawWord(addr, "cons"), "\n") {
		if strings.Contains(l, ",sid=0x") {
			sessionLines++
		}
	}
	check("flw.cons_unparsed_session_lines", sessionLines-len(cons[0].Clients))
}

// reconnect: c1 talks through the proxy the test drops; c2 through one it does not.
func reconnect(proxy, proxy2, root string) {
	in := bufio.NewScanner(os.Stdin)
	ask := func(what string) {
		fmt.Printf("WAIT %s\n", what)
		if !in.Scan() || in.Text() != "done "+what {
			fail("test did not confirm %q", what)
		}
	}
	c1 := connect("c1", proxy, 30*time.Second)
	c2 := connect("c2", proxy2, 30*time.Second)
	sid := c1.conn.SessionID()
	_, err := c1.conn.Create(root, nil, 0, zk.WorldACL(zk.PermAll))
	must(err, "create root")
	_, err = c1.conn.Create(root+"/eph", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	must(err, "create eph")
	_, err = c1.conn.Create(root+"/w", []byte("0"), 0, zk.WorldACL(zk.PermAll))
	must(err, "create w")

	// 1. The connection drops (proxy), the node changes meanwhile; on reconnect the
	//    client re-sends its watches (setWatches with its last zxid) and the server fires
	//    the data watch at once.
	_, _, dataCh, err := c1.conn.GetW(root + "/w")
	must(err, "getw")
	_, _, childCh, err := c1.conn.ChildrenW(root + "/w")
	must(err, "childrenw")
	mark := c1.eventCount()
	ask("drop")
	mark = c1.waitState(zk.StateDisconnected, mark)
	_, err = c2.conn.Set(root+"/w", []byte("1"), -1)
	must(err, "set w while c1 is away")
	ask("heal")
	next := c1.waitState(zk.StateHasSession, mark)
	check("drop.same_session", c1.conn.SessionID() == sid)
	evs, next := c1.nodeEvents(next, 1, root)
	check("drop.event_for_missed_change", "["+strings.Join(evs, "; ")+"]")
	ev := <-dataCh
	check("drop.data_channel", ev.Type)
	// The child watch was re-registered too and is still pending.
	_, err = c2.conn.Create(root+"/w/k", nil, 0, zk.WorldACL(zk.PermAll))
	must(err, "create w/k")
	evs, next = c1.nodeEvents(next, 1, root)
	check("drop.child_event_after", "["+strings.Join(evs, "; ")+"]")
	ev = <-childCh
	check("drop.child_channel", ev.Type)

	// 2. The server restarts (same dataDir and port) within the session timeout: the
	//    session survives, its ephemeral too, and a watch set before fires afterwards.
	_, _, dataCh, err = c1.conn.GetW(root + "/w")
	must(err, "getw 2")
	ok, _, existCh, err := c1.conn.ExistsW(root + "/later")
	must(err, "existsw 2")
	check("restart.later_exists_before", ok)
	mark = c1.eventCount()
	mark2 := c2.eventCount()
	ask("restart")
	next = c1.waitState(zk.StateHasSession, c1.waitState(zk.StateDisconnected, mark))
	c2.waitState(zk.StateHasSession, c2.waitState(zk.StateDisconnected, mark2))
	check("restart.same_session", c1.conn.SessionID() == sid)
	_, st, err := c2.conn.Get(root + "/eph")
	check("restart.ephemeral_kept", fmt.Sprintf("%s,%v", errName(err), err == nil && st.EphemeralOwner == sid))
	_, err = c2.conn.Set(root+"/w", []byte("2"), -1)
	must(err, "set w after restart")
	_, err = c2.conn.Create(root+"/later", nil, 0, zk.WorldACL(zk.PermAll))
	must(err, "create later")
	evs, _ = c1.nodeEvents(next, 2, root)
	check("restart.events", "["+strings.Join(evs, "; ")+"]")
	ev = <-dataCh
	check("restart.data_channel", ev.Type)
	ev = <-existCh
	check("restart.exist_channel", ev.Type)
	data, _, err := c1.conn.Get(root + "/w")
	check("restart.c1_read", string(data)+","+errName(err))

	// 3. A session that cannot reach the server for longer than its timeout expires:
	//    its ephemeral goes, and when the client gets through again the server answers
	//    "expired" (session id and timeout 0); the library reports it and starts a new
	//    session. c1 (30 s) is cut off too and keeps its session.
	c3 := connect("c3", proxy, 4*time.Second)
	check("expire.timeout", c3.timeout)
	sid3 := c3.conn.SessionID()
	_, err = c3.conn.Create(root+"/eph3", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	must(err, "create eph3")
	mark = c1.eventCount()
	mark3 := c3.eventCount()
	ask("drop")
	check("expire.ephemeral_gone", waitGone(c2, root+"/eph3"))
	ask("heal")
	next3 := c3.waitState(zk.StateExpired, mark3)
	c3.waitState(zk.StateHasSession, next3)
	check("expire.new_session", c3.conn.SessionID() != sid3 && c3.conn.SessionID() != 0)
	c1.waitState(zk.StateHasSession, c1.waitState(zk.StateDisconnected, mark))
	check("expire.c1_same_session", c1.conn.SessionID() == sid)
	c3.conn.Close()

	c1.conn.Close()
	ok, _, err = c2.conn.Exists(root + "/eph")
	check("close.ephemeral_gone", fmt.Sprintf("%v,%s", !ok, errName(err)))
	c2.conn.Close()
}

// waitGone polls (with c) until path does not exist; false if it still does after waitFor.
func waitGone(c *client, path string) bool {
	deadline := time.Now().Add(waitFor)
	for {
		ok, _, err := c.conn.Exists(path)
		if err == nil && !ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: goclient basic HOST:PORT ROOT | reconnect PROXY PROXY2 ROOT")
	}
	switch {
	case os.Args[1] == "basic" && len(os.Args) == 4:
		basic(os.Args[2], os.Args[3])
	case os.Args[1] == "reconnect" && len(os.Args) == 5:
		reconnect(os.Args[2], os.Args[3], os.Args[4])
	default:
		fail("bad arguments %v", os.Args[1:])
	}
	fmt.Println("DONE")
}
