package framing

import (
	"encoding/json"
	"testing"

	"holdfast/config"
)

// FuzzDecode: no frame makes any protocol's decoder panic, and whatever it routes as a valid
// event is JSON, so the envelope stays one valid line.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"e":"trade","u":1,"p":"1.5"}`, `[{"e":"a"}]`, `hello`, `PING`, `{"op":"ping","id":3}`,
		`{"id":"Ticks","type":"next","payload":{"data":{"ticks":{"seq":6}}}}`, `{"type":"connection_ack"}`,
		`0{"sid":"x","pingInterval":25000,"pingTimeout":20000}`, `2`, `42/feed,17["tick",{"seq":5}]`,
		`44/feed,{"message":"no"}`, `40/feed,`, `4`, `42/feed`, `{"a":"\u0000"}`,
	} {
		f.Add([]byte(seed))
	}
	var decoders []*Decoder
	for _, sc := range []config.StreamConfig{fuzzStream(config.DefaultProtocol), fuzzStream(GraphQL), fuzzStream(SocketIO)} {
		c, err := New(sc)
		if err != nil {
			f.Fatal(err)
		}
		decoders = append(decoders, c.Decoder())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range decoders {
			in := d.Decode(data)
			if in.Kind == Event && in.Frame.Invalid == "" && !json.Valid(in.Data) {
				t.Errorf("%s routes %q as %q, which is not JSON", d.c.proto, data, in.Data)
			}
		}
	})
}

func fuzzStream(proto string) config.StreamConfig {
	sc := config.DefaultStreamConfig()
	sc.Protocol = proto
	sc.Framing = config.FramingConfig{TypePath: "/e", CursorPath: "/u", ArrayType: "batch", TextType: "text", UntypedType: "*"}
	sc.Answers = []config.AnswerConfig{{Type: "ping", Reply: `{"op":"pong","id":${/id}}`}, {Text: "PING", Reply: "PONG"}}
	sc.Ack.Message = `{"id":${/id}}`
	sc.SocketIO.Namespace = "/feed"
	sc.Subscribe = []config.SubscribeConfig{{Query: "subscription { ticks { seq } }", OperationName: "Ticks", Event: "join"}}
	if proto == SocketIO {
		sc.Ack.Message = ""
	}
	return sc
}
