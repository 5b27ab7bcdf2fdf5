package tlsstream

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/tlsfiles"
	"github.com/evstream/evstream/transport"
	"github.com/evstream/evstream/transport/stream"
)

// Scheme is the socket prefix of the transport; Section its config
// section.
const (
	Scheme  = "tls"
	Section = "tls"
)

func init() {
	transport.Register(transport.Plugin{
		Scheme:      Scheme,
		Section:     Section,
		Subsystem:   "tls",
		NewSettings: func() transport.Settings { return &Settings{} },
		New: func(env transport.Env, s transport.Settings) (evi.Transport, error) {
			es, ok := env.Sections[stream.Section].(*stream.Settings)
			if !ok {
				d := stream.DefaultSettings()
				es = &d
			}
			base := es.Config(env.Logger)
			base.Check = env.Check
			if env.Dialer != nil {
				base.Dialer = env.Dialer
			}
			cfg, err := s.(*Settings).StreamConfig(base)
			if err != nil {
				return nil, err
			}
			cfg.SeqIDs = env.SeqIDs
			return stream.New(cfg)
		},
		Order: 1, // after tcp:, before virtual: (whose members it may be)
	})
}

// Settings are the "tls" section of the config file.
type Settings struct {
	// CAFile is a PEM file of the CAs that may sign the receivers'
	// certificates; "" means the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile, both set, are the client certificate (PEM)
	// presented to receivers that ask for one (mutual TLS).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the receivers' certificates must hold; ""
	// means each socket's host.
	ServerName string `yaml:"server_name"`
}

// Validate returns every problem of s.
func (s *Settings) Validate() []error {
	var errs []error
	switch {
	case s.CertFile != "" && s.KeyFile == "":
		errs = append(errs, transport.Errorf("key_file", "missing: cert_file is set (both, or neither)"))
	case s.CertFile == "" && s.KeyFile != "":
		errs = append(errs, transport.Errorf("cert_file", "missing: key_file is set (both, or neither)"))
	}
	return errs
}

// TLSConfig returns the client TLS config of s: its files loaded (errors
// name them).
func (s *Settings) TLSConfig() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
	if s.CAFile != "" {
		var err error
		if c.RootCAs, err = tlsfiles.Pool(s.CAFile, "tls.ca_file"); err != nil {
			return nil, err
		}
	}
	if s.CertFile != "" {
		pair, err := tlsfiles.KeyPair(s.CertFile, s.KeyFile, "tls.cert_file, tls.key_file")
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// StreamConfig returns base (event_stream's config) as the tls:
// transport's, with s's TLS settings.
func (s *Settings) StreamConfig(base stream.Config) (stream.Config, error) {
	tc, err := s.TLSConfig()
	if err != nil {
		return stream.Config{}, err
	}
	return Config(base, tc), nil
}

// Config returns cfg (an event_stream config) as a tls: transport's: its
// Scheme, and a Dialer that opens every connection with cfg.Dialer (a
// *net.Dialer when nil), then a TLS handshake configured by tc, both
// within the connect timeout.
func Config(cfg stream.Config, tc *tls.Config) stream.Config {
	cfg.Scheme = Scheme
	raw := cfg.Dialer
	if raw == nil {
		raw = &net.Dialer{}
	}
	cfg.Dialer = &dialer{raw: raw, tc: tc}
	return cfg
}

// dialer opens a TLS connection over a connection of raw.
type dialer struct {
	raw stream.Dialer
	tc  *tls.Config
}

func (d *dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.raw.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	tc := d.tc
	if tc.ServerName == "" {
		host, _, _ := net.SplitHostPort(address)
		tc = tc.Clone()
		tc.ServerName = host
	}
	conn := tls.Client(c, tc)
	if err := conn.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return conn, nil
}

// New returns a tls: transport; see Config.
func New(cfg stream.Config, tc *tls.Config) (*stream.Transport, error) {
	if tc == nil {
		return nil, errors.New("tlsstream: New: nil tls.Config")
	}
	return stream.New(Config(cfg, tc))
}
