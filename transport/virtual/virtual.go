package virtual

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
)

// Scheme is the socket prefix of the virtual transport.
const Scheme = "virtual"

// MaxMembers bounds the members of a virtual socket: each is a send of
// every event (PARALLEL), so an unbounded list amplifies one raise.
const MaxMembers = 64

// DefaultFailoverTimeout is how long a FAILOVER member that failed is
// skipped when Config.FailoverTimeout is zero (OpenSIPS config key
// event_virtual.failover_timeout, 30 seconds).
const DefaultFailoverTimeout = 30 * time.Second

// Config configures a Transport. The zero Config is valid.
type Config struct {
	// FailoverTimeout is how long a FAILOVER member that failed to deliver
	// an event is skipped: during that time events go to the next members
	// first, and to it only when they fail too. 0 means
	// DefaultFailoverTimeout; negative is an error.
	FailoverTimeout time.Duration
	// Logger receives the transport's logs (members failing and
	// recovering); nil discards them.
	Logger *slog.Logger
	// Now returns the current time, for the FAILOVER failure marks; nil
	// means time.Now. Tests inject a clock here.
	Now func() time.Time
	// SeqIDs says that the members are at-least-once destinations, whose
	// requests carry the event's spool sequence as their id: a PARALLEL
	// socket whose members share a connection (evi.Connected) is then
	// refused, as it would send two requests with one id on it.
	SeqIDs bool
}

// Transport is the virtual transport: it parses "virtual:POLICY member..."
// sockets into destinations that spread events over member destinations of
// other transports. It is safe for concurrent use.
type Transport struct {
	reg     *evi.Registry
	timeout time.Duration
	log     *ratelog.Logger
	now     func() time.Time
	seqIDs  bool // Config.SeqIDs

	mu     sync.Mutex
	closed bool
	dests  map[*destination]struct{} // open destinations, closed by Close
	// flights are the accepted events whose outcome is not reported yet;
	// Close fails them, then waits for the reports under way.
	flights flights
}

// New returns a virtual transport whose member sockets are parsed by reg's
// transports (reg.ParseSocket). Register it with reg.Register.
func New(reg *evi.Registry, cfg Config) (*Transport, error) {
	if reg == nil {
		return nil, errors.New("virtual: New: nil registry")
	}
	if cfg.FailoverTimeout < 0 {
		return nil, fmt.Errorf("virtual: Config.FailoverTimeout %v is negative", cfg.FailoverTimeout)
	}
	t := &Transport{
		reg:     reg,
		timeout: cfg.FailoverTimeout,
		log:     ratelog.New(cfg.Logger, 0, 0),
		now:     cfg.Now,
		seqIDs:  cfg.SeqIDs,
		dests:   make(map[*destination]struct{}),
	}
	if t.timeout == 0 {
		t.timeout = DefaultFailoverTimeout
	}
	if t.now == nil {
		t.now = time.Now
	}
	return t, nil
}

// Scheme returns "virtual".
func (t *Transport) Scheme() string { return Scheme }

// FailoverTimeout returns how long a failed FAILOVER member is skipped.
func (t *Transport) FailoverTimeout() time.Duration { return t.timeout }

func isSpace(c rune) bool { return c == ' ' || c == '\t' }

// Parse parses "virtual:POLICY member1 member2 ...": POLICY is PARALLEL,
// FAILOVER or ROUND-ROBIN (uppercase), members are sockets of other
// transports separated by spaces or tabs. At least one member is needed and
// none may be virtual. Errors are *evi.SocketError naming the socket (and
// wrapping a member's own parse error).
func (t *Transport) Parse(socket string) (evi.Destination, error) {
	rest, ok := strings.CutPrefix(socket, Scheme+":")
	if !ok {
		return nil, evi.NewSocketError(socket, nil, "not a virtual socket (want virtual:POLICY member...)")
	}
	fields := strings.FieldsFunc(rest, isSpace)
	if len(fields) == 0 {
		return nil, evi.NewSocketError(socket, nil, "no policy (want virtual:POLICY member..., POLICY one of PARALLEL, FAILOVER, ROUND-ROBIN)")
	}
	policy, err := ParsePolicy(fields[0])
	if err != nil {
		return nil, evi.NewSocketError(socket, nil, "%v", err)
	}
	tokens := fields[1:]
	if len(tokens) == 0 {
		return nil, evi.NewSocketError(socket, nil, "no members (want e.g. virtual:%s tcp:host:port ...)", policy)
	}
	if len(tokens) > MaxMembers {
		return nil, evi.NewSocketError(socket, nil, "%d members, more than %d: one event would become that many sends", len(tokens), MaxMembers)
	}
	for i, tok := range tokens {
		if scheme, _, _ := strings.Cut(tok, ":"); scheme == Scheme {
			return nil, evi.NewSocketError(socket, nil, "member %d %q: a virtual socket cannot be a member of another", i+1, tok)
		}
	}
	if t.isClosed() {
		return nil, fmt.Errorf("socket %q: virtual transport: %w", socket, evi.ErrClosed)
	}
	d := &destination{
		t:       t,
		policy:  policy,
		members: make([]member, len(tokens)),
		printed: Scheme + ":" + policy.String() + " " + strings.Join(tokens, " "),
	}
	for i, tok := range tokens {
		md, err := t.reg.ParseSocket(tok)
		if err != nil {
			for j := range i {
				d.members[j].dest.Close()
			}
			if errors.Is(err, evi.ErrClosed) {
				return nil, fmt.Errorf("socket %q: member %d: %w", socket, i+1, err)
			}
			return nil, evi.NewSocketError(socket, err, "member %d: %v", i+1, err)
		}
		d.members[i].socket = tok
		d.members[i].dest = md
	}
	if policy == Parallel && t.seqIDs {
		if i, j, conn := sharedConnection(d.members); conn != "" {
			d.closeMembers()
			return nil, evi.NewSocketError(socket, nil, "members %d and %d share the connection %s: an at-least-once PARALLEL group would send each event twice on it with one id (its spool sequence); use members on different addresses, or at-most-once delivery", i+1, j+1, conn)
		}
	}
	keys := make([]string, len(d.members))
	for i := range d.members {
		keys[i] = d.members[i].dest.Key()
	}
	if policy == Parallel {
		slices.Sort(keys) // the members match in any order
	}
	d.key = Scheme + ":" + policy.String() + " " + strings.Join(keys, " ")
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		d.closeMembers()
		return nil, fmt.Errorf("socket %q: virtual transport: %w", socket, evi.ErrClosed)
	}
	t.dests[d] = struct{}{}
	t.mu.Unlock()
	return d, nil
}

// sharedConnection returns two members whose destinations share a
// connection, and its name; "" when none do.
func sharedConnection(members []member) (i, j int, conn string) {
	seen := map[string]int{}
	for j := range members {
		c, ok := members[j].dest.(evi.Connected)
		if !ok {
			continue
		}
		name := c.Connection()
		if i, dup := seen[name]; dup {
			return i, j, name
		}
		seen[name] = j
	}
	return 0, 0, ""
}

func (t *Transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Close fails the events still pending with a *evi.DeliveryError (Reason
// ReasonClosed) and closes every open virtual destination (and so their
// members); when it returns every outcome has been reported, and the
// members' outcomes that come later are dropped. Parse and Send fail with
// evi.ErrClosed afterwards.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	dests := make([]*destination, 0, len(t.dests))
	for d := range t.dests {
		dests = append(dests, d)
	}
	t.mu.Unlock()
	t.flights.close()
	var errs []error
	for _, d := range dests {
		errs = append(errs, d.Close())
	}
	t.log.Close()
	return errors.Join(errs...)
}

func (t *Transport) forget(d *destination) {
	t.mu.Lock()
	delete(t.dests, d)
	t.mu.Unlock()
}
