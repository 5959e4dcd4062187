// lincheck: is a recorded history of register operations (read / write / compare-and-set
// on string keys) linearizable? A thin command line over porcupine
// (github.com/anishathalye/porcupine). Input format and exit codes: README.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

const (
	exitLinearizable = 0
	exitNotLinear    = 1
	exitBadInput     = 2
	exitTimedOut     = 3
)

// Result of a check: the verdict, and for a history that is not linearizable the keys
// whose sub-histories have no linearization.
type Result struct {
	Verdict porcupine.CheckResult
	BadKeys []string
	Info    porcupine.LinearizationInfo
}

// Check runs porcupine over the history (all keys in parallel, one partition per key).
// timeout 0 = no limit.
func Check(ops []porcupine.Operation, timeout time.Duration) Result {
	verdict, info := porcupine.CheckOperationsVerbose(RegisterModel, ops, timeout)
	res := Result{Verdict: verdict, Info: info}
	if verdict == porcupine.Illegal {
		for _, part := range partitionByKey(ops) {
			single := RegisterModel
			single.Partition = nil
			if porcupine.CheckOperationsTimeout(single, part, timeout) == porcupine.Illegal {
				res.BadKeys = append(res.BadKeys, part[0].Input.(regInput).Key)
			}
		}
	}
	return res
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lincheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	viz := fs.String("viz", "", "write porcupine's HTML visualization of the check to this file")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long (exit 3); 0 = no limit")
	quiet := fs.Bool("q", false, "print nothing on success")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: lincheck [-viz out.html] [-timeout 60s] [-q] history.json|-\n"+
			"exit 0 linearizable, 1 not linearizable, 2 bad input, 3 timed out\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitBadInput
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitBadInput
	}
	var in io.Reader = stdin
	name := fs.Arg(0)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "lincheck: %v\n", err)
			return exitBadInput
		}
		defer f.Close()
		in = f
	}
	ops, st, err := ParseHistory(in)
	if err != nil {
		fmt.Fprintf(stderr, "lincheck: %s: %v\n", name, err)
		return exitBadInput
	}
	start := time.Now()
	res := Check(ops, *timeout)
	took := time.Since(start).Round(time.Millisecond)
	if *viz != "" {
		if err := porcupine.VisualizePath(RegisterModel, res.Info, *viz); err != nil {
			fmt.Fprintf(stderr, "lincheck: writing %s: %v\n", *viz, err)
		}
	}
	summary := fmt.Sprintf("%d ops (%d unknown outcome, %d without effect left out) on %d keys, checked in %v",
		st.Ops, st.Unknown, st.Dropped, st.Keys, took)
	switch res.Verdict {
	case porcupine.Ok:
		if !*quiet {
			fmt.Fprintf(stdout, "linearizable: %s\n", summary)
		}
		return exitLinearizable
	case porcupine.Illegal:
		fmt.Fprintf(stdout, "NOT linearizable: %s; keys without a linearization: %v\n", summary, res.BadKeys)
		return exitNotLinear
	default:
		fmt.Fprintf(stdout, "timed out after %v: %s\n", *timeout, summary)
		return exitTimedOut
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
