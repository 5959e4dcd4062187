// The history file: what the recorder (compat-tests/lin_history.py) writes and the
// checker reads. The format is documented in README.md next to this file.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/anishathalye/porcupine"
)

// opRecord is one operation as written in the JSON history.
type opRecord struct {
	Client   *int    `json:"client"`
	Op       string  `json:"op"`
	Key      *string `json:"key"`
	Value    *string `json:"value"`    // write: the value written; read: the value seen (null = absent)
	Expected *string `json:"expected"` // cas: the value compared against (null = absent)
	New      *string `json:"new"`      // cas: the value set when the compare holds
	Ok       *bool   `json:"ok"`       // true / false = definite outcome; null or missing = unknown
	Err      string  `json:"err"`      // informational: why the op failed or its outcome is unknown
	CallNs   *int64  `json:"call_ns"`
	ReturnNs *int64  `json:"return_ns"` // may be null when the outcome is unknown
}

// historyFile is the top-level JSON object.
type historyFile struct {
	// Initial value of each key before the first operation; a key not listed starts
	// absent (null).
	Initial map[string]*string `json:"initial"`
	Ops     []json.RawMessage  `json:"ops"`
	// Anything the recorder wants to keep with the history (seed, events); not checked.
	Meta json.RawMessage `json:"meta"`
}

// Value of a register: absent, or present with a string.
type regValue struct {
	Present bool
	V       string
}

func (r regValue) String() string {
	if !r.Present {
		return "null"
	}
	return fmt.Sprintf("%q", r.V)
}

func valueOf(p *string) regValue {
	if p == nil {
		return regValue{}
	}
	return regValue{Present: true, V: *p}
}

const (
	opRead  = "read"
	opWrite = "write"
	opCas   = "cas"
)

// regInput is the porcupine Operation.Input.
type regInput struct {
	Op       string
	Key      string
	Value    regValue // write
	Expected regValue // cas
	New      regValue // cas
	Init     regValue // the key's initial value (the model's Init is per partition)
}

// regOutput is the porcupine Operation.Output.
type regOutput struct {
	Unknown bool     // the op may or may not have taken effect
	Ok      bool     // cas: the compare held (when not Unknown)
	Value   regValue // read: the value seen
}

// Stats about a parsed history, for the summary line.
type Stats struct {
	Ops     int // operations given to the checker
	Unknown int // of those, with unknown outcome (return at +inf)
	Dropped int // operations without effect left out (failed writes, failed/unknown reads)
	Keys    int
}

// ParseHistory decodes a JSON history into porcupine operations. Each error names the
// operation (index in "ops") that is malformed.
func ParseHistory(r io.Reader) ([]porcupine.Operation, Stats, error) {
	var st Stats
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, st, err
	}
	var hf historyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hf); err != nil {
		return nil, st, fmt.Errorf("history: %w", err)
	}
	if hf.Ops == nil {
		return nil, st, fmt.Errorf("history: no \"ops\" array")
	}
	var ops []porcupine.Operation
	keys := map[string]bool{}
	for i, raw := range hf.Ops {
		var rec opRecord
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&rec); err != nil {
			return nil, st, fmt.Errorf("ops[%d]: %w", i, err)
		}
		op, keep, err := convert(rec, hf.Initial)
		if err != nil {
			return nil, st, fmt.Errorf("ops[%d]: %w", i, err)
		}
		if !keep {
			st.Dropped++
			continue
		}
		if op.Output.(regOutput).Unknown {
			st.Unknown++
		}
		keys[*rec.Key] = true
		ops = append(ops, op)
	}
	st.Ops = len(ops)
	st.Keys = len(keys)
	return ops, st, nil
}

// convert checks one record and turns it into an Operation; keep=false for an op that
// cannot have changed anything and whose result says nothing (it is left out).
func convert(rec opRecord, initial map[string]*string) (porcupine.Operation, bool, error) {
	var none porcupine.Operation
	if rec.Client == nil || *rec.Client < 0 {
		return none, false, fmt.Errorf("missing or negative \"client\"")
	}
	if rec.Key == nil {
		return none, false, fmt.Errorf("missing \"key\"")
	}
	if rec.CallNs == nil {
		return none, false, fmt.Errorf("missing \"call_ns\"")
	}
	unknown := rec.Ok == nil
	if !unknown {
		if rec.ReturnNs == nil {
			return none, false, fmt.Errorf("\"return_ns\" is required when \"ok\" is true or false")
		}
		if *rec.ReturnNs < *rec.CallNs {
			return none, false, fmt.Errorf("return_ns %d before call_ns %d", *rec.ReturnNs, *rec.CallNs)
		}
	}
	in := regInput{Op: rec.Op, Key: *rec.Key, Init: valueOf(initial[*rec.Key])}
	out := regOutput{Unknown: unknown}
	switch rec.Op {
	case opRead:
		if rec.Expected != nil || rec.New != nil {
			return none, false, fmt.Errorf("read takes \"value\" only")
		}
		if unknown || !*rec.Ok {
			return none, false, nil // saw nothing, changed nothing
		}
		out.Value = valueOf(rec.Value)
	case opWrite:
		if rec.Value == nil {
			return none, false, fmt.Errorf("write needs a string \"value\"")
		}
		if rec.Expected != nil || rec.New != nil {
			return none, false, fmt.Errorf("write takes \"value\" only")
		}
		if !unknown && !*rec.Ok {
			return none, false, nil // definitely not applied
		}
		in.Value = valueOf(rec.Value)
	case opCas:
		if rec.New == nil {
			return none, false, fmt.Errorf("cas needs a string \"new\"")
		}
		if rec.Value != nil {
			return none, false, fmt.Errorf("cas takes \"expected\" and \"new\", not \"value\"")
		}
		in.Expected = valueOf(rec.Expected)
		in.New = valueOf(rec.New)
		out.Ok = !unknown && *rec.Ok
	default:
		return none, false, fmt.Errorf("unknown op %q (read, write or cas)", rec.Op)
	}
	ret := int64(math.MaxInt64) // unknown outcome: may take effect at any time after the call
	if !unknown {
		ret = *rec.ReturnNs
	}
	return porcupine.Operation{
		ClientId: *rec.Client,
		Input:    in,
		Call:     *rec.CallNs,
		Output:   out,
		Return:   ret,
	}, true, nil
}

// partitionByKey: a history of independent registers is linearizable iff each key's
// sub-history is (linearizability is compositional).
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(regInput).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}
