package faults_test

import (
	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
)

// cutToxicType is the name cutToxic is registered under in toxiproxy's toxic registry.
const cutToxicType = "holdfast_cut"

// cutToxic passes Bytes bytes of each link, then closes the link's output, so that the proxy
// closes the client's socket (a FIN, or an RST under SO_LINGER 0) in the middle of whatever
// frame was passing, and drops everything that still comes in until the input ends.
// toxiproxy's own limit_data stops reading instead, which leaves the link's reader and its
// noop stub blocked on a channel send for good once the upstream has more to say.
type cutToxic struct {
	Bytes int64 `json:"bytes"`
}

// cutState is one link's count.
type cutState struct{ passed int64 }

func (t *cutToxic) NewState() any { return new(cutState) }

func (t *cutToxic) Pipe(stub *toxics.ToxicStub) {
	st := stub.State.(*cutState)
	for st.passed < t.Bytes {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if rest := t.Bytes - st.passed; int64(len(c.Data)) > rest {
				c = &stream.StreamChunk{Data: c.Data[:rest], Timestamp: c.Timestamp}
			}
			stub.Output <- c
			st.passed += int64(len(c.Data))
		}
	}
	// Cut. The stub is closed from here on, so InterruptToxic reports false as long as this
	// loop does not listen for it, and removing the toxic leaves the dead link alone.
	stub.Close()
	for c := range stub.Input {
		_ = c // dropped: the client's socket is gone
	}
}
