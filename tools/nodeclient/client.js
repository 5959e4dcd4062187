'use strict';
// The compat suite's Node client program (compat-tests/test_client_node.py): drives
// node-zookeeper-client against one server and prints "CHECK name value" lines, which the
// test compares with the values every server kind must give.
//
//   node client.js basic HOST:PORT ROOT      sessions, CRUD + Stat, sequential nodes, multi
//                                            (transaction), watches, digest ACLs, close
//   node client.js reconnect PROXY PROXY2 ROOT
//       a session through a TCP proxy (PROXY) that the test drops and heals, then a server
//       restart, then a drop longer than a session's timeout; the second client talks
//       through PROXY2. The program prints "WAIT <what>"
//       and reads "done <what>" once the test did it (drop, heal, restart).
//
// Every wait has a deadline; the program ends with "DONE" (exit 0) or "FAIL <why>" (exit 1).

const crypto = require('crypto');
const readline = require('readline');
const zookeeper = require('node-zookeeper-client');

const { ACL, Id, Permission, CreateMode } = zookeeper;
const WAIT_MS = 60000;

function check(name, value) {
    process.stdout.write(`CHECK ${name} ${value}\n`);
}

function fail(why) {
    process.stdout.write(`FAIL ${why}\n`);
    process.exit(1);
}

// The server's error codes by the names the Go program prints too.
const CODE_NAMES = {
    0: 'ok', '-2': 'RUNTIMEINCONSISTENCY', '-4': 'CONNECTIONLOSS', '-101': 'NONODE',
    '-102': 'NOAUTH', '-103': 'BADVERSION', '-108': 'NOCHILDRENFOREPHEMERALS',
    '-110': 'NODEEXISTS', '-111': 'NOTEMPTY', '-112': 'SESSIONEXPIRED', '-114': 'INVALIDACL',
};

function codeName(code) {
    return CODE_NAMES[code] || `code ${code}`;
}

function errName(err) {
    if (!err) return 'ok';
    if (typeof err.getCode === 'function') return codeName(err.getCode());
    return String(err);
}

function statFields(st) {
    return `version=${st.version},cversion=${st.cversion},aversion=${st.aversion},` +
        `dataLength=${st.dataLength},numChildren=${st.numChildren}`;
}

function long(buf) {
    return Buffer.from(buf).readBigInt64BE(0);
}

function digestAcl(perms, user, password) {
    const digest = crypto.createHash('sha1').update(`${user}:${password}`).digest('base64');
    return new ACL(perms, new Id('digest', `${user}:${digest}`));
}

const OPEN = zookeeper.ACL.OPEN_ACL_UNSAFE;

function withDeadline(promise, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no ${what} within ${WAIT_MS} ms`)), WAIT_MS);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A client plus every watch event and state change it delivered, in order.
class Client {
    constructor(name, addr, timeoutMs) {
        this.name = name;
        this.log = [];  // {kind: 'state'|'event', value}
        this.waiters = [];
        this.zk = zookeeper.createClient(addr, { sessionTimeout: timeoutMs, spinDelay: 200 });
        this.zk.on('state', (s) => this.push('state', s.getName()));
    }

    push(kind, value) {
        this.log.push({ kind, value });
        for (const w of this.waiters.slice()) w();
    }

    // Resolves with the index after the first entry at or after `from` that satisfies pred.
    waitFor(from, what, pred) {
        return withDeadline(new Promise((resolve) => {
            const look = () => {
                for (let i = from; i < this.log.length; i++) {
                    if (pred(this.log[i])) {
                        this.waiters = this.waiters.filter((w) => w !== look);
                        resolve(i + 1);
                        return;
                    }
                }
            };
            this.waiters.push(look);
            look();
        }), `${this.name}: ${what} (log ${JSON.stringify(this.log)})`);
    }

    waitState(state, from = 0) {
        return this.waitFor(from, `state ${state}`, (e) => e.kind === 'state' && e.value === state);
    }

    // n watch events from index `from`, as "TYPE path" with the root shown as <root>.
    async events(from, n, root) {
        const out = [];
        let i = from;
        while (out.length < n) {
            i = await this.waitFor(i, `watch event #${out.length + 1}`, (e) => e.kind === 'event');
            out.push(this.log[i - 1].value.replace(root, '<root>'));
        }
        return [out, i];
    }

    watcher() {
        return (ev) => this.push('event', `${ev.getName()} ${ev.getPath()}`);
    }

    async connect() {
        const connected = this.waitState('SYNC_CONNECTED');
        this.zk.connect();
        await connected;
        return this;
    }

    // Promise versions of the callbacks: [err, ...results], never rejecting.
    call(method, ...args) {
        return withDeadline(new Promise((resolve) => {
            this.zk[method](...args, (err, ...res) => resolve([err, ...res]));
        }), `${this.name}: answer to ${method}`);
    }

    create(path, data, acls, mode) {
        return this.call('create', path, data === null ? null : Buffer.from(data), acls, mode);
    }

    commit(tx) {
        return withDeadline(new Promise((resolve) => tx.commit((err, res) => resolve([err, res]))),
            `${this.name}: transaction`);
    }
}

async function must(promise, what) {
    const res = await promise;
    if (res[0]) fail(`${what}: ${errName(res[0])}`);
    return res;
}

async function basic(addr, root) {
    // --- sessions
    const c1 = await new Client('c1', addr, 10000).connect();
    const c2 = await new Client('c2', addr, 10000).connect();
    const sid1 = c1.zk.getSessionId();
    check('session.id_nonzero', long(sid1) !== 0n);
    check('session.distinct', !sid1.equals(c2.zk.getSessionId()));
    check('session.timeout', c1.zk.getSessionTimeout());
    check('session.state', c1.zk.getState().getName());

    // --- CRUD with Stat
    const p = root;
    let [err, path] = await must(c1.create(p, 'top', OPEN, CreateMode.PERSISTENT), 'create root');
    check('crud.create_path', path === p);
    let data, st;
    [err, data, st] = await must(c1.call('getData', p), 'get root');
    check('crud.root_data', data.toString());
    check('crud.root_stat', statFields(st));
    check('crud.root_czxid_is_mzxid', long(st.czxid) === long(st.mzxid) && long(st.czxid) === long(st.pzxid));
    await must(c1.create(`${p}/a`, '1', OPEN, CreateMode.PERSISTENT), 'create a');
    [err, st] = await must(c1.call('setData', `${p}/a`, Buffer.from('22'), 0), 'set a');
    check('crud.set_stat', statFields(st));
    check('crud.set_mzxid_after_czxid', long(st.mzxid) > long(st.czxid));
    [err] = await c1.call('setData', `${p}/a`, Buffer.from('x'), 0);
    check('crud.set_bad_version', errName(err));
    [err] = await c1.create(`${p}/a`, null, OPEN, CreateMode.PERSISTENT);
    check('crud.create_exists', errName(err));
    [err] = await c1.create(`${p}/none/x`, null, OPEN, CreateMode.PERSISTENT);
    check('crud.create_no_parent', errName(err));
    [err] = await c1.call('remove', p, -1);
    check('crud.delete_not_empty', errName(err));
    [err] = await c1.call('getData', `${p}/missing`);
    check('crud.get_missing', errName(err));
    [err, data, st] = await must(c2.call('getData', p), 'get root from c2');
    check('crud.root_stat_after_child', statFields(st));
    [err, st] = await must(c2.call('exists', `${p}/a`), 'exists a');
    check('crud.exists', `${st !== null},${statFields(st)},ephemeralOwner=${long(st.ephemeralOwner)}`);
    [err] = await c1.call('remove', `${p}/a`, 5);
    check('crud.delete_bad_version', errName(err));
    [err] = await c1.call('remove', `${p}/a`, 1);
    check('crud.delete', errName(err));
    [err, st] = await c2.call('exists', `${p}/a`);
    check('crud.exists_after_delete', `${!!st},${errName(err)}`);
    await must(c1.create(`${p}/eph`, 'e', OPEN, CreateMode.EPHEMERAL), 'create eph');
    [err, data, st] = await must(c2.call('getData', `${p}/eph`), 'get eph');
    check('crud.ephemeral_owner_is_c1', Buffer.from(st.ephemeralOwner).equals(sid1));
    [err] = await c1.create(`${p}/eph/x`, null, OPEN, CreateMode.PERSISTENT);
    check('crud.ephemeral_child', errName(err));

    // --- sequential nodes (the suffix is the parent's cversion)
    const seqs = [];
    for (let i = 0; i < 2; i++) {
        [err, path] = await must(c1.create(`${p}/s-`, null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL), 'create seq');
        seqs.push(path.slice(p.length + 1));
    }
    [err, path] = await must(c1.create(`${p}/es-`, null, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL), 'create eph seq');
    seqs.push(path.slice(p.length + 1));
    check('seq.names', seqs.join(','));
    let children;
    [err, children, st] = await must(c2.call('getChildren', p), 'children');
    check('seq.children', children.sort().join(','));
    check('seq.parent_stat', statFields(st));

    // --- multi. (The library's transaction turns a version 0 into -1, "any": the ops
    // below use -1 or versions other than 0.)
    let results;
    [err, results] = await c1.commit(c1.zk.transaction()
        .create(`${p}/m1`, Buffer.from('x'), OPEN, CreateMode.PERSISTENT)
        .setData(`${p}/m1`, Buffer.from('y'), -1)
        .check(`${p}/m1`, 1)
        .create(`${p}/m2`, OPEN, CreateMode.PERSISTENT)
        .remove(`${p}/m2`, -1));
    check('multi.ok_err', errName(err));
    const shown = (results || []).map((r) => {
        if (r.err !== undefined && r.err !== 0) return codeName(r.err);
        let s = 'ok';
        if (r.path) s += `:${r.path.replace(root, '<root>')}`;
        if (r.stat) s += `:v${r.stat.version}`;
        return s;
    });
    check('multi.ok_results', `[${shown.join(' ')}]`);
    [err, data] = await c2.call('getData', `${p}/m1`);
    check('multi.ok_m1', `${data},${errName(err)}`);
    [err, results] = await c1.commit(c1.zk.transaction()
        .create(`${p}/m3`, OPEN, CreateMode.PERSISTENT)
        .setData(`${p}/m1`, Buffer.from('z'), 7)
        .remove(`${p}/m1`, -1));
    check('multi.fail_err', errName(err));
    check('multi.fail_results', `[${(results || []).map((r) => codeName(r.err)).join(' ')}]`);
    [err, st] = await c2.call('exists', `${p}/m3`);
    check('multi.fail_m3_exists', !!st);
    [err, data, st] = await c2.call('getData', `${p}/m1`);
    check('multi.fail_m1', `${data},v${st.version}`);

    // --- one-shot watches, in the order the changes were made
    await must(c1.create(`${p}/w`, '0', OPEN, CreateMode.PERSISTENT), 'create w');
    const mark = c1.log.length;
    await must(c1.call('getData', `${p}/w`, c1.watcher()), 'getData+watch');
    await must(c1.call('getChildren', `${p}/w`, c1.watcher()), 'getChildren+watch');
    [err, st] = await must(c1.call('exists', `${p}/nx`, c1.watcher()), 'exists+watch');
    check('watch.exists_missing', !!st);
    await must(c2.call('setData', `${p}/w`, Buffer.from('1'), -1), 'set w');
    await must(c2.create(`${p}/w/c`, null, OPEN, CreateMode.PERSISTENT), 'create w/c');
    await must(c2.create(`${p}/nx`, null, OPEN, CreateMode.PERSISTENT), 'create nx');
    let evs, next;
    [evs, next] = await c1.events(mark, 3, root);
    check('watch.events', `[${evs.join('; ')}]`);
    // One-shot: these notify nobody; the delete (a fresh watch) is the next event.
    await must(c2.call('setData', `${p}/w`, Buffer.from('2'), -1), 'set w again');
    await must(c2.create(`${p}/w/d`, null, OPEN, CreateMode.PERSISTENT), 'create w/d');
    await must(c1.call('getData', `${p}/w/c`, c1.watcher()), 'getData w/c+watch');
    [err] = await c2.call('remove', `${p}/w/c`, -1);
    check('watch.delete', errName(err));
    [evs, next] = await c1.events(next, 1, root);
    check('watch.after_oneshot', `[${evs.join('; ')}]`);

    // --- ACLs: digest auth
    c1.zk.addAuthInfo('digest', Buffer.from('alice:pw'));
    await must(c1.create(`${p}/secret`, 's', [digestAcl(Permission.ALL, 'alice', 'pw')], CreateMode.PERSISTENT),
        'create secret');
    [err, data] = await c1.call('getData', `${p}/secret`);
    check('acl.owner_read', `${data},${errName(err)}`);
    [err] = await c2.call('getData', `${p}/secret`);
    check('acl.other_read', errName(err));
    [err] = await c2.call('setData', `${p}/secret`, Buffer.from('t'), -1);
    check('acl.other_write', errName(err));
    [err] = await c2.call('getACL', `${p}/secret`);
    check('acl.other_getacl', errName(err));
    let acls;
    [err, acls, st] = await must(c1.call('getACL', `${p}/secret`), 'getACL');
    check('acl.get', `${acls[0].permission}:${acls[0].id.scheme}:${acls[0].id.id},aversion=${st.aversion}`);
    const c3 = await new Client('c3', addr, 10000).connect();
    c3.zk.addAuthInfo('digest', Buffer.from('alice:wrong'));
    [err] = await c3.call('getData', `${p}/secret`);
    check('acl.wrong_password_read', errName(err));
    c2.zk.addAuthInfo('digest', Buffer.from('alice:pw'));
    [err, data] = await c2.call('getData', `${p}/secret`);
    check('acl.after_auth_read', `${data},${errName(err)}`);
    const readOnly = [new ACL(Permission.READ, new Id('world', 'anyone')), digestAcl(Permission.ALL, 'alice', 'pw')];
    [err] = await c1.call('setACL', `${p}/w`, readOnly, 0);
    check('acl.setacl', errName(err));
    [err] = await c3.call('setData', `${p}/w`, Buffer.from('x'), -1);
    check('acl.readonly_write', errName(err));
    [err, data] = await c3.call('getData', `${p}/w`);
    check('acl.readonly_read', `${data},${errName(err)}`);
    [err] = await c3.create(`${p}/w/x`, null, OPEN, CreateMode.PERSISTENT);
    check('acl.readonly_create', errName(err));

    // --- closing a session removes its ephemerals (seen from another session). The
    // library reports no event when its close completes: wait for the nodes to go.
    c1.zk.close();
    const gone = await waitCondition(async () => {
        const [, s1] = await c2.call('exists', `${p}/eph`);
        const [, s2] = await c2.call('exists', `${p}/es-0000000004`);
        return !s1 && !s2;
    });
    check('close.ephemeral_gone', gone);
    [err, children] = await must(c2.call('getChildren', p), 'children after close');
    check('close.children', children.sort().join(','));
    c2.zk.close();
    c3.zk.close();
}

async function waitCondition(pred, ms = 20000) {
    const deadline = Date.now() + ms;
    for (;;) {
        if (await pred()) return true;
        if (Date.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, 100));
    }
}

async function reconnect(proxy, proxy2, root) {
    const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
    const ask = async (what) => {
        process.stdout.write(`WAIT ${what}\n`);
        const { value, done } = await withDeadline(lines.next(), `confirmation of ${what}`);
        if (done || value !== `done ${what}`) fail(`test did not confirm ${what}`);
    };
    const c1 = await new Client('c1', proxy, 30000).connect();
    const c2 = await new Client('c2', proxy2, 30000).connect();
    const sid = c1.zk.getSessionId();
    const p = root;
    await must(c1.create(p, null, OPEN, CreateMode.PERSISTENT), 'create root');
    await must(c1.create(`${p}/eph`, null, OPEN, CreateMode.EPHEMERAL), 'create eph');
    await must(c1.create(`${p}/w`, '0', OPEN, CreateMode.PERSISTENT), 'create w');

    // 1. The connection drops (proxy), the node changes meanwhile; on reconnect the
    //    client re-sends its watches (setWatches with its last zxid): the data watch fires.
    await must(c1.call('getData', `${p}/w`, c1.watcher()), 'getData+watch');
    await must(c1.call('getChildren', `${p}/w`, c1.watcher()), 'getChildren+watch');
    let mark = c1.log.length;
    await ask('drop');
    mark = await c1.waitState('DISCONNECTED', mark);
    await must(c2.call('setData', `${p}/w`, Buffer.from('1'), -1), 'set w while c1 is away');
    await ask('heal');
    let next = await c1.waitState('SYNC_CONNECTED', mark);
    check('drop.same_session', c1.zk.getSessionId().equals(sid));
    let evs;
    [evs, next] = await c1.events(next, 1, root);
    check('drop.event_for_missed_change', `[${evs.join('; ')}]`);
    await must(c2.create(`${p}/w/k`, null, OPEN, CreateMode.PERSISTENT), 'create w/k');
    [evs, next] = await c1.events(next, 1, root);
    check('drop.child_event_after', `[${evs.join('; ')}]`);

    // 2. The server restarts (same dataDir and port) within the session timeout.
    await must(c1.call('getData', `${p}/w`, c1.watcher()), 'getData+watch 2');
    let err, st, data;
    [err, st] = await must(c1.call('exists', `${p}/later`, c1.watcher()), 'exists+watch 2');
    check('restart.later_exists_before', !!st);
    mark = c1.log.length;
    const mark2 = c2.log.length;
    await ask('restart');
    next = await c1.waitState('SYNC_CONNECTED', await c1.waitState('DISCONNECTED', mark));
    await c2.waitState('SYNC_CONNECTED', await c2.waitState('DISCONNECTED', mark2));
    check('restart.same_session', c1.zk.getSessionId().equals(sid));
    [err, data, st] = await c2.call('getData', `${p}/eph`);
    check('restart.ephemeral_kept', `${errName(err)},${!err && Buffer.from(st.ephemeralOwner).equals(sid)}`);
    await must(c2.call('setData', `${p}/w`, Buffer.from('2'), -1), 'set w after restart');
    await must(c2.create(`${p}/later`, null, OPEN, CreateMode.PERSISTENT), 'create later');
    [evs] = await c1.events(next, 2, root);
    check('restart.events', `[${evs.join('; ')}]`);
    [err, data] = await c1.call('getData', `${p}/w`);
    check('restart.c1_read', `${data},${errName(err)}`);

    // 3. A session that cannot reach the server for longer than its timeout expires: its
    //    ephemeral goes, and when the client gets through again the server answers
    //    "expired" (timeout 0), which the library reports (and stops). c1 (30 s) is cut
    //    off too and keeps its session.
    const c3 = await new Client('c3', proxy, 4000).connect();
    check('expire.timeout', c3.zk.getSessionTimeout());
    await must(c3.create(`${p}/eph3`, null, OPEN, CreateMode.EPHEMERAL), 'create eph3');
    mark = c1.log.length;
    const mark3 = c3.log.length;
    await ask('drop');
    check('expire.ephemeral_gone',
        await waitCondition(async () => !(await c2.call('exists', `${p}/eph3`))[1], WAIT_MS));
    await ask('heal');
    await c3.waitState('EXPIRED', mark3);
    check('expire.state', c3.zk.getState().getName());
    await c1.waitState('SYNC_CONNECTED', await c1.waitState('DISCONNECTED', mark));
    check('expire.c1_same_session', c1.zk.getSessionId().equals(sid));

    c1.zk.close();
    const gone = await waitCondition(async () => !(await c2.call('exists', `${p}/eph`))[1]);
    check('close.ephemeral_gone', gone);
    c2.zk.close();
}

async function main() {
    const args = process.argv.slice(2);
    if (args[0] === 'basic' && args.length === 3) {
        await basic(args[1], args[2]);
    } else if (args[0] === 'reconnect' && args.length === 4) {
        await reconnect(args[1], args[2], args[3]);
    } else {
        fail('usage: client.js basic HOST:PORT ROOT | reconnect PROXY PROXY2 ROOT');
    }
    process.stdout.write('DONE\n');
    process.exit(0);
}

main().catch((e) => fail(e && e.stack ? e.stack.replace(/\n/g, ' | ') : String(e)));
