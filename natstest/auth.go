package natstest

import (
	"fmt"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Operator is decentralized (JWT) authentication for a test server: an operator, one account
// allowed JetStream, and one user of that account whose credentials file is Creds. A server
// run with it accepts nobody else.
type Operator struct {
	Creds []byte // the user's .creds file: its JWT and NKey seed

	operator *jwt.OperatorClaims
	accounts map[string]string // public key → JWT: the account and the system account
	system   string
}

// NewOperator creates the operator, account and user, each with fresh keys.
func NewOperator() (*Operator, error) {
	okp, err := nkeys.CreateOperator()
	if err != nil {
		return nil, err
	}
	opub, err := okp.PublicKey()
	if err != nil {
		return nil, err
	}
	// JetStream needs a system account for its internal subscriptions.
	skp, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	spub, err := skp.PublicKey()
	if err != nil {
		return nil, err
	}
	sc := jwt.NewAccountClaims(spub)
	sc.Name = "SYS"
	sjwt, err := sc.Encode(okp)
	if err != nil {
		return nil, fmt.Errorf("system account jwt: %w", err)
	}
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "holdfast-test"
	oc.SystemAccount = spub
	if _, err := oc.Encode(okp); err != nil { // fills in the issuer
		return nil, fmt.Errorf("operator jwt: %w", err)
	}
	akp, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	apub, err := akp.PublicKey()
	if err != nil {
		return nil, err
	}
	ac := jwt.NewAccountClaims(apub)
	ac.Name = "holdfast"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit,
		Streams: jwt.NoLimit, Consumer: jwt.NoLimit}
	ajwt, err := ac.Encode(okp)
	if err != nil {
		return nil, fmt.Errorf("account jwt: %w", err)
	}
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	upub, err := ukp.PublicKey()
	if err != nil {
		return nil, err
	}
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	if err != nil {
		return nil, fmt.Errorf("user jwt: %w", err)
	}
	seed, err := ukp.Seed()
	if err != nil {
		return nil, err
	}
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		return nil, err
	}
	return &Operator{Creds: creds, operator: oc, accounts: map[string]string{apub: ajwt, spub: sjwt}, system: spub}, nil
}

// apply makes opts trust the operator and know its account.
func (o *Operator) apply(opts *server.Options) error {
	res := &server.MemAccResolver{}
	for pub, token := range o.accounts {
		if err := res.Store(pub, token); err != nil {
			return fmt.Errorf("account resolver: %w", err)
		}
	}
	opts.TrustedOperators = []*jwt.OperatorClaims{o.operator}
	opts.AccountResolver = res
	opts.SystemAccount = o.system
	return nil
}
