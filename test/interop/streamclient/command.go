package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// commandStreams is a remote-command session once its streams exist, whatever the transport.
// Absent streams are nil: the request did not ask for them, or the protocol has none.
type commandStreams struct {
	protocol string
	// stdin's Close tells the process EOF where the protocol can say so.
	stdin  io.WriteCloser
	stdout io.Reader
	stderr io.Reader
	errors io.Reader
	resize func(terminalSize) error
	close  func()
}

type commandReport struct {
	Protocol string `json:"protocol"`
	// ExitCode comes from the error stream: 0 when it stayed empty or said Success, the
	// ExitCode cause of a v4 NonZeroExitCode Status; null otherwise (see Error).
	ExitCode         *int     `json:"exitCode"`
	Error            string   `json:"error"`
	Stdin            *summary `json:"stdin,omitempty"`
	Stdout           *summary `json:"stdout,omitempty"`
	Stderr           *summary `json:"stderr,omitempty"`
	StoppedAtMarkers bool     `json:"stoppedAtMarkers"`
}

// status is the part of Kubernetes' metav1.Status that the v4 error stream is read for.
type status struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
	Details *struct {
		Causes []struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"causes"`
	} `json:"details"`
}

func runCommand(o *options) (*commandReport, error) {
	var s *commandStreams
	var err error
	if o.transport == "spdy" {
		s, err = spdyCommand(o)
	} else {
		s, err = wsCommand(o)
	}
	if err != nil {
		return nil, err
	}
	defer s.close()
	report := &commandReport{Protocol: s.protocol}

	stdout, stderr := newCollector(o.untilStdout), newCollector(o.untilStderr)
	var outputs sync.WaitGroup
	for _, out := range []struct {
		from io.Reader
		to   *collector
	}{{s.stdout, stdout}, {s.stderr, stderr}} {
		if out.from == nil {
			continue
		}
		outputs.Add(1)
		go func(from io.Reader, to *collector) {
			defer outputs.Done()
			io.Copy(to, from)
		}(out.from, out.to)
	}
	type errorMessage struct {
		text []byte
		err  error
	}
	errorStream := make(chan errorMessage, 1)
	go func() {
		text, err := io.ReadAll(s.errors)
		errorStream <- errorMessage{text, err}
	}()

	if o.resize != nil && s.resize != nil {
		if err := s.resize(*o.resize); err != nil {
			return nil, fmt.Errorf("sending the terminal size: %w", err)
		}
	}
	if s.stdin != nil {
		report.Stdin = summarize(o.stdin)
		go func() {
			// A process may exit before it read everything; that is its business, not a failure.
			if writeChunks(s.stdin, o.stdin) == nil && !o.holdStdin {
				s.stdin.Close()
			}
		}()
	}

	type outcome struct {
		exitCode *int
		text     string
		err      error
	}
	ended := make(chan outcome, 1)
	go func() {
		// client-go's order: the outputs run dry, then the error stream says how it ended.
		outputs.Wait()
		var o outcome
		message := <-errorStream
		if message.err != nil {
			o.err = fmt.Errorf("reading the error stream: %w", message.err)
		} else {
			o.exitCode, o.text, o.err = decodeOutcome(s.protocol, message.text)
		}
		ended <- o
	}()
	var failure error
	select {
	case end := <-ended:
		report.ExitCode, report.Error, failure = end.exitCode, end.text, end.err
	case <-markersSeen(stdout, stderr):
		report.StoppedAtMarkers = true
	}
	if s.stdout != nil {
		report.Stdout = stdout.summary()
	}
	if s.stderr != nil {
		report.Stderr = stderr.summary()
	}
	return report, failure
}

// markersSeen closes once every configured marker was seen; never when none is configured.
func markersSeen(collectors ...*collector) <-chan struct{} {
	var waits []<-chan struct{}
	for _, c := range collectors {
		if c.marker != "" {
			waits = append(waits, c.seen)
		}
	}
	if len(waits) == 0 {
		return make(chan struct{})
	}
	return waitAll(waits...)
}

func waitAll(chans ...<-chan struct{}) <-chan struct{} {
	all := make(chan struct{})
	go func() {
		for _, c := range chans {
			<-c
		}
		close(all)
	}()
	return all
}

// decodeOutcome reads the error stream as client-go does: before v4 any text is the error;
// from v4 on it is a Status, whose NonZeroExitCode failure names the exit code as a cause.
func decodeOutcome(protocol string, message []byte) (*int, string, error) {
	zero := 0
	if len(message) == 0 {
		return &zero, "", nil
	}
	if !strings.HasPrefix(protocol, "v4.") && !strings.HasPrefix(protocol, "v5.") {
		return nil, string(message), nil
	}
	var st status
	if err := json.Unmarshal(message, &st); err != nil {
		return nil, "", fmt.Errorf("the error stream of %s holds no Status: %v in %q", protocol, err, message)
	}
	switch st.Status {
	case "Success":
		return &zero, "", nil
	case "Failure":
		if st.Reason == "NonZeroExitCode" && st.Details != nil {
			for _, cause := range st.Details.Causes {
				if cause.Reason != "ExitCode" {
					continue
				}
				code, err := strconv.Atoi(cause.Message)
				if err != nil {
					return nil, "", fmt.Errorf("the ExitCode cause %q is not a number", cause.Message)
				}
				return &code, st.Message, nil
			}
		}
		return nil, st.Message, nil
	}
	return nil, "", fmt.Errorf("the error stream's Status is %q, neither Success nor Failure", st.Status)
}
