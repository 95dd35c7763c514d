package framing

import (
	"encoding/json"
	"fmt"
	"strings"

	"holdfast/messages"
	"holdfast/wire"
)

// GraphQL close codes (graphql-transport-ws) and what holdfast makes of them.
const (
	CloseBadRequest       = 4400 // the server found our message invalid
	CloseUnauthorized     = 4401 // subscribe before connection_ack
	CloseForbidden        = 4403 // connection_init refused
	CloseInitTimeout      = 4408
	CloseSubscriberExists = 4409 // an operation id in use
	CloseTooManyInits     = 4429
	CloseInternalError    = 4500
)

// GraphQLFailure maps a graphql-transport-ws close code to a failure kind; false when the
// code is not one of the protocol's. 4401 and 4403 are refusals of our credentials; 4429
// asks us to back off, which the caller does at max_delay.
func GraphQLFailure(code int) (messages.FailureKind, bool) {
	switch code {
	case CloseUnauthorized, CloseForbidden:
		return messages.AuthRejected, true
	case CloseBadRequest, CloseSubscriberExists:
		return messages.Protocol, true
	case CloseInitTimeout, CloseTooManyInits, CloseInternalError:
		return messages.Transient, true
	}
	return messages.Transient, false
}

// outPrefix marks the ids of operations sent from the outbound queue.
const outPrefix = "out-"

// ResultType is the type the results of queued GraphQL operations are routed as.
const ResultType = "result"

type gqlMessage struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

var gqlPong = []byte(`{"type":"pong"}`)

func (d *Decoder) graphql(data []byte) Inbound {
	var m gqlMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return Inbound{Frame: wire.Frame{Invalid: messages.InvalidJSON}, Data: data}
	}
	op, ours := d.c.ops[m.ID]
	switch m.Type {
	case "connection_ack":
		return Inbound{Kind: AuthOK}
	case "ping":
		return Inbound{Kind: Control, Reply: gqlPong}
	case "pong":
		return Inbound{Kind: Pong}
	case "next":
		f := wire.Frame{Type: op}
		if !ours {
			if !strings.HasPrefix(m.ID, outPrefix) {
				return Inbound{Kind: Control, Err: fmt.Errorf("next for unknown operation %q", m.ID)}
			}
			f.Type = ResultType
		}
		if p, ok := d.framer.(*pointers); ok && p.cursor != nil {
			if v, ok := p.cursor.Find(data); ok {
				f.Cursor, _ = scalarText(v)
			}
		}
		in := Inbound{Frame: f, Data: data}
		if d.c.ack != nil {
			in.Ack, _ = d.c.ack.Fill(data, "")
		}
		return in
	case "error":
		err := fmt.Errorf("operation %q: %s", m.ID, errorText(m.Payload))
		if ours {
			return Inbound{Kind: Ended, Fail: messages.Protocol, Err: err}
		}
		return Inbound{Kind: Control, Err: err}
	case "complete":
		if ours {
			return Inbound{Kind: Ended, Fail: messages.Transient, Err: fmt.Errorf("operation %q completed by the server", m.ID)}
		}
		return Inbound{Kind: Control}
	}
	return Inbound{Kind: Control, Err: fmt.Errorf("unexpected %s message %q", GraphQL, m.Type)}
}

// errorText is the messages of a GraphQL error payload ([{"message":…}]), bounded.
func errorText(p json.RawMessage) string {
	var errs []struct{ Message string }
	if json.Unmarshal(p, &errs) != nil || len(errs) == 0 {
		return "error"
	}
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Message)
		if b.Len() > 200 {
			break
		}
	}
	return b.String()
}
