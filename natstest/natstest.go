// Package natstest runs an in-process NATS server with JetStream on loopback, for tests and
// for `holdfast demo --cluster`. It is never used by the daemon's production path.
package natstest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is one embedded NATS server with JetStream.
type Server struct {
	*server.Server
	opts *server.Options
}

// Options for Run. Zero values pick a free loopback port.
type Options struct {
	Dir  string // JetStream store directory (required)
	Port int    // 0 = any free port
	Name string // server name; Default: holdfast-test.
	// Cluster, when set, makes the server one node of a JetStream cluster: Routes are the
	// other nodes' cluster URLs and ClusterPort this node's.
	ClusterName string
	ClusterPort int
	Routes      []string
	// Token, when set, is the only credential the server accepts (no other users).
	Token string
	// NKeys, when set, are the public keys of the only users the server accepts.
	NKeys []string
	// Operator, when set, is the only authentication the server accepts: JWTs (see NewOperator).
	Operator *Operator
	// TLS, when set, makes the server require TLS on client connections with this config.
	TLS *tls.Config
}

// Run starts a server and waits until it accepts connections.
func Run(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("natstest: Dir is required")
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	name := o.Name
	if name == "" {
		name = "holdfast-test"
	}
	opts := &server.Options{ServerName: name, Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: o.Dir,
		NoLog: true, NoSigs: true, DisableJetStreamBanner: true}
	opts.Authorization = o.Token
	if o.TLS != nil {
		opts.TLSConfig, opts.TLS, opts.TLSTimeout = o.TLS, true, 5
	}
	for _, k := range o.NKeys {
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: k})
	}
	if o.Operator != nil {
		if err := o.Operator.apply(opts); err != nil {
			return nil, err
		}
	}
	if o.ClusterName != "" {
		opts.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: "127.0.0.1", Port: o.ClusterPort}
		routes, err := parseRoutes(o.Routes)
		if err != nil {
			return nil, err
		}
		opts.Routes = routes
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("nats server: not ready within 10s")
	}
	return &Server{Server: s, opts: opts}, nil
}

// TB is the part of testing.TB that Start uses, so that the daemon (whose demo runs a
// server) does not link the testing package.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	TempDir() string
}

// Start runs a single server on a temporary directory and shuts it down in t.Cleanup.
func Start(t TB) *Server {
	t.Helper()
	s, err := Run(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// URL is the client URL, nats://127.0.0.1:port.
func (s *Server) URL() string { return s.ClientURL() }

// Port is the client port (stable across Restart).
func (s *Server) Port() int {
	if a, ok := s.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return s.opts.Port
}

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func parseRoutes(routes []string) ([]*url.URL, error) {
	out := make([]*url.URL, 0, len(routes))
	for _, r := range routes {
		u, err := url.Parse(r)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// RouteURL is the cluster URL of a node listening on port.
func RouteURL(port int) string { return "nats://127.0.0.1:" + strconv.Itoa(port) }

// Stored returns the data and Nats-Msg-Id of every message in stream, oldest first.
func Stored(ctx context.Context, url, stream string) ([]Msg, error) {
	nc, err := nats.Connect(url, nats.Name("natstest"))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	out := make([]Msg, 0, info.State.Msgs)
	for uint64(len(out)) < info.State.Msgs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %d of %d: %w", len(out), info.State.Msgs, err)
		}
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("fetch: %w", err)
		}
		for m := range batch.Messages() {
			out = append(out, Msg{Subject: m.Subject(), ID: m.Headers().Get("Nats-Msg-Id"), Data: m.Data()})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("fetch: %w", err)
		}
	}
	return out, nil
}

// Msg is one stored message.
type Msg struct {
	Subject string
	ID      string
	Data    []byte
}

// Count is how many messages stream holds; 0 when it does not exist yet. opts are added to
// the connection (credentials, TLS).
func Count(ctx context.Context, url, stream string, opts ...nats.Option) (uint64, error) {
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("natstest")}, opts...)...)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// Cluster is an in-process JetStream cluster: every node on loopback, its own store.
type Cluster struct {
	Nodes []*Server
	urls  []string
}

// RunCluster starts n nodes of a JetStream cluster (client and route ports picked free on
// 127.0.0.1, each node routed to all the others, store dirs from dir(i)) and waits until
// JetStream has a meta leader and every node is current, within wait.
func RunCluster(n int, dir func(i int) string, wait time.Duration) (*Cluster, error) {
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range ports {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		ports[i], routes[i] = p, RouteURL(p)
	}
	c := &Cluster{}
	for i := range n {
		s, err := Run(Options{Dir: dir(i), Name: fmt.Sprintf("holdfast-test-%d", i+1),
			ClusterName: "holdfast-test", ClusterPort: ports[i], Routes: routes})
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		c.Nodes = append(c.Nodes, s)
		c.urls = append(c.urls, s.URL())
	}
	if err := c.WaitLeader(wait); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// StartCluster runs a 3-node cluster on temporary directories and stops it in t.Cleanup.
func StartCluster(t TB) *Cluster {
	t.Helper()
	c, err := RunCluster(3, func(int) string { return t.TempDir() }, 30*time.Second)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// WaitLeader waits until one running node is the JetStream meta leader and every running
// node is current with it.
func (c *Cluster) WaitLeader(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		leaders, current, running := 0, 0, 0
		for _, s := range c.Nodes {
			if !s.Running() {
				continue
			}
			running++
			if s.JetStreamIsLeader() {
				leaders++
			}
			if s.JetStreamIsCurrent() {
				current++
			}
		}
		if leaders == 1 && current == running {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats cluster: no JetStream meta leader within %v (%d leaders, %d of %d current)",
				wait, leaders, current, running)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URLs are the client URLs of every node, running or not.
func (c *Cluster) URLs() []string { return slices.Clone(c.urls) }

// StreamLeader is the index of the node that leads stream (in the global account), or -1.
func (c *Cluster) StreamLeader(stream string) int {
	for i, s := range c.Nodes {
		if s.Running() && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// Stop shuts every node down.
func (c *Cluster) Stop() {
	for _, s := range c.Nodes {
		s.Stop()
	}
}

// JetStream connects a client to url (with opts) and returns it with its JetStream context;
// the connection is closed in t.Cleanup.
func JetStream(t TB, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}
