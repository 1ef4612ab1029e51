package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"parley/node"
)

// Running code through the local API: the command line's `parley run`
// and the room's Run button.
//
//	POST /api/v1/sessions/{id}/run              start a run; the answer streams its events (NDJSON)
//	POST /api/v1/sessions/{id}/run?detach=true  start a run; the answer is the run, started
//	GET  /api/v1/sessions/{id}/runs             the session's runs, with their output
//	POST /api/v1/sessions/{id}/runs/{run}/stop  stop a run
//	PUT  /api/v1/sessions/{id}/running          switch running code on or off ({"on": bool})

// maxRunBody bounds a run request: its input may be up to 1 MiB, escaped.
const maxRunBody = 8 << 20

// RunningRequest is the body of PUT /api/v1/sessions/{id}/running.
type RunningRequest struct {
	On bool `json:"on"`
}

// run starts a run and streams its events until its end: one JSON
// RunEvent per line. A client that goes away before the end stops it.
func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	var req node.RunRequest
	if !decodeN(w, r, &req, maxRunBody) {
		return
	}
	id := r.PathValue("id")
	if r.URL.Query().Get("detach") == "true" {
		v, err := s.node.StartRun(r.Context(), id, req)
		reply(w, v, err)
		return
	}
	started, err := s.node.StartRun(r.Context(), id, req)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	_, err = s.node.WatchRun(r.Context(), id, started.ID, func(ev node.RunEvent) {
		enc.Encode(ev)
		rc.Flush()
	})
	if r.Context().Err() != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.node.StopRun(ctx, id, started.ID)
		return
	}
	if err != nil {
		enc.Encode(node.RunEvent{Type: "error", ID: started.ID, Data: err.Error()})
	}
}

func (s *Server) runs(w http.ResponseWriter, r *http.Request) {
	v, err := s.node.Runs(r.Context(), r.PathValue("id"))
	if v == nil {
		v = []node.CodeRun{}
	}
	reply(w, v, err)
}

func (s *Server) stopRun(w http.ResponseWriter, r *http.Request) {
	err := s.node.StopRun(r.Context(), r.PathValue("id"), r.PathValue("run"))
	reply(w, struct{}{}, err)
}

func (s *Server) setRunning(w http.ResponseWriter, r *http.Request) {
	var req RunningRequest
	if decode(w, r, &req) {
		v, err := s.node.SetRunning(r.Context(), r.PathValue("id"), req.On)
		reply(w, v, err)
	}
}

// RunCode starts a run of a session's code and follows it to its end,
// passing its events to events; when ctx ends first, the node stops it.
func (c *Client) RunCode(ctx context.Context, id string, req node.RunRequest, events func(node.RunEvent)) (node.CodeRun, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return node.CodeRun{}, err
	}
	hreq, err := http.NewRequestWithContext(ctx, "POST", c.URL+"/api/v1/sessions/"+url.PathEscape(id)+"/run", bytes.NewReader(body))
	if err != nil {
		return node.CodeRun{}, err
	}
	hreq.Header.Set("Authorization", "Bearer "+c.Token)
	hreq.Header.Set("Content-Type", "application/json")
	hc := *c.HTTP
	hc.Timeout = 0 // the run's own limits bound it; ctx ends it
	resp, err := hc.Do(hreq)
	if err != nil {
		return node.CodeRun{}, fmt.Errorf("the node's local API at %s does not answer: %w", c.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			return node.CodeRun{}, &APIError{Status: resp.StatusCode, Msg: fmt.Sprintf("the node answered %s", resp.Status)}
		}
		return node.CodeRun{}, &APIError{Status: resp.StatusCode, Code: eb.Code, Msg: eb.Error}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev node.RunEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return node.CodeRun{}, fmt.Errorf("the node sent a bad run event: %w", err)
		}
		switch ev.Type {
		case "error":
			return node.CodeRun{}, fmt.Errorf("%s", ev.Data)
		case "end":
			if events != nil {
				events(ev)
			}
			if ev.Run == nil {
				return node.CodeRun{}, fmt.Errorf("the node sent an end without the run")
			}
			return *ev.Run, nil
		}
		if events != nil {
			events(ev)
		}
	}
	if err := sc.Err(); err != nil {
		return node.CodeRun{}, err
	}
	return node.CodeRun{}, fmt.Errorf("the node stopped answering before the run ended")
}

// Runs returns a session's runs.
func (c *Client) Runs(ctx context.Context, id string) ([]node.CodeRun, error) {
	var v []node.CodeRun
	return v, c.do(ctx, "GET", "/api/v1/sessions/"+url.PathEscape(id)+"/runs", nil, &v)
}

// StopRun stops a run.
func (c *Client) StopRun(ctx context.Context, id, run string) error {
	return c.do(ctx, "POST", "/api/v1/sessions/"+url.PathEscape(id)+"/runs/"+url.PathEscape(run)+"/stop", struct{}{}, &struct{}{})
}

// SetRunning switches running code on or off for a session.
func (c *Client) SetRunning(ctx context.Context, id string, on bool) (node.Session, error) {
	var v node.Session
	return v, c.do(ctx, "PUT", "/api/v1/sessions/"+url.PathEscape(id)+"/running", RunningRequest{On: on}, &v)
}
