package portal

import (
	"context"
	"io"
	"net/http"
	"sync"
)

// inproc is an http.RoundTripper that answers a request by calling the API
// handler in this process: the portal reads and writes through the REST
// API, with the viewer's own token, so it shows and does exactly what the
// API allows that viewer, and no second authorisation exists to drift.
// Answers stream (a followed log is one long answer).
type inproc struct {
	h      http.Handler
	remote string // the browser's address, for the API's rate limits and audit
}

func (t inproc) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.RemoteAddr = t.remote
	req.RequestURI = req.URL.RequestURI()
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, body: pw, ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(req.Context())
	go func() {
		defer func() {
			w.WriteHeader(http.StatusOK) // a handler that wrote nothing
			pw.Close()
		}()
		t.h.ServeHTTP(w, req.WithContext(ctx))
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		cancel()
		return nil, req.Context().Err()
	}
	return &http.Response{
		Status: http.StatusText(w.status), StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.snapshot, Body: cancelBody{pr, cancel}, ContentLength: -1, Request: req,
	}, nil
}

// cancelBody ends the handler's context when the body is closed, as a
// closed connection would.
type cancelBody struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (b cancelBody) Close() error {
	b.cancel()
	return b.PipeReader.Close()
}

// pipeWriter is the http.ResponseWriter the API handler writes to: the
// status and headers are handed over at the first write, the body through
// a pipe.
type pipeWriter struct {
	header   http.Header
	snapshot http.Header
	body     *io.PipeWriter
	once     sync.Once
	status   int
	ready    chan struct{}
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(code int) {
	w.once.Do(func() {
		w.status = code
		w.snapshot = w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// Flush is a no-op: every write already reaches the reader.
func (w *pipeWriter) Flush() {}
