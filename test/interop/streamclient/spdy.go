package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/docker/spdystream"
)

// replyTimeout is how long a new stream waits for the server's SYN_REPLY.
const replyTimeout = 30 * time.Second

// bufferedConn reads first what the HTTP response reader took past the 101 head: the server
// may send its first frames in the same packet.
type bufferedConn struct {
	net.Conn
	reader *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.reader.Read(p) }

type spdyConn struct {
	conn     *spdystream.Connection
	raw      net.Conn
	protocol string
}

// dialSPDY upgrades an HTTP/1.1 POST to SPDY/3.1, offering the protocols in
// X-Stream-Protocol-Version headers, one per line, as Kubernetes' SPDY round tripper does.
func dialSPDY(rawURL string, protocols []string) (*spdyConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("only http URLs are supported, not %q", u.Scheme)
	}
	raw, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, rawURL, nil)
	if err != nil {
		raw.Close()
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	for _, p := range protocols {
		req.Header.Add("X-Stream-Protocol-Version", p)
	}
	if err := req.Write(raw); err != nil {
		raw.Close()
		return nil, err
	}
	reader := bufio.NewReader(raw)
	resp, err := http.ReadResponse(reader, req)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("reading the upgrade response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		raw.Close()
		return nil, fmt.Errorf("upgrade refused: %s: %s", resp.Status, body)
	}
	protocol := resp.Header.Get("X-Stream-Protocol-Version")
	if protocol != "" && !contains(protocols, protocol) {
		raw.Close()
		return nil, fmt.Errorf("the server chose %q, which was not offered (%v)", protocol, protocols)
	}
	conn, err := spdystream.NewConnection(&bufferedConn{Conn: raw, reader: reader}, false)
	if err != nil {
		raw.Close()
		return nil, err
	}
	// The server has no business opening streams towards a client.
	go conn.Serve(func(s *spdystream.Stream) { s.Refuse() })
	return &spdyConn{conn: conn, raw: raw, protocol: protocol}, nil
}

func (c *spdyConn) open(headers http.Header) (*spdystream.Stream, error) {
	s, err := c.conn.CreateStream(headers, nil, false)
	if err != nil {
		return nil, err
	}
	if err := s.WaitTimeout(replyTimeout); err != nil {
		return nil, fmt.Errorf("no reply to the %s stream: %w", headers.Get("streamType"), err)
	}
	return s, nil
}

func (c *spdyConn) close() {
	c.conn.Close()
	c.raw.Close()
}

func streamHeaders(kind string) http.Header {
	h := http.Header{}
	h.Set("streamType", kind)
	return h
}

// spdyCommand opens the streams of channel.k8s.io v1 to v4 in client-go's order: error,
// stdin, stdout, stderr (never with a tty), and from v3 on resize when there is a tty.
func spdyCommand(o *options) (*commandStreams, error) {
	c, err := dialSPDY(o.url, o.protocols)
	if err != nil {
		return nil, err
	}
	if c.protocol == "" {
		c.protocol = "channel.k8s.io" // a server that names none speaks v1
	}
	s := &commandStreams{protocol: c.protocol, close: c.close}
	ok := false
	defer func() {
		if !ok {
			c.close()
		}
	}()
	if s.errors, err = c.open(streamHeaders("error")); err != nil {
		return nil, err
	}
	if o.hasStdin {
		if s.stdin, err = c.open(streamHeaders("stdin")); err != nil {
			return nil, err
		}
	}
	if o.stdout {
		if s.stdout, err = c.open(streamHeaders("stdout")); err != nil {
			return nil, err
		}
	}
	if o.stderr && !o.tty {
		if s.stderr, err = c.open(streamHeaders("stderr")); err != nil {
			return nil, err
		}
	}
	if o.tty && c.protocol != "channel.k8s.io" && c.protocol != "v2.channel.k8s.io" {
		resize, err := c.open(streamHeaders("resize"))
		if err != nil {
			return nil, err
		}
		encoder := json.NewEncoder(resize)
		s.resize = func(size terminalSize) error { return encoder.Encode(size) }
	}
	ok = true
	return s, nil
}

type forwardReport struct {
	Protocol string           `json:"protocol"`
	Requests []*requestReport `json:"requests"`
}

type requestReport struct {
	Sent     *summary `json:"sent"`
	Received *summary `json:"received"`
	Error    string   `json:"error"`
	// The port number the server wrote first on each WebSocket channel (absent over SPDY).
	DataPortPrefix  *int `json:"dataPortPrefix,omitempty"`
	ErrorPortPrefix *int `json:"errorPortPrefix,omitempty"`
}

func runForward(o *options) (*forwardReport, error) {
	switch o.transport {
	case "spdy":
		return spdyForward(o, dialSPDY)
	case "ws-tunnel":
		return spdyForward(o, dialTunnel)
	}
	return wsForward(o)
}

// spdyForward runs portforward.k8s.io: per connection an error stream and a data stream, both
// naming the port and one requestID. Like client-go it half-closes the error stream at once
// (it never writes there) and the data stream when its data is sent.
func spdyForward(o *options, dial func(string, []string) (*spdyConn, error)) (*forwardReport, error) {
	c, err := dial(o.url, o.protocols)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if c.protocol != "portforward.k8s.io" {
		return nil, fmt.Errorf("the server chose %q, not portforward.k8s.io", c.protocol)
	}
	report := &forwardReport{Protocol: c.protocol, Requests: make([]*requestReport, o.requests)}
	errs := make([]error, o.requests)
	var wg sync.WaitGroup
	for i := 0; i < o.requests; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			report.Requests[i], errs[i] = spdyForwardOne(c, o.port, i, o.send)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return report, nil
}

func spdyForwardOne(c *spdyConn, port, requestID int, data []byte) (*requestReport, error) {
	headers := streamHeaders("error")
	headers.Set("port", strconv.Itoa(port))
	headers.Set("requestID", strconv.Itoa(requestID))
	errorStream, err := c.open(headers)
	if err != nil {
		return nil, err
	}
	errorStream.Close()
	errorText := make(chan []byte, 1)
	go func() {
		message, _ := io.ReadAll(errorStream)
		errorText <- message
	}()

	headers.Set("streamType", "data")
	dataStream, err := c.open(headers)
	if err != nil {
		return nil, err
	}
	go func() {
		if writeChunks(dataStream, data) == nil {
			dataStream.Close()
		}
	}()
	received := newCollector("")
	io.Copy(received, dataStream)
	report := &requestReport{Sent: summarize(data), Received: received.summary(), Error: string(<-errorText)}
	dataStream.Reset()
	errorStream.Reset()
	return report, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
