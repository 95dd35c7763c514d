// Package natsconn opens NATS connections the way holdfast's config describes them, for the
// nats sink and for cluster mode.
package natsconn

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/tlsconf"
)

// Options is one connection's settings.
type Options struct {
	Conn      config.NATSConnConfig
	TokenEnv  string // token read at every (re)connect, like the other secrets
	TokenFile string
	TLS       config.TLSConfig
	Timeout   time.Duration // dial timeout. Default: 5s.
	Log       zerolog.Logger
	// OnReconnect runs on the client's goroutine after each reconnect; nil = nothing.
	OnReconnect func()
	// OnDisconnect runs on the client's goroutine when the link drops; nil = nothing.
	OnDisconnect func(error)
	// NoBuffer makes publishes fail at once while reconnecting instead of being buffered
	// and sent late (cluster mode: a lease renewal must never arrive after it timed out).
	NoBuffer bool
}

// Connect dials the servers once (the caller retries with its own backoff). Once connected,
// the client reconnects without limit and reports through the callbacks. Credentials never
// reach the log: only server hosts are logged.
func Connect(o Options) (*nats.Conn, error) {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	name := o.Conn.ConnectionName
	if name == "" {
		name = config.DefaultNATSConnectionName
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.Timeout(o.Timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
	}
	if o.NoBuffer {
		opts = append(opts, nats.ReconnectBufSize(-1))
	}
	if o.Conn.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.Conn.CredsFile))
	}
	if o.Conn.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.Conn.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey_file: %w", err)
		}
		opts = append(opts, opt)
	}
	if o.TokenEnv != "" || o.TokenFile != "" {
		if _, err := config.ReadToken(o.TokenEnv, o.TokenFile); err != nil {
			return nil, err
		}
		env, file := o.TokenEnv, o.TokenFile
		opts = append(opts, nats.TokenHandler(func() string {
			tok, _ := config.ReadToken(env, file) // checked above; a later failure is refused by the server
			return string(tok)
		}))
	}
	tc, err := tlsconf.Client(o.TLS)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	log := o.Log
	opts = append(opts,
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn().Err(err).Msg("nats disconnected")
			}
			if o.OnDisconnect != nil {
				o.OnDisconnect(err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("server", nc.ConnectedAddr()).Msg("nats reconnected")
			if o.OnReconnect != nil {
				o.OnReconnect()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn().Err(err).Msg("nats async error")
		}),
	)
	nc, err := nats.Connect(strings.Join(o.Conn.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("connect nats %s: %w", Hosts(o.Conn.URLs), err)
	}
	return nc, nil
}

// Hosts lists the servers' host:port, never user info a URL may carry.
func Hosts(urls []string) string {
	out := make([]string, 0, len(urls))
	for _, u := range urls {
		if i := strings.Index(u, "://"); i >= 0 {
			u = u[i+3:]
		}
		if i := strings.LastIndexByte(u, '@'); i >= 0 {
			u = u[i+1:]
		}
		if i := strings.IndexAny(u, "/?"); i >= 0 {
			u = u[:i]
		}
		out = append(out, u)
	}
	return strings.Join(out, ",")
}
