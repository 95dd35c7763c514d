// Package tlsconf builds client TLS configurations for sockets, polls and webhooks.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"holdfast/config"
)

// Client builds a client *tls.Config from c. It returns nil, nil when nothing is set, so
// callers keep their transport's defaults (system roots, server name from the URL).
//
// CAFile (PEM) is trusted in addition to the system roots. CertFile and KeyFile (PEM) are
// the client certificate and must be set together. ServerName overrides the name checked
// against the server certificate. InsecureSkipVerify turns verification off and is meant
// for tests only. Files are read on every call, so a reload picks up rotated certificates.
func Client(c config.TLSConfig) (*tls.Config, error) {
	if c == (config.TLSConfig{}) {
		return nil, nil
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("tls: cert_file and key_file must be set together")
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // explicit opt-in
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file %s: %w", c.CAFile, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool() // no system roots on this host: trust the CA file alone
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read ca_file %s: no PEM certificate found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load cert_file %s, key_file %s: %w", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
