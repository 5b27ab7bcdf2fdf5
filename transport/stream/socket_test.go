package stream

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/evstream/evstream/evi"
)

func TestParseSocket(t *testing.T) {
	good := []struct {
		in      string
		want    Socket
		printed string
	}{
		{"tcp:127.0.0.1:8080", Socket{"tcp", "127.0.0.1", 8080, ""}, "tcp:127.0.0.1:8080"},
		{"tcp:127.0.0.1:8080/block_ip", Socket{"tcp", "127.0.0.1", 8080, "block_ip"}, "tcp:127.0.0.1:8080/block_ip"},
		{"tcp:127.0.0.1:9/", Socket{"tcp", "127.0.0.1", 9, ""}, "tcp:127.0.0.1:9"},
		{"tcp:localhost:1", Socket{"tcp", "localhost", 1, ""}, "tcp:localhost:1"},
		{"tcp:app-1.Example.COM.:65535", Socket{"tcp", "app-1.Example.COM.", 65535, ""}, "tcp:app-1.Example.COM.:65535"},
		{"tcp:my_host:080", Socket{"tcp", "my_host", 80, ""}, "tcp:my_host:80"},
		{"tcp:[::1]:8080", Socket{"tcp", "::1", 8080, ""}, "tcp:[::1]:8080"},
		{"tcp:[::1]:8080/m", Socket{"tcp", "::1", 8080, "m"}, "tcp:[::1]:8080/m"},
		{"tcp:[fe80::1%lo]:80", Socket{"tcp", "fe80::1%lo", 80, ""}, "tcp:[fe80::1%lo]:80"},
		{"tcp:[::ffff:127.0.0.1]:80", Socket{"tcp", "::ffff:127.0.0.1", 80, ""}, "tcp:[::ffff:127.0.0.1]:80"},
		{"tcp:h:9/a:b/c", Socket{"tcp", "h", 9, "a:b/c"}, "tcp:h:9/a:b/c"},
	}
	for _, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSocket(tc.in)
			if err != nil {
				t.Fatalf("ParseSocket(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseSocket(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.printed {
				t.Fatalf("String() = %q, want %q", s, tc.printed)
			}
		})
	}

	bad := []struct{ in, msg string }{
		{"", `socket "": want prefix "tcp:"`},
		{"udp:127.0.0.1:9", `socket "udp:127.0.0.1:9": want prefix "tcp:"`},
		{"TCP:127.0.0.1:9", `socket "TCP:127.0.0.1:9": want prefix "tcp:"`},
		{"tcp:", `socket "tcp:": missing host and port (want tcp:host:port)`},
		{"tcp:127.0.0.1", `socket "tcp:127.0.0.1": missing port (want host:port)`},
		{"tcp:127.0.0.1/m", `socket "tcp:127.0.0.1/m": missing port (want host:port)`},
		{"tcp:127.0.0.1:", `socket "tcp:127.0.0.1:": missing port (want host:port)`},
		{"tcp:127.0.0.1:/m", `socket "tcp:127.0.0.1:/m": missing port (want host:port)`},
		{"tcp:127.0.0.1:0", `socket "tcp:127.0.0.1:0": port 0 out of range 1..65535`},
		{"tcp:127.0.0.1:65536", `socket "tcp:127.0.0.1:65536": port 65536 out of range 1..65535`},
		{"tcp:127.0.0.1:70000", `socket "tcp:127.0.0.1:70000": port 70000 out of range 1..65535`},
		{"tcp:127.0.0.1:99999999999999999999", `socket "tcp:127.0.0.1:99999999999999999999": port 99999999999999999999 out of range 1..65535`},
		{"tcp:127.0.0.1:http", `socket "tcp:127.0.0.1:http": port "http" is not a decimal number`},
		{"tcp:127.0.0.1:-1", `socket "tcp:127.0.0.1:-1": port "-1" is not a decimal number`},
		{"tcp:127.0.0.1:+80", `socket "tcp:127.0.0.1:+80": port "+80" is not a decimal number`},
		{"tcp:127.0.0.1:0x50", `socket "tcp:127.0.0.1:0x50": port "0x50" is not a decimal number`},
		{"tcp:127.0.0.1: 80", `socket "tcp:127.0.0.1: 80": port " 80" is not a decimal number`},
		{"tcp::80", `socket "tcp::80": missing host`},
		{"tcp:::1:80", `socket "tcp:::1:80": too many ':' (write an IPv6 address in brackets: tcp:[::1]:8080)`},
		{"tcp:h:1:2", `socket "tcp:h:1:2": too many ':' (write an IPv6 address in brackets: tcp:[::1]:8080)`},
		{"tcp:[::1]", `socket "tcp:[::1]": missing port (want host:port)`},
		{"tcp:[::1]:", `socket "tcp:[::1]:": missing port (want host:port)`},
		{"tcp:[::1:80", `socket "tcp:[::1:80": missing ']' after IPv6 address`},
		{"tcp:[::1]80", `socket "tcp:[::1]80": want ':' and a port after ']', got "80"`},
		{"tcp:[::1]:0", `socket "tcp:[::1]:0": port 0 out of range 1..65535`},
		{"tcp:[127.0.0.1]:80", `socket "tcp:[127.0.0.1]:80": bad IPv6 address "127.0.0.1" in brackets`},
		{"tcp:[host]:80", `socket "tcp:[host]:80": bad IPv6 address "host" in brackets`},
		{"tcp:[]:80", `socket "tcp:[]:80": bad IPv6 address "" in brackets`},
		{"tcp:1.2.3:80", `socket "tcp:1.2.3:80": bad IPv4 address "1.2.3"`},
		{"tcp:256.0.0.1:80", `socket "tcp:256.0.0.1:80": bad IPv4 address "256.0.0.1"`},
		{"tcp:a..b:80", `socket "tcp:a..b:80": empty label in host "a..b"`},
		{"tcp:.a:80", `socket "tcp:.a:80": empty label in host ".a"`},
		{"tcp:-a.b:80", `socket "tcp:-a.b:80": label "-a" in host "-a.b" starts or ends with '-'`},
		{"tcp:h h:80", `socket "tcp:h h:80": bad byte ' ' in host "h h"`},
		{"tcp:h@x:80", `socket "tcp:h@x:80": bad byte '@' in host "h@x"`},
		{"tcp:h:80/a b", `socket "tcp:h:80/a b": method "a b" has a space or control byte at 1`},
		{"tcp:h:80/a\n", `socket "tcp:h:80/a\n": method "a\n" has a space or control byte at 1`},
		{"tcp:" + strings.Repeat("a", 64) + ":80", `socket "tcp:` + strings.Repeat("a", 64) + `:80": label longer than 63 bytes in host "` + strings.Repeat("a", 64) + `"`},
	}
	for _, tc := range bad {
		t.Run(tc.in, func(t *testing.T) {
			s, err := ParseSocket(tc.in)
			if err == nil {
				t.Fatalf("ParseSocket(%q) = %+v, want an error", tc.in, s)
			}
			if !errors.Is(err, evi.ErrBadSocket) {
				t.Errorf("error %v does not wrap evi.ErrBadSocket", err)
			}
			if err.Error() != tc.msg {
				t.Errorf("error text\n got %s\nwant %s", err, tc.msg)
			}
		})
	}
}

func FuzzParseSocket(f *testing.F) {
	for _, s := range []string{
		"tcp:127.0.0.1:8080", "tcp:127.0.0.1:8080/block_ip", "tcp:[::1]:9/", "tcp:localhost:1",
		"tcp:h:70000", "tcp:::1:80", "tcp:[fe80::1%lo]:80/m", "tcp:a..b:1", "tcp:h:9/a:b/c", "tcp:[::1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSocket(in)
		if err != nil {
			if !errors.Is(err, evi.ErrBadSocket) {
				t.Fatalf("ParseSocket(%q): error %v does not wrap ErrBadSocket", in, err)
			}
			return
		}
		if s.Port < 1 || s.Port > 65535 || s.Host == "" {
			t.Fatalf("ParseSocket(%q) = %+v: bad fields", in, s)
		}
		printed := s.String()
		again, err := ParseSocket(printed)
		if err != nil {
			t.Fatalf("ParseSocket(%q) = %+v, printed %q does not parse: %v", in, s, printed, err)
		}
		if again != s {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v", in, s, printed, again)
		}
		if again.String() != printed {
			t.Fatalf("printed form of %q not stable: %q then %q", in, printed, again.String())
		}
	})
}

// TestDestinationKey: two sockets designate the same subscriber exactly
// when their keys are equal.
func TestDestinationKey(t *testing.T) {
	tr := newTransport(t, Config{})
	tests := []struct {
		a, b  string
		match bool
	}{
		{"tcp:127.0.0.1:9", "tcp:127.0.0.1:9", true},
		{"tcp:127.0.0.1:9", "tcp:127.0.0.1:9/", true},
		{"tcp:127.0.0.1:9", "tcp:127.0.0.1:09", true},
		{"tcp:127.0.0.1:9/m", "tcp:127.0.0.1:9/m", true},
		{"tcp:127.0.0.1:9/m", "tcp:127.0.0.1:9", false},
		{"tcp:127.0.0.1:9/m", "tcp:127.0.0.1:9/n", false},
		{"tcp:127.0.0.1:9", "tcp:127.0.0.1:10", false},
		{"tcp:localhost:9", "tcp:127.0.0.1:9", false}, // host as written
		{"tcp:[::1]:9", "tcp:[::1]:9", true},
	}
	for _, tc := range tests {
		a := parse(t, tr, tc.a)
		b := parse(t, tr, tc.b)
		if got := a.Key() == b.Key(); got != tc.match {
			t.Errorf("%s and %s: keys %q and %q, want same = %v", tc.a, tc.b, a.Key(), b.Key(), tc.match)
		}
	}
	if got := parse(t, tr, "tcp:[::1]:9/m").String(); got != "tcp:[::1]:9/m" {
		t.Errorf("String() = %q", got)
	}
}

func TestParseResolves(t *testing.T) {
	tr := newTransport(t, Config{})
	if _, err := tr.Parse("tcp:localhost:9"); err != nil {
		t.Fatalf("localhost: %v", err)
	}
	_, err := tr.Parse("tcp:no-such-host.invalid:9")
	if err == nil {
		t.Fatal("an unresolvable host parsed")
	}
	if !errors.Is(err, evi.ErrBadSocket) || !strings.Contains(err.Error(), `"no-such-host.invalid" does not resolve`) {
		t.Fatalf("error %v: want ErrBadSocket and the host named", err)
	}
	if _, err := tr.Parse("tcp:127.0.0.1:0"); !errors.Is(err, evi.ErrBadSocket) {
		t.Fatalf("bad port: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Timeout: -1}, "stream config: Timeout is negative (-1)"},
		{Config{QueueSize: -5}, "stream config: QueueSize is negative (-5)"},
		{Config{MaxInFlight: -1}, "stream config: MaxInFlight is negative (-1)"},
		{Config{MaxInFlight: MaxMaxInFlight + 1}, "stream config: MaxInFlight 1048577 is above 1048576"},
		{Config{MaxReplySize: -1}, "stream config: MaxReplySize is negative (-1)"},
		{Config{BackoffMin: -1}, "stream config: BackoffMin is negative (-1)"},
		{Config{BackoffMin: time.Minute, BackoffMax: time.Second}, "stream config: BackoffMin 1m0s is above BackoffMax 1s"},
		{Config{Framing: 7}, "stream config: Framing 7 is not a known framing"},
		{Config{ConnectTimeout: -1}, "stream config: ConnectTimeout is negative (-1)"},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("New(%+v) accepted a bad config", tc.cfg)
		}
	}
}

// TestMethodBound: a method longer than MaxMethodLen is refused, one at
// the bound is accepted.
func TestMethodBound(t *testing.T) {
	if _, err := ParseSocket("tcp:127.0.0.1:9/" + strings.Repeat("m", MaxMethodLen)); err != nil {
		t.Fatalf("at the bound: %v", err)
	}
	_, err := ParseSocket("tcp:127.0.0.1:9/" + strings.Repeat("m", MaxMethodLen+1))
	if err == nil || !strings.Contains(err.Error(), "longer than 256") {
		t.Fatalf("beyond the bound: %v", err)
	}
}
