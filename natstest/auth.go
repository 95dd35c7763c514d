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
	op, err := newKey(nkeys.CreateOperator)
	if err != nil {
		return nil, err
	}
	// JetStream needs a system account for its internal subscriptions.
	sys, sysJWT, err := newAccount(op, "SYS", nil)
	if err != nil {
		return nil, err
	}
	oc := jwt.NewOperatorClaims(op.pub)
	oc.Name = "holdfast-test"
	oc.SystemAccount = sys.pub
	if _, err := oc.Encode(op.kp); err != nil { // fills in the issuer
		return nil, fmt.Errorf("operator jwt: %w", err)
	}
	acc, accJWT, err := newAccount(op, "holdfast", func(ac *jwt.AccountClaims) {
		ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit,
			Streams: jwt.NoLimit, Consumer: jwt.NoLimit}
	})
	if err != nil {
		return nil, err
	}
	user, err := newKey(nkeys.CreateUser)
	if err != nil {
		return nil, err
	}
	userJWT, err := jwt.NewUserClaims(user.pub).Encode(acc.kp)
	if err != nil {
		return nil, fmt.Errorf("user jwt: %w", err)
	}
	seed, err := user.kp.Seed()
	if err != nil {
		return nil, err
	}
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		return nil, err
	}
	return &Operator{Creds: creds, operator: oc, accounts: map[string]string{acc.pub: accJWT, sys.pub: sysJWT},
		system: sys.pub}, nil
}

// key is a fresh NKey pair and its public key.
type key struct {
	kp  nkeys.KeyPair
	pub string
}

func newKey(create func() (nkeys.KeyPair, error)) (key, error) {
	kp, err := create()
	if err != nil {
		return key{}, err
	}
	pub, err := kp.PublicKey()
	return key{kp, pub}, err
}

// newAccount creates an account signed by op; adjust, when set, fills in its claims.
func newAccount(op key, name string, adjust func(*jwt.AccountClaims)) (key, string, error) {
	k, err := newKey(nkeys.CreateAccount)
	if err != nil {
		return key{}, "", err
	}
	ac := jwt.NewAccountClaims(k.pub)
	ac.Name = name
	if adjust != nil {
		adjust(ac)
	}
	token, err := ac.Encode(op.kp)
	if err != nil {
		return key{}, "", fmt.Errorf("account %s jwt: %w", name, err)
	}
	return k, token, nil
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
