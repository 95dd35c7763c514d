package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"holdfast/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serverName is the only name in the server certificate, so connecting to 127.0.0.1
// verifies only when ServerName is set.
const serverName = "holdfast.test"

// pki is a CA, a server certificate and a client certificate written as PEM files.
type pki struct {
	caFile, clientCert, clientKey string
	caPool                        *x509.CertPool
	server                        tls.Certificate
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "holdfast test ca"},
		NotBefore:             time.Unix(0, 0),
		NotAfter:              time.Unix(1<<33, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, dns []string) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Unix(0, 0),
			NotAfter:     time.Unix(1<<33, 0),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     dns,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	srvDER, srvKey := issue(2, serverName, x509.ExtKeyUsageServerAuth, []string{serverName})
	cliDER, cliKey := issue(3, "holdfast client", x509.ExtKeyUsageClientAuth, nil)

	p := pki{
		caFile:     writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER),
		clientCert: writePEM(t, dir, "client.pem", "CERTIFICATE", cliDER),
		clientKey:  writePEM(t, dir, "client-key.pem", "PRIVATE KEY", marshalKey(t, cliKey)),
		caPool:     x509.NewCertPool(),
		server:     tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey},
	}
	p.caPool.AddCert(ca)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newMTLSServer answers with the client certificate's common name and rejects clients
// without a certificate signed by the test CA.
func newMTLSServer(t *testing.T, p pki) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.caPool,
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake refusals are expected here
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// get fetches url with tc and returns the body.
func get(t *testing.T, tc *tls.Config, url string) (string, error) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: tc}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestClientNothingSet(t *testing.T) {
	tc, err := Client(config.TLSConfig{})
	if tc != nil || err != nil {
		t.Fatalf("Client(zero) = %v, %v, want nil, nil", tc, err)
	}
}

func TestClientHandshake(t *testing.T) {
	p := newPKI(t)
	srv := newMTLSServer(t, p)
	full := config.TLSConfig{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey, ServerName: serverName}
	for _, tt := range []struct {
		name    string
		cfg     config.TLSConfig
		wantErr string // substring of the request error; "" = success
	}{
		{"ca, client cert and server name", full, ""},
		{"no client cert is refused by the server", config.TLSConfig{CAFile: p.caFile, ServerName: serverName}, "certificate required"},
		{"without ca_file the server is unknown", config.TLSConfig{CertFile: p.clientCert, KeyFile: p.clientKey, ServerName: serverName}, "unknown authority"},
		{"without server_name the name mismatches", config.TLSConfig{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey}, "127.0.0.1"},
		{"insecure_skip_verify skips both", config.TLSConfig{CertFile: p.clientCert, KeyFile: p.clientKey, InsecureSkipVerify: true}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := Client(tt.cfg)
			if err != nil {
				t.Fatalf("Client(%+v): %v", tt.cfg, err)
			}
			body, err := get(t, tc, srv.URL)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("get: %v, want success", err)
			case tt.wantErr == "" && body != "holdfast client":
				t.Fatalf("server saw client %q, want %q", body, "holdfast client")
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("get: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestClientKeepsSystemRoots(t *testing.T) {
	p := newPKI(t)
	sys, err := x509.SystemCertPool()
	// Subjects is deprecated because a pool from SystemCertPool may not list the roots of a
	// platform verifier (macOS, Windows); on Linux the roots are in the pool, and counting
	// them is all this test does.
	//lint:ignore SA1019 see above
	if err != nil || len(sys.Subjects()) == 0 {
		t.Skip("no system roots on this host")
	}
	tc, err := Client(config.TLSConfig{CAFile: p.caFile})
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 as above
	if got, want := len(tc.RootCAs.Subjects()), len(sys.Subjects())+1; got != want {
		t.Errorf("RootCAs has %d subjects, want %d (system roots plus ca_file)", got, want)
	}
}

func TestClientErrors(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		cfg      config.TLSConfig
		want     string // substring of the error
		notExist bool   // errors.Is(err, fs.ErrNotExist)
	}{
		{"missing ca_file", config.TLSConfig{CAFile: missing}, "read ca_file " + missing, true},
		{"ca_file without PEM", config.TLSConfig{CAFile: garbage}, "read ca_file " + garbage, false},
		{"cert without key", config.TLSConfig{CertFile: p.clientCert}, "set together", false},
		{"key without cert", config.TLSConfig{KeyFile: p.clientKey}, "set together", false},
		{"missing key_file", config.TLSConfig{CertFile: p.clientCert, KeyFile: missing}, "key_file " + missing, true},
		{"garbage cert_file", config.TLSConfig{CertFile: garbage, KeyFile: p.clientKey}, "load cert_file " + garbage, false},
		{"key does not match cert", config.TLSConfig{CertFile: p.caFile, KeyFile: p.clientKey}, "load cert_file", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := Client(tt.cfg)
			if err == nil || tc != nil {
				t.Fatalf("Client(%+v) = %v, %v, want error", tt.cfg, tc, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if errors.Is(err, fs.ErrNotExist) != tt.notExist {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v, want %v", err, !tt.notExist, tt.notExist)
			}
		})
	}
}
