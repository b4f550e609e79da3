package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// getter sends GET (and JSON POST) requests over one kept-alive HTTP/1.1 connection and
// reads each response with as little work as it can, as wrk does: the read
// workload's client. net/http's client cost the load generator 0.043 ms
// of CPU per read, a fifth of the whole machine's, all of it taken from the
// service and PostgreSQL on the same two cores. A getter is used by one
// goroutine at a time.
type getter struct {
	addr    string // host:port
	header  []byte // the request's lines after the request line
	conn    net.Conn
	r       *bufio.Reader
	request []byte
}

// newGetter returns a getter for the server at addr sending the bearer
// token (if any) with every request.
func newGetter(addr, token string) *getter {
	header := "Host: " + addr + "\r\nUser-Agent: email-alert-bench\r\n"
	if token != "" {
		header += "Authorization: Bearer " + token + "\r\n"
	}
	return &getter{addr: addr, header: []byte(header)}
}

// get requests path and returns the response's status code; the body is
// read and dropped. After an error the connection is closed, and the next
// call opens another.
func (g *getter) get(path []byte) (int, error) { return g.do("GET ", path, nil) }

// post sends body, a JSON document, to path, as get does.
func (g *getter) post(path, body []byte) (int, error) { return g.do("POST ", path, body) }

func (g *getter) do(method string, path, body []byte) (int, error) {
	if g.conn == nil {
		conn, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
		if err != nil {
			return 0, err
		}
		g.conn, g.r = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	status, keepAlive, err := g.exchange(method, path, body)
	if err != nil || !keepAlive {
		g.conn.Close()
		g.conn = nil
	}
	return status, err
}

func (g *getter) exchange(method string, path, body []byte) (status int, keepAlive bool, err error) {
	if err := g.conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return 0, false, err
	}
	g.request = append(append(append(append(g.request[:0], method...), path...), " HTTP/1.1\r\n"...), g.header...)
	if body != nil {
		g.request = append(g.request, "Content-Type: application/json\r\nContent-Length: "...)
		g.request = append(strconv.AppendInt(g.request, int64(len(body)), 10), "\r\n"...)
	}
	g.request = append(append(g.request, "\r\n"...), body...)
	if _, err := g.conn.Write(g.request); err != nil {
		return 0, false, err
	}
	line, err := g.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, keepAlive := -1, false, true
	for {
		line, err := g.r.ReadSlice('\n')
		if err != nil {
			return status, false, err
		}
		if len(line) <= 2 { // the blank line ending the header
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return status, false, fmt.Errorf("bad header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return status, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return status, false, fmt.Errorf("unknown Transfer-Encoding %q", value)
			}
			chunked = true
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keepAlive = false
		}
	}
	switch {
	case chunked:
		err = g.discardChunks()
	case length >= 0:
		_, err = g.r.Discard(length)
	default:
		err = errors.New("a response with neither Content-Length nor chunks")
	}
	return status, keepAlive && err == nil, err
}

// discardChunks reads a chunked body (RFC 9112 section 7.1) and its
// trailer section.
func (g *getter) discardChunks() error {
	for {
		line, err := g.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		sizeField, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(";"))
		size, err := strconv.ParseInt(string(sizeField), 16, 32)
		if err != nil || size < 0 {
			return fmt.Errorf("bad chunk size line %q", line)
		}
		if size == 0 {
			break
		}
		if _, err := g.r.Discard(int(size)); err != nil {
			return err
		}
		end, err := g.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if string(end) != "\r\n" {
			return fmt.Errorf("a chunk not ended by CRLF: %q", end)
		}
	}
	for { // trailer fields, then the blank line
		line, err := g.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
	}
}
