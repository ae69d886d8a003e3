package main

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/docker/spdystream"
	"github.com/gorilla/websocket"
)

// tunnelPrefix marks a SPDY subprotocol carried inside a WebSocket, as kubectl and crictl 1.30+
// ask for port-forward over their "websocket" transport.
const tunnelPrefix = "SPDY/3.1+"

// wsByteConn is a net.Conn over a WebSocket: binary messages carry a byte stream, cut
// anywhere; each Write is one message.
type wsByteConn struct {
	*websocket.Conn
	current io.Reader
	writeMu sync.Mutex
}

func (c *wsByteConn) Read(p []byte) (int, error) {
	for {
		if c.current == nil {
			kind, r, err := c.NextReader()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
					return 0, io.EOF
				}
				return 0, err
			}
			if kind != websocket.BinaryMessage {
				return 0, fmt.Errorf("a text message in a SPDY tunnel")
			}
			c.current = r
		}
		n, err := c.current.Read(p)
		if err == io.EOF {
			c.current = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsByteConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsByteConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// dialTunnel opens port-forward as SPDY inside a WebSocket, offering each protocol with the
// tunnel prefix; the chosen one comes back without it.
func dialTunnel(rawURL string, protocols []string) (*spdyConn, error) {
	offered := make([]string, len(protocols))
	for i, p := range protocols {
		offered[i] = tunnelPrefix + p
	}
	ws, err := dialWS(rawURL, offered)
	if err != nil {
		return nil, err
	}
	var raw net.Conn = &wsByteConn{Conn: ws.conn}
	conn, err := spdystream.NewConnection(raw, false)
	if err != nil {
		raw.Close()
		return nil, err
	}
	go conn.Serve(func(s *spdystream.Stream) { s.Refuse() })
	return &spdyConn{conn: conn, raw: raw, protocol: ws.protocol[len(tunnelPrefix):]}, nil
}
