package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// op builds one history record (a map, so tests can also write malformed ones).
func op(client int, kind, key string, call, ret int64, ok interface{}, kv ...interface{}) map[string]interface{} {
	m := map[string]interface{}{"client": client, "op": kind, "key": key, "call_ns": call, "ok": ok}
	if ret >= 0 {
		m["return_ns"] = ret
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func historyJSON(t *testing.T, initial map[string]interface{}, ops ...map[string]interface{}) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]interface{}{"initial": initial, "ops": ops})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runOn(t *testing.T, history []byte, extra ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append(extra, "-"), bytes.NewReader(history), &out, &errb)
	return code, out.String() + errb.String()
}

var init0 = map[string]interface{}{"/k0": "init", "/k1": "init"}

// A valid concurrent history: overlapping writes whose order is decided by the reads,
// a cas that wins and one that loses, reads concurrent with writes seeing either side,
// two keys interleaved, and unknown outcomes both ways.
func validHistory(t *testing.T) []byte {
	return historyJSON(t, init0,
		op(0, "write", "/k0", 0, 100, true, "value", "a"),
		op(1, "write", "/k0", 10, 90, true, "value", "b"),   // concurrent with a: b then a, or a then b
		op(2, "read", "/k0", 20, 80, true, "value", "init"), // before both writes took effect
		op(2, "read", "/k0", 110, 120, true, "value", "a"),  // so a was last
		op(0, "cas", "/k0", 130, 150, true, "expected", "a", "new", "c"),
		op(1, "cas", "/k0", 135, 160, false, "expected", "a", "new", "d"), // lost the race
		op(2, "read", "/k0", 170, 180, true, "value", "c"),
		// unknown write that did take effect: seen later
		op(3, "write", "/k1", 0, -1, nil, "value", "x", "err", "ConnectionLoss"),
		op(4, "read", "/k1", 5, 6, true, "value", "init"),
		op(4, "read", "/k1", 200, 210, true, "value", "x"),
		// unknown write that never took effect: never seen
		op(3, "write", "/k1", 300, 400, nil, "value", "never", "err", "OperationTimeout"),
		op(4, "read", "/k1", 500, 510, true, "value", "x"),
		// failed reads and definitely failed writes change nothing
		op(4, "read", "/k1", 520, 530, false, "err", "ConnectionLoss"),
		op(3, "write", "/k1", 540, 550, false, "value", "nope", "err", "NoAuth"),
		op(4, "read", "/k1", 560, 570, true, "value", "x"),
		// unknown cas that took effect
		op(5, "cas", "/k1", 600, -1, nil, "expected", "x", "new", "y"),
		op(4, "read", "/k1", 700, 710, true, "value", "y"),
		// a key never created reads as absent
		op(4, "read", "/k2", 0, 1, true, "value", nil),
	)
}

func TestAcceptsValidConcurrentHistory(t *testing.T) {
	code, out := runOn(t, validHistory(t))
	if code != exitLinearizable {
		t.Fatalf("exit %d, want 0: %s", code, out)
	}
	if !strings.Contains(out, "linearizable: 16 ops (3 unknown outcome, 2 without effect") {
		t.Fatalf("summary: %s", out)
	}
}

func TestRejectsStaleRead(t *testing.T) {
	// Two writes complete one after the other; a read that starts after the second
	// returned still sees the first.
	h := historyJSON(t, init0,
		op(0, "write", "/k0", 0, 10, true, "value", "a"),
		op(0, "write", "/k0", 20, 30, true, "value", "b"),
		op(1, "read", "/k0", 40, 50, true, "value", "a"),
		op(1, "write", "/k1", 0, 10, true, "value", "fine"),
		op(1, "read", "/k1", 60, 70, true, "value", "fine"),
	)
	code, out := runOn(t, h)
	if code != exitNotLinear {
		t.Fatalf("exit %d, want 1: %s", code, out)
	}
	if !strings.Contains(out, "[/k0]") {
		t.Fatalf("should name /k0 only: %s", out)
	}
}

func TestRejectsLostWrite(t *testing.T) {
	// A write was acknowledged, then every later read sees the value from before it.
	h := historyJSON(t, init0,
		op(0, "write", "/k0", 0, 10, true, "value", "a"),
		op(0, "write", "/k0", 20, 30, true, "value", "b"),
		op(1, "read", "/k0", 40, 50, true, "value", "b"),
		op(2, "write", "/k0", 60, 70, true, "value", "c"), // acknowledged ...
		op(1, "read", "/k0", 80, 90, true, "value", "b"),  // ... and gone
		op(1, "read", "/k0", 100, 110, true, "value", "b"),
	)
	code, out := runOn(t, h)
	if code != exitNotLinear {
		t.Fatalf("exit %d, want 1: %s", code, out)
	}
}

func TestRejectsWrongCasOutcome(t *testing.T) {
	// A cas reports failure although nothing else could have changed the value.
	h := historyJSON(t, init0,
		op(0, "write", "/k0", 0, 10, true, "value", "a"),
		op(1, "cas", "/k0", 20, 30, false, "expected", "a", "new", "b"),
	)
	if code, out := runOn(t, h); code != exitNotLinear {
		t.Fatalf("exit %d, want 1: %s", code, out)
	}
	// and one that reports success although the value was different
	h = historyJSON(t, init0,
		op(0, "write", "/k0", 0, 10, true, "value", "a"),
		op(1, "cas", "/k0", 20, 30, true, "expected", "z", "new", "b"),
	)
	if code, out := runOn(t, h); code != exitNotLinear {
		t.Fatalf("exit %d, want 1: %s", code, out)
	}
}

func TestUnknownWriteCannotTakeEffectBeforeItsCall(t *testing.T) {
	h := historyJSON(t, init0,
		op(1, "read", "/k0", 0, 10, true, "value", "u"),
		op(0, "write", "/k0", 20, -1, nil, "value", "u"),
	)
	if code, out := runOn(t, h); code != exitNotLinear {
		t.Fatalf("exit %d, want 1: %s", code, out)
	}
}

func TestMetaIsIgnored(t *testing.T) {
	h := `{"meta": {"seed": 3, "events": [{"label": "kill", "ns": 5}]}, "initial": {"/a": "x"},
	       "ops": [{"client": 0, "op": "read", "key": "/a", "value": "x", "call_ns": 1, "return_ns": 2, "ok": true}]}`
	if code, out := runOn(t, []byte(h)); code != exitLinearizable {
		t.Fatalf("exit %d, want 0: %s", code, out)
	}
}

func TestBadInput(t *testing.T) {
	cases := map[string]string{
		"not json":       `{"ops": [`,
		"no ops":         `{"initial": {}}`,
		"unknown op":     `{"ops": [{"client": 0, "op": "delete", "key": "/a", "call_ns": 1, "return_ns": 2, "ok": true}]}`,
		"unknown field":  `{"ops": [{"client": 0, "op": "read", "key": "/a", "call_ns": 1, "return_ns": 2, "ok": true, "vlaue": "x"}]}`,
		"no key":         `{"ops": [{"client": 0, "op": "read", "call_ns": 1, "return_ns": 2, "ok": true}]}`,
		"no return":      `{"ops": [{"client": 0, "op": "read", "key": "/a", "call_ns": 1, "ok": true}]}`,
		"return < call":  `{"ops": [{"client": 0, "op": "read", "key": "/a", "call_ns": 5, "return_ns": 2, "ok": true}]}`,
		"write no value": `{"ops": [{"client": 0, "op": "write", "key": "/a", "call_ns": 1, "return_ns": 2, "ok": true}]}`,
		"cas no new":     `{"ops": [{"client": 0, "op": "cas", "key": "/a", "expected": "x", "call_ns": 1, "return_ns": 2, "ok": true}]}`,
	}
	for name, h := range cases {
		if code, out := runOn(t, []byte(h)); code != exitBadInput {
			t.Errorf("%s: exit %d, want 2: %s", name, code, out)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"/nonexistent/history.json"}, nil, &out, &errb); code != exitBadInput {
		t.Errorf("missing file: exit %d", code)
	}
	if code := run(nil, nil, &out, &errb); code != exitBadInput {
		t.Errorf("no argument: exit %d", code)
	}
}

func TestVisualization(t *testing.T) {
	dir := t.TempDir()
	viz := filepath.Join(dir, "out.html")
	path := filepath.Join(dir, "h.json")
	if err := os.WriteFile(path, validHistory(t), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-viz", viz, path}, nil, &out, &errb); code != exitLinearizable {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	b, err := os.ReadFile(viz)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<html")) || !bytes.Contains(b, []byte("cas(/k0")) {
		t.Fatalf("visualization does not look right (%d bytes)", len(b))
	}
}
