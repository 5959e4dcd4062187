// The sequential specification: one register per key with read, write and
// compare-and-set, partitioned by key.
package main

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// regState is the state of one key's register. porcupine's Init has no access to the
// partition, so the state starts "unset" and the first step takes the key's initial
// value from the operation's input (every op of a partition carries the same one).
type regState struct {
	Set   bool
	Value regValue
}

func (s regState) current(in regInput) regValue {
	if !s.Set {
		return in.Init
	}
	return s.Value
}

func step(state, input, output interface{}) (bool, interface{}) {
	st := state.(regState)
	in := input.(regInput)
	out := output.(regOutput)
	cur := st.current(in)
	switch in.Op {
	case opRead:
		// Unknown reads are dropped when parsing; a read that happened saw cur.
		return out.Value == cur, regState{Set: true, Value: cur}
	case opWrite:
		// Applied (ok, or unknown and linearized at this point: an unknown op that did
		// not take effect is linearized after everything else, at +inf, where it
		// changes nothing anyone observed).
		return true, regState{Set: true, Value: in.Value}
	case opCas:
		holds := cur == in.Expected
		next := cur
		if holds {
			next = in.New
		}
		if out.Unknown {
			return true, regState{Set: true, Value: next}
		}
		return out.Ok == holds, regState{Set: true, Value: next}
	}
	return false, state
}

func describeOperation(input, output interface{}) string {
	in := input.(regInput)
	out := output.(regOutput)
	switch in.Op {
	case opRead:
		return fmt.Sprintf("read(%s) -> %s", in.Key, out.Value)
	case opWrite:
		if out.Unknown {
			return fmt.Sprintf("write(%s, %s) -> unknown", in.Key, in.Value)
		}
		return fmt.Sprintf("write(%s, %s)", in.Key, in.Value)
	case opCas:
		r := "fail"
		if out.Unknown {
			r = "unknown"
		} else if out.Ok {
			r = "ok"
		}
		return fmt.Sprintf("cas(%s, %s -> %s) -> %s", in.Key, in.Expected, in.New, r)
	}
	return "<invalid>"
}

func describeState(state interface{}) string {
	st := state.(regState)
	if !st.Set {
		return "(initial)"
	}
	return st.Value.String()
}

// RegisterModel is the per-key register-with-CAS model.
var RegisterModel = porcupine.Model{
	Partition:         partitionByKey,
	Init:              func() interface{} { return regState{} },
	Step:              step,
	Equal:             func(a, b interface{}) bool { return a.(regState) == b.(regState) },
	DescribeOperation: describeOperation,
	DescribeState:     describeState,
}
