package virtual

import (
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/transport"
)

// Section is the config file's section of the "virtual:" transport.
const Section = "event_virtual"

// MaxFailoverTimeoutS is the longest failover_timeout: one day.
const MaxFailoverTimeoutS = 86_400

func init() {
	transport.Register(transport.Plugin{
		Scheme:      Scheme,
		Section:     Section,
		Subsystem:   "virtual",
		NewSettings: func() transport.Settings { s := DefaultSettings(); return &s },
		New: func(env transport.Env, s transport.Settings) (evi.Transport, error) {
			return New(env.Registry, Config{
				FailoverTimeout: time.Duration(s.(*Settings).FailoverTimeout) * time.Second,
				Logger:          env.Logger,
				SeqIDs:          env.SeqIDs,
			})
		},
		Order: 10, // its members are sockets of the others
	})
}

// Settings are the "event_virtual" section of the config file.
type Settings struct {
	// FailoverTimeout is in seconds: how long a FAILOVER member that failed
	// is skipped.
	FailoverTimeout int `yaml:"failover_timeout"`
}

// DefaultSettings returns the section's defaults.
func DefaultSettings() Settings {
	return Settings{FailoverTimeout: int(DefaultFailoverTimeout / time.Second)}
}

// Validate returns every problem of s.
func (s *Settings) Validate() []error {
	if s.FailoverTimeout < 1 || s.FailoverTimeout > MaxFailoverTimeoutS {
		return []error{transport.Errorf("failover_timeout", "%d is out of range: want 1 to %d seconds (1 day)", s.FailoverTimeout, MaxFailoverTimeoutS)}
	}
	return nil
}
