// Command streamclient drives one of runcri's streaming URLs (the answer of Exec, Attach or
// PortForward) the way Kubernetes' clients do, through real third-party protocol stacks:
// SPDY/3.1 with github.com/docker/spdystream (what Kubernetes' own SPDY code is forked from)
// and WebSocket with github.com/gorilla/websocket (what kubectl uses). It prints one JSON
// report on stdout for a test to check, and exits 0 when the protocol ran to its end; a
// protocol failure, a refused upgrade or the -timeout exits 2 with the reason on stderr.
//
// Remote commands (exec and attach speak the same wire):
//
//	streamclient -mode exec -transport spdy -protocol v4.channel.k8s.io -url URL \
//	    [-stdout=false] [-stderr] [-tty] [-resize 120x40] \
//	    [-stdin-text TEXT | -stdin-random BYTES] [-stdin-hold] [-until TEXT] [-until-stderr TEXT]
//
// The streams opened must match the Exec/Attach request (stdin, stdout, stderr, tty). stdin is
// closed after its data unless -stdin-hold (as a terminal stays open); over WebSocket only
// v5.channel.k8s.io can say so. -until stops the session once the output showed the markers,
// which is how an attach client leaves a container that keeps running. The report:
//
//	{"protocol", "exitCode" (null when the error stream did not give one), "error",
//	 "stdin"/"stdout"/"stderr": {"bytes", "sha256", "text"}, "stoppedAtMarkers"}
//
// Port-forward, against an echo server in the pod (each request sends its data and reads until
// as much came back, or the pod side closed):
//
//	streamclient -mode portforward -transport spdy|websocket|ws-tunnel [-protocol P] -url URL -port 8080 \
//	    (-send-text TEXT | -send-random BYTES) [-requests N]
//
// Over SPDY the N requests share one connection (paired by requestID), and so they do over
// ws-tunnel, where the SPDY connection runs inside a WebSocket (kubectl 1.30+); over WebSocket they are
// the N channel pairs of the URL, one per port of the PortForward request. The report:
//
//	{"protocol", "requests": [{"sent", "received", "error", "dataPortPrefix", "errorPortPrefix"}]}
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// chunkSize is what client-go's io.Copy calls move at a time.
const chunkSize = 32 * 1024

// textLimit bounds how much of a stream the report quotes; checksums cover the rest.
const textLimit = 64 * 1024

type options struct {
	mode, transport, url string
	protocols            []string
	timeout              time.Duration

	stdout, stderr, tty bool
	resize              *terminalSize
	stdin               []byte
	hasStdin, holdStdin bool
	untilStdout         string
	untilStderr         string

	port     int
	send     []byte
	requests int
}

// terminalSize is the resize message: Kubernetes' TerminalSize as JSON.
type terminalSize struct {
	Width  uint16 `json:"Width"`
	Height uint16 `json:"Height"`
}

// summary is what the report says about one direction of bytes.
type summary struct {
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
	Text   string `json:"text"`
}

func summarize(data []byte) *summary {
	s := newCollector("")
	s.Write(data)
	return s.summary()
}

// collector takes one stream's bytes: counts, hashes, keeps the start as text and tells when
// a marker showed up.
type collector struct {
	mu     sync.Mutex
	bytes  int
	h      hash.Hash
	text   []byte
	marker string
	seen   chan struct{}
	once   sync.Once
}

func newCollector(marker string) *collector {
	return &collector{h: sha256.New(), marker: marker, seen: make(chan struct{})}
}

func (c *collector) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bytes += len(p)
	c.h.Write(p)
	if room := textLimit - len(c.text); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		c.text = append(c.text, p[:room]...)
	}
	if c.marker != "" && strings.Contains(string(c.text), c.marker) {
		c.once.Do(func() { close(c.seen) })
	}
	return len(p), nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

func (c *collector) summary() *summary {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &summary{Bytes: c.bytes, SHA256: hex.EncodeToString(c.h.Sum(nil)), Text: string(c.text)}
}

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamclient:", err)
		os.Exit(2)
	}
	type result struct {
		report interface{}
		err    error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		switch o.mode {
		case "exec", "attach":
			r.report, r.err = runCommand(o)
		case "portforward":
			r.report, r.err = runForward(o)
		}
		done <- r
	}()
	select {
	case r := <-done:
		if r.err != nil {
			fmt.Fprintln(os.Stderr, "streamclient:", r.err)
			os.Exit(2)
		}
		out, _ := json.Marshal(r.report)
		fmt.Println(string(out))
	case <-time.After(o.timeout):
		fmt.Fprintf(os.Stderr, "streamclient: %s %s over %s did not finish within %s\n", o.mode, strings.Join(o.protocols, ","), o.transport, o.timeout)
		os.Exit(2)
	}
}

func parseFlags() (*options, error) {
	o := &options{}
	var protocols, resize, stdinText, sendText string
	var stdinRandom, sendRandom int
	flag.StringVar(&o.mode, "mode", "exec", "exec, attach or portforward")
	flag.StringVar(&o.transport, "transport", "spdy", "spdy, websocket, or ws-tunnel (port-forward as SPDY inside a WebSocket)")
	flag.StringVar(&o.url, "url", "", "the URL Exec, Attach or PortForward returned")
	flag.StringVar(&protocols, "protocol", "", "subprotocols to offer, comma-separated, preferred first")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "give up after this long")
	flag.BoolVar(&o.stdout, "stdout", true, "open the stdout stream")
	flag.BoolVar(&o.stderr, "stderr", false, "open the stderr stream")
	flag.BoolVar(&o.tty, "tty", false, "the request has a terminal (no stderr stream; resize stream from v3)")
	flag.StringVar(&resize, "resize", "", "WIDTHxHEIGHT to send on the resize stream at the start")
	flag.StringVar(&stdinText, "stdin-text", "", "send this on stdin")
	flag.IntVar(&stdinRandom, "stdin-random", 0, "send this many random bytes on stdin")
	flag.BoolVar(&o.holdStdin, "stdin-hold", false, "keep stdin open after its data")
	flag.StringVar(&o.untilStdout, "until", "", "end the session once stdout showed this")
	flag.StringVar(&o.untilStderr, "until-stderr", "", "end the session once stderr showed this")
	flag.IntVar(&o.port, "port", 0, "port-forward: the pod port")
	flag.StringVar(&sendText, "send-text", "", "port-forward: send this")
	flag.IntVar(&sendRandom, "send-random", 0, "port-forward: send this many random bytes")
	flag.IntVar(&o.requests, "requests", 1, "port-forward: this many connections at once")
	flag.Parse()

	if o.url == "" {
		return nil, errors.New("-url is required")
	}
	if o.transport != "spdy" && o.transport != "websocket" && o.transport != "ws-tunnel" {
		return nil, fmt.Errorf("unknown -transport %q", o.transport)
	}
	if o.transport == "ws-tunnel" && o.mode != "portforward" {
		return nil, errors.New("-transport ws-tunnel carries port-forward only")
	}
	if protocols == "" {
		protocols = defaultProtocol(o.mode, o.transport)
	}
	o.protocols = strings.Split(protocols, ",")
	if resize != "" {
		size, err := parseSize(resize)
		if err != nil {
			return nil, err
		}
		o.resize = size
	}
	switch o.mode {
	case "exec", "attach":
		o.hasStdin = stdinText != "" || stdinRandom > 0 || o.holdStdin
		o.stdin = payload(stdinText, stdinRandom)
	case "portforward":
		if o.port < 1 || o.port > 65535 {
			return nil, errors.New("-port must name a port")
		}
		if o.requests < 1 {
			return nil, errors.New("-requests must be at least 1")
		}
		o.send = payload(sendText, sendRandom)
	default:
		return nil, fmt.Errorf("unknown -mode %q", o.mode)
	}
	return o, nil
}

func defaultProtocol(mode, transport string) string {
	switch {
	case mode == "portforward" && (transport == "spdy" || transport == "ws-tunnel"):
		return "portforward.k8s.io"
	case mode == "portforward":
		return "v4.channel.k8s.io"
	case transport == "spdy":
		return "v4.channel.k8s.io"
	default:
		return "v5.channel.k8s.io"
	}
}

func parseSize(text string) (*terminalSize, error) {
	parts := strings.Split(text, "x")
	if len(parts) == 2 {
		w, errW := strconv.ParseUint(parts[0], 10, 16)
		h, errH := strconv.ParseUint(parts[1], 10, 16)
		if errW == nil && errH == nil {
			return &terminalSize{Width: uint16(w), Height: uint16(h)}, nil
		}
	}
	return nil, fmt.Errorf("-resize wants WIDTHxHEIGHT, not %q", text)
}

func payload(text string, random int) []byte {
	if random <= 0 {
		return []byte(text)
	}
	data := make([]byte, random)
	if _, err := rand.Read(data); err != nil {
		panic(err)
	}
	return data
}

// writeChunks sends data the way io.Copy would: at most chunkSize per write.
func writeChunks(w interface{ Write([]byte) (int, error) }, data []byte) error {
	for off := 0; off < len(data); off += chunkSize {
		end := off + chunkSize
		if end > len(data) {
			end = len(data)
		}
		if _, err := w.Write(data[off:end]); err != nil {
			return err
		}
	}
	return nil
}
