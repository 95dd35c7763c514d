package framing

import (
	"strings"
	"testing"
	"time"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/wire"
)

func stream(t *testing.T, extra string) config.StreamConfig {
	t.Helper()
	src := `
[[sink]]
name = "out"
kind = "stdout"

[[stream]]
name = "s"
url = "ws://127.0.0.1:1/ws"
` + extra + `
  [[stream.route]]
  type = "*"
  sinks = ["out"]
`
	cfg, err := config.Parse([]byte(src), "test.toml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg.Streams[0]
}

func codec(t *testing.T, extra string) *Codec {
	t.Helper()
	c, err := New(stream(t, extra))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestPointerFind(t *testing.T) {
	doc := []byte(`{"data":{"e":"trade","u":42,"a/b":1,"m~n":2},"list":[10,{"x":"y"}],"s":"plain"}`)
	for _, tt := range []struct {
		ptr, want string
		ok        bool
	}{
		{"/data/e", `"trade"`, true},
		{"/data/u", `42`, true},
		{"/data/a~1b", `1`, true},
		{"/data/m~0n", `2`, true},
		{"/list/0", `10`, true},
		{"/list/1/x", `"y"`, true},
		{"/list/2", "", false},
		{"/list/01", "", false},
		{"/data/missing", "", false},
		{"/s/x", "", false},
		{"", string(doc), true},
	} {
		p, err := ParsePointer(tt.ptr)
		if err != nil {
			t.Fatalf("ParsePointer(%q): %v", tt.ptr, err)
		}
		got, ok := p.Find(doc)
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("Find(%q) = %s, %v; want %s, %v", tt.ptr, got, ok, tt.want, tt.ok)
		}
	}
	// The walk skips what it does not need without decoding it: strings holding brackets,
	// escapes, nesting and spaces; a repeated key's last value wins, as in ParseFrame.
	tricky := []byte(` { "a" : "x]}\"{[" , "b":[ {"c":[1,[2,"]"]]} , 3 ] , "k\u0065y" : 5, "d": 1, "d" : {"e" : null} } `)
	for _, tt := range []struct {
		ptr, want string
		ok        bool
	}{
		{"/a", `"x]}\"{["`, true},
		{"/b/0/c/1/1", `"]"`, true},
		{"/b/1", `3`, true},
		{"/key", `5`, true},
		{"/d/e", `null`, true},
		{"/b/2", "", false},
		{"/a/0", "", false},
	} {
		p, err := ParsePointer(tt.ptr)
		if err != nil {
			t.Fatalf("ParsePointer(%q): %v", tt.ptr, err)
		}
		got, ok := p.Find(tricky)
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("Find(%q) = %s, %v; want %s, %v", tt.ptr, got, ok, tt.want, tt.ok)
		}
	}
	for _, bad := range []string{"data", "/a~2", "/a~"} {
		if _, err := ParsePointer(bad); err == nil {
			t.Errorf("ParsePointer(%q) accepted a bad pointer", bad)
		}
	}
}

func TestTemplateFill(t *testing.T) {
	frame := []byte(`{"envelope_id":"abc-1","n":7,"nested":{"id":[1,2]}}`)
	for _, tt := range []struct {
		name, tmpl, cursor, want string
		ok                       bool
	}{
		{"copies a string field", `{"envelope_id":${/envelope_id}}`, "", `{"envelope_id":"abc-1"}`, true},
		{"copies a nested value", `{"op":"pong","id":${/nested/id}}`, "", `{"op":"pong","id":[1,2]}`, true},
		{"numeric cursor is a number", `{"from":${cursor}}`, "41", `{"from":41}`, true},
		{"string cursor is a string", `{"from":${cursor}}`, "a\"b", `{"from":"a\"b"}`, true},
		{"no cursor is null", `{"from":${cursor}}`, "", `{"from":null}`, true},
		{"plain text", `pong`, "", `pong`, true},
		{"missing field fails", `{"id":${/nope}}`, "", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := ParseTemplate(tt.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := tp.Fill(frame, tt.cursor)
			if ok != tt.ok || string(got) != tt.want {
				t.Errorf("Fill(%q, cursor %q) = %s, %v; want %s, %v", tt.tmpl, tt.cursor, got, ok, tt.want, tt.ok)
			}
		})
	}
	for _, bad := range []string{`${/a`, `${since}`} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("ParseTemplate(%q) accepted a bad placeholder", bad)
		}
	}
}

func TestDecodeFraming(t *testing.T) {
	for _, tt := range []struct {
		name, cfg, frame string
		kind             Kind
		typ, cursor, bad string
		data             string // "" = the frame itself
	}{
		{"default framing", ``, `{"type":"t","seq":3}`, Event, "t", "", "", ""},
		{"default pong", ``, `{"type":"pong"}`, Pong, "", "", "", ""},
		{"default rejects text", ``, `hello`, Event, "", "", messages.InvalidJSON, ""},
		{"type in e, cursor in u", "  [stream.framing]\n  type_path = \"/e\"\n  cursor_path = \"/u\"\n",
			`{"e":"trade","u":17,"p":"1.5"}`, Event, "trade", "17", "", ""},
		{"type nested", "  [stream.framing]\n  type_path = \"/data/e\"\n", `{"stream":"x","data":{"e":"kline"}}`, Event, "kline", "", "", ""},
		{"array by rule", "  [stream.framing]\n  type_path = \"/e\"\n  array_type = \"batch\"\n", `[{"e":"a"},{"e":"b"}]`, Event, "batch", "", "", ""},
		{"array without rule", "  [stream.framing]\n  type_path = \"/e\"\n", `[1,2]`, Event, "", "", messages.InvalidObject, ""},
		{"array with type first", "  [stream.framing]\n  type_path = \"/0\"\n  cursor_path = \"/1/seq\"\n", `["tick",{"seq":9}]`, Event, "tick", "9", "", ""},
		{"text to star", "  [stream.framing]\n  text_type = \"*\"\n", `hello there`, Event, "*", "", "", `"hello there"`},
		{"untyped object", "  [stream.framing]\n  type_path = \"/e\"\n  untyped_type = \"misc\"\n", `{"x":1}`, Event, "misc", "", "", ""},
		{"untyped rejected", "  [stream.framing]\n  type_path = \"/e\"\n", `{"x":1}`, Event, "", "", messages.InvalidType, ""},
		{"plain-text pong", "  [stream.heartbeat]\n  pong_message = \"pong\"\n  [stream.framing]\n  text_type = \"text\"\n", "pong\n", Pong, "", "", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := codec(t, tt.cfg).Decoder()
			in := d.Decode([]byte(tt.frame))
			want := tt.data
			if want == "" && tt.kind == Event {
				want = tt.frame
			}
			if in.Kind != tt.kind || in.Frame.Type != tt.typ || in.Frame.Cursor != tt.cursor || in.Frame.Invalid != tt.bad || string(in.Data) != want {
				t.Errorf("Decode(%s) = kind %d type %q cursor %q invalid %q data %s; want kind %d type %q cursor %q invalid %q data %s",
					tt.frame, in.Kind, in.Frame.Type, in.Frame.Cursor, in.Frame.Invalid, in.Data, tt.kind, tt.typ, tt.cursor, tt.bad, want)
			}
		})
	}
}

func TestAnswersAndAcks(t *testing.T) {
	c := codec(t, `
  [stream.framing]
  type_path = "/op"
  [[stream.answer]]
  type = "ping"
  reply = '{"op":"pong","id":${/id}}'
  [[stream.answer]]
  text = "PING"
  reply = "PONG"
  [stream.ack]
  message = '{"envelope_id":${/envelope_id}}'
`)
	d := c.Decoder()
	if in := d.Decode([]byte(`{"op":"ping","id":12}`)); in.Kind != Control || string(in.Reply) != `{"op":"pong","id":12}` {
		t.Errorf("app ping: kind %d reply %s", in.Kind, in.Reply)
	}
	if in := d.Decode([]byte(`PING`)); in.Kind != Control || string(in.Reply) != `PONG` {
		t.Errorf("text ping: kind %d reply %s", in.Kind, in.Reply)
	}
	in := d.Decode([]byte(`{"op":"events_api","envelope_id":"e-1","payload":{}}`))
	if in.Kind != Event || string(in.Ack) != `{"envelope_id":"e-1"}` {
		t.Errorf("event: kind %d ack %s", in.Kind, in.Ack)
	}
	if in := d.Decode([]byte(`{"op":"hello"}`)); in.Ack != nil {
		t.Errorf("an event without envelope_id got ack %s", in.Ack)
	}
	if !c.Acks() {
		t.Error("Acks() = false with ack.message set")
	}
}

func TestSubscriptionTemplates(t *testing.T) {
	for _, tt := range []struct {
		name, cfg, cursor, want string
	}{
		{"top-level since as before", "  [stream.cursor]\n  field = \"seq\"\n  [[stream.subscribe]]\n  message = { type = \"subscribe\" }\n",
			"41", `{"since":41,"type":"subscribe"}`},
		{"no cursor yet", "  [stream.cursor]\n  field = \"seq\"\n  [[stream.subscribe]]\n  message = { type = \"subscribe\" }\n",
			"", `{"type":"subscribe"}`},
		{"placeholder nested", "  [stream.cursor]\n  field = \"seq\"\n  [[stream.subscribe]]\n  message = { op = \"sub\", args = { from = \"${cursor}\" } }\n",
			"41", `{"args":{"from":41},"op":"sub"}`},
		{"placeholder without cursor leaves it out", "  [stream.cursor]\n  field = \"seq\"\n  [[stream.subscribe]]\n  message = { op = \"sub\", args = { from = \"${cursor}\" } }\n",
			"", `{"args":{},"op":"sub"}`},
		{"text template", "  [stream.framing]\n  cursor_path = \"/u\"\n  [[stream.subscribe]]\n  text = 'SUB trades FROM ${cursor}'\n",
			"7", `SUB trades FROM 7`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			subs, err := codec(t, tt.cfg).Subscriptions(tt.cursor)
			if err != nil {
				t.Fatal(err)
			}
			if len(subs) != 1 || string(subs[0]) != tt.want {
				t.Errorf("Subscriptions(%q) = %q, want [%s]", tt.cursor, subs, tt.want)
			}
		})
	}
}

func TestGraphQL(t *testing.T) {
	c := codec(t, `
protocol = "graphql-transport-ws"
  [stream.auth]
  mode = "message"
  token_env = "X"
  [stream.framing]
  cursor_path = "/payload/data/ticks/seq"
  [[stream.subscribe]]
  query = "subscription Ticks($since: Int) { ticks(since: $since) { seq } }"
  operation_name = "Ticks"
  variables = { since = "${cursor}", room = "a" }
`)
	hello, wait := c.Hello("tok")
	if string(hello) != `{"payload":{"token":"tok"},"type":"connection_init"}` || !wait {
		t.Errorf("Hello = %s, %v", hello, wait)
	}
	subs, _ := c.Subscriptions("5")
	want := `{"id":"Ticks","payload":{"operationName":"Ticks","query":"subscription Ticks($since: Int) { ticks(since: $since) { seq } }","variables":{"room":"a","since":5}},"type":"subscribe"}`
	if len(subs) != 1 || string(subs[0]) != want {
		t.Errorf("Subscriptions = %s\nwant %s", subs, want)
	}
	if got := string(c.Outbound(3, []byte(`{"query":"mutation { send(body: \"x\") }"}`))); got != `{"id":"out-3","type":"subscribe","payload":{"query":"mutation { send(body: \"x\") }"}}` {
		t.Errorf("Outbound = %s", got)
	}
	d := c.Decoder()
	for _, tt := range []struct {
		frame string
		kind  Kind
		typ   string
		cur   string
		reply string
		fail  messages.FailureKind
	}{
		{`{"type":"connection_ack"}`, AuthOK, "", "", "", 0},
		{`{"type":"ping"}`, Control, "", "", `{"type":"pong"}`, 0},
		{`{"type":"pong"}`, Pong, "", "", "", 0},
		{`{"id":"Ticks","type":"next","payload":{"data":{"ticks":{"seq":6}}}}`, Event, "Ticks", "6", "", 0},
		{`{"id":"out-3","type":"next","payload":{"data":{"send":true}}}`, Event, ResultType, "", "", 0},
		{`{"id":"Ticks","type":"error","payload":[{"message":"boom"}]}`, Ended, "", "", "", messages.Protocol},
		{`{"id":"Ticks","type":"complete"}`, Ended, "", "", "", messages.Transient},
		{`{"id":"out-3","type":"complete"}`, Control, "", "", "", 0},
	} {
		in := d.Decode([]byte(tt.frame))
		if in.Kind != tt.kind || in.Frame.Type != tt.typ || in.Frame.Cursor != tt.cur || string(in.Reply) != tt.reply || in.Fail != tt.fail {
			t.Errorf("Decode(%s) = kind %d type %q cursor %q reply %s fail %v; want %d %q %q %s %v",
				tt.frame, in.Kind, in.Frame.Type, in.Frame.Cursor, in.Reply, in.Fail, tt.kind, tt.typ, tt.cur, tt.reply, tt.fail)
		}
	}
	for _, tt := range []struct {
		code int
		kind messages.FailureKind
	}{
		{4400, messages.Protocol}, {4401, messages.AuthRejected}, {4403, messages.AuthRejected},
		{4409, messages.Protocol}, {4429, messages.Transient}, {4500, messages.Transient},
	} {
		if k, ok := GraphQLFailure(tt.code); !ok || k != tt.kind {
			t.Errorf("GraphQLFailure(%d) = %v, %v; want %v", tt.code, k, ok, tt.kind)
		}
	}
}

func TestSocketIO(t *testing.T) {
	c := codec(t, `
protocol = "socket.io"
  [stream.auth]
  mode = "message"
  token_env = "X"
  [stream.socketio]
  namespace = "/feed"
  auth = { since = "${cursor}" }
  [stream.framing]
  cursor_path = "/1/seq"
  [[stream.subscribe]]
  event = "join"
  message = { room = "a" }
`)
	if got := string(c.Connect("tok", "8")); got != `40/feed,{"since":8,"token":"tok"}` {
		t.Errorf("Connect = %s", got)
	}
	if got := string(c.Connect("", "")); got != `40/feed,{}` {
		t.Errorf("Connect without token or cursor = %s", got)
	}
	subs, _ := c.Subscriptions("")
	if len(subs) != 1 || string(subs[0]) != `42/feed,["join",{"room":"a"}]` {
		t.Errorf("Subscriptions = %s", subs)
	}
	if got := string(c.Outbound(1, []byte(`{"a":1}`))); got != `42/feed,["message",{"a":1}]` {
		t.Errorf("Outbound object = %s", got)
	}
	if got := string(c.Outbound(1, []byte(`["chat","hi"]`))); got != `42/feed,["chat","hi"]` {
		t.Errorf("Outbound array = %s", got)
	}
	if c.Ping() != nil {
		t.Errorf("socket.io client pinged: %s", c.Ping())
	}
	d := c.Decoder()
	open := d.Decode([]byte(`0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
	if open.Kind != Open || open.PingInterval != 25*time.Second || open.PingTimeout != 20*time.Second {
		t.Errorf("open = %+v", open)
	}
	for _, tt := range []struct {
		frame           string
		kind            Kind
		typ, cur, reply string
		ack, data       string
	}{
		{`2`, Pong, "", "", "3", "", ""},
		{`40/feed,{"sid":"s"}`, AuthOK, "", "", "", "", ""},
		{`40{"sid":"s"}`, Control, "", "", "", "", ""}, // another namespace
		{`42/feed,["tick",{"seq":4}]`, Event, "tick", "4", "", "", `["tick",{"seq":4}]`},
		{`42/feed,17["tick",{"seq":5}]`, Event, "tick", "5", "", "43/feed,17[]", `["tick",{"seq":5}]`},
		{`41/feed,`, Ended, "", "", "", "", ""},
	} {
		in := d.Decode([]byte(tt.frame))
		if in.Kind != tt.kind || in.Frame.Type != tt.typ || in.Frame.Cursor != tt.cur || string(in.Reply) != tt.reply ||
			string(in.Ack) != tt.ack || (tt.data != "" && string(in.Data) != tt.data) {
			t.Errorf("Decode(%s) = kind %d type %q cursor %q reply %q ack %q data %s", tt.frame, in.Kind, in.Frame.Type,
				in.Frame.Cursor, in.Reply, in.Ack, in.Data)
		}
	}
	if in := d.Decode([]byte(`44/feed,{"message":"bad token"}`)); in.Kind != AuthFailed || !strings.Contains(in.Err.Error(), "bad token") {
		t.Errorf("connect_error = %+v", in)
	}
}

// The reader's cost per frame on the default framing: Decode adds a call and a struct to
// wire.ParseFrameTypes, which it runs.
var benchFrame = []byte(`{"type":"processing_progress","seq":123456,"job":"job-1","progress":0.42,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)

func BenchmarkParseFrameTypes(b *testing.B) {
	var types wire.Types
	for b.Loop() {
		wire.ParseFrameTypes(benchFrame, "seq", &types)
	}
}

func BenchmarkDecodeDefault(b *testing.B) {
	c, err := New(config.DefaultStreamConfig())
	if err != nil {
		b.Fatal(err)
	}
	d := c.Decoder()
	for b.Loop() {
		d.Decode(benchFrame)
	}
}

func BenchmarkDecodePointer(b *testing.B) {
	sc := config.DefaultStreamConfig()
	sc.Framing.TypePath, sc.Framing.CursorPath = "/type", "/seq"
	sc.Framing.TextType = "text"
	c, err := New(sc)
	if err != nil {
		b.Fatal(err)
	}
	d := c.Decoder()
	for b.Loop() {
		d.Decode(benchFrame)
	}
}

func TestCarriesCursor(t *testing.T) {
	for _, tt := range []struct {
		name, cfg string
		want      bool
	}{
		{"no cursor", "  [[stream.subscribe]]\n  message = { type = \"subscribe\" }\n", false},
		{"subscribe_key", "  [stream.cursor]\n  field = \"seq\"\n  [[stream.subscribe]]\n  message = { type = \"subscribe\" }\n", true},
		{"no subscriptions: an ack feed", "  [stream.framing]\n  cursor_path = \"/payload/seq\"\n", false},
		{"text without placeholder", "  [stream.framing]\n  cursor_path = \"/u\"\n  [[stream.subscribe]]\n  text = \"SUB all\"\n", false},
		{"text with placeholder", "  [stream.framing]\n  cursor_path = \"/u\"\n  [[stream.subscribe]]\n  text = \"SUB FROM ${cursor}\"\n", true},
		{"graphql variables", "protocol = \"graphql-transport-ws\"\n  [stream.framing]\n  cursor_path = \"/payload/data/t/seq\"\n  [[stream.subscribe]]\n  query = \"subscription { t { seq } }\"\n  variables = { since = \"${cursor}\" }\n", true},
		{"graphql without", "protocol = \"graphql-transport-ws\"\n  [stream.framing]\n  cursor_path = \"/payload/data/t/seq\"\n  [[stream.subscribe]]\n  query = \"subscription { t { seq } }\"\n", false},
		{"socket.io auth", "protocol = \"socket.io\"\n  [stream.framing]\n  cursor_path = \"/1/seq\"\n  [stream.socketio]\n  auth = { since = \"${cursor}\" }\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := codec(t, tt.cfg).CarriesCursor(); got != tt.want {
				t.Errorf("CarriesCursor() = %v, want %v", got, tt.want)
			}
		})
	}
}
