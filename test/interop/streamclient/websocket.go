package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Channel numbers of channel.k8s.io remote commands; 255 is v5's "I closed this channel".
const (
	channelStdin  = 0
	channelStdout = 1
	channelStderr = 2
	channelError  = 3
	channelResize = 4
	channelClose  = 255
)

// wsConn is a channel.k8s.io WebSocket: each message is one channel's bytes, the channel in
// its first byte (binary protocols) or as one ASCII digit before base64 text (base64 ones).
type wsConn struct {
	conn     *websocket.Conn
	protocol string
	base64   bool
	writeMu  sync.Mutex
}

func dialWS(rawURL string, protocols []string) (*wsConn, error) {
	target := rawURL
	if strings.HasPrefix(target, "http://") {
		target = "ws://" + strings.TrimPrefix(target, "http://")
	}
	dialer := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 10 * time.Second}
	conn, resp, err := dialer.Dial(target, nil)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return nil, fmt.Errorf("upgrade refused: %s: %s", resp.Status, body)
		}
		return nil, err
	}
	protocol := conn.Subprotocol()
	if !contains(protocols, protocol) {
		conn.Close()
		return nil, fmt.Errorf("the server chose subprotocol %q, which was not offered (%v)", protocol, protocols)
	}
	return &wsConn{conn: conn, protocol: protocol, base64: strings.Contains(protocol, "base64.")}, nil
}

// send writes one message on a channel; gorilla allows one writer at a time.
func (c *wsConn) send(channel byte, data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.base64 {
		message := append([]byte{'0' + channel}, base64.StdEncoding.EncodeToString(data)...)
		return c.conn.WriteMessage(websocket.TextMessage, message)
	}
	return c.conn.WriteMessage(websocket.BinaryMessage, append([]byte{channel}, data...))
}

// demux hands each message's bytes to its channel's sink, in order, until the connection
// ends; a normal close is the end of the session, anything else an error.
func (c *wsConn) demux(sinks map[byte]func([]byte)) error {
	for {
		kind, message, err := c.conn.ReadMessage()
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				return nil
			}
			return fmt.Errorf("the WebSocket ended: %w", err)
		}
		if len(message) == 0 {
			return errors.New("a message without a channel")
		}
		channel, data := message[0], message[1:]
		if c.base64 {
			if kind != websocket.TextMessage {
				return fmt.Errorf("a binary message on %s", c.protocol)
			}
			channel -= '0'
			if data, err = base64.StdEncoding.DecodeString(string(data)); err != nil {
				return fmt.Errorf("channel %d: %v", channel, err)
			}
		}
		if sink := sinks[channel]; sink != nil && len(data) > 0 {
			sink(data)
		}
	}
}

func (c *wsConn) close() {
	c.writeMu.Lock()
	c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.writeMu.Unlock()
	c.conn.Close()
}

// wsStdin writes stdin messages; only v5 can tell the server that stdin ended.
type wsStdin struct{ c *wsConn }

func (w wsStdin) Write(p []byte) (int, error) {
	if err := w.c.send(channelStdin, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w wsStdin) Close() error {
	if strings.HasPrefix(w.c.protocol, "v5.") {
		return w.c.send(channelClose, []byte{channelStdin})
	}
	return nil
}

// wsCommand gives the channels of a remote command as streams: the output channels through
// pipes fed by one reader, which closes them all when the connection ends.
func wsCommand(o *options) (*commandStreams, error) {
	c, err := dialWS(o.url, o.protocols)
	if err != nil {
		return nil, err
	}
	s := &commandStreams{protocol: c.protocol, close: c.close}
	sinks := map[byte]func([]byte){}
	var writers []*io.PipeWriter
	pipe := func(channel byte) io.Reader {
		r, w := io.Pipe()
		sinks[channel] = func(data []byte) { w.Write(data) }
		writers = append(writers, w)
		return r
	}
	if o.stdout {
		s.stdout = pipe(channelStdout)
	}
	if o.stderr && !o.tty {
		s.stderr = pipe(channelStderr)
	}
	s.errors = pipe(channelError)
	go func() {
		err := c.demux(sinks)
		for _, w := range writers {
			w.CloseWithError(err)
		}
	}()
	if o.hasStdin {
		s.stdin = wsStdin{c}
	}
	if o.tty {
		s.resize = func(size terminalSize) error {
			message, err := json.Marshal(size)
			if err != nil {
				return err
			}
			return c.send(channelResize, message)
		}
	}
	return s, nil
}

// wsForward runs the WebSocket port-forward protocol: channel 2i carries the data of the
// request's i-th port and 2i+1 its errors, and the server starts each channel with that port,
// two bytes little-endian. The client writes its data on 2i without a prefix.
func wsForward(o *options) (*forwardReport, error) {
	c, err := dialWS(o.url, o.protocols)
	if err != nil {
		return nil, err
	}
	defer c.close()
	var mu sync.Mutex
	report := &forwardReport{Protocol: c.protocol, Requests: make([]*requestReport, o.requests)}
	received := make([]*collector, o.requests)
	errorText := make([][]byte, o.requests)
	dataPrefix, errorPrefix := make([]*int, o.requests), make([]*int, o.requests)
	echoed := make([]chan struct{}, o.requests)
	sinks := map[byte]func([]byte){}
	for i := range received {
		i := i
		received[i] = newCollector("")
		echoed[i] = make(chan struct{})
		report.Requests[i] = &requestReport{Sent: summarize(o.send)}
		var once sync.Once
		if len(o.send) == 0 {
			once.Do(func() { close(echoed[i]) })
		}
		sinks[byte(2*i)] = withPortPrefix(&mu, &dataPrefix[i], func(data []byte) {
			received[i].Write(data)
			if received[i].count() >= len(o.send) {
				once.Do(func() { close(echoed[i]) })
			}
		})
		sinks[byte(2*i+1)] = withPortPrefix(&mu, &errorPrefix[i], func(data []byte) {
			mu.Lock()
			errorText[i] = append(errorText[i], data...)
			mu.Unlock()
		})
	}
	ended := make(chan error, 1)
	go func() { ended <- c.demux(sinks) }()
	for i := 0; i < o.requests; i++ {
		go writeChunks(channelWriter{c, byte(2 * i)}, o.send)
	}
	allEchoed := make([]<-chan struct{}, len(echoed))
	for i, e := range echoed {
		allEchoed[i] = e
	}
	select {
	case <-waitAll(allEchoed...):
	case err := <-ended:
		if err != nil {
			return nil, err
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, r := range report.Requests {
		r.Received = received[i].summary()
		r.Error = string(errorText[i])
		r.DataPortPrefix, r.ErrorPortPrefix = dataPrefix[i], errorPrefix[i]
	}
	return report, nil
}

type channelWriter struct {
	c       *wsConn
	channel byte
}

func (w channelWriter) Write(p []byte) (int, error) {
	if err := w.c.send(w.channel, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// withPortPrefix takes the first two bytes of a channel as its port number, the rest to next.
func withPortPrefix(mu *sync.Mutex, port **int, next func([]byte)) func([]byte) {
	var prefix []byte
	return func(data []byte) {
		if len(prefix) < 2 {
			n := 2 - len(prefix)
			if n > len(data) {
				n = len(data)
			}
			prefix, data = append(prefix, data[:n]...), data[n:]
			if len(prefix) == 2 {
				value := int(binary.LittleEndian.Uint16(prefix))
				mu.Lock()
				*port = &value
				mu.Unlock()
			}
		}
		if len(data) > 0 {
			next(data)
		}
	}
}
