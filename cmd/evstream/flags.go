package main

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// durationValue is a time.Duration flag whose error says what is wanted:
// "--shutdown-timeout 5" is refused with "want a duration with a unit,
// like 5s, 500ms or 2m", not "parse error".
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Type() string   { return "duration" }

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return fmt.Errorf("want a duration with a unit, like %ss, %sms or 2m", s, s)
		}
		return fmt.Errorf("want a duration with a unit, like 5s, 500ms or 2m")
	}
	if v < 0 {
		return fmt.Errorf("want a duration that is not negative")
	}
	*d = durationValue(v)
	return nil
}

// checkAddr checks a listen or dial address: host:port, port 0..65535.
func checkAddr(addr, example string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: want host:port, e.g. %s (host empty: every interface)", addr, example)
	}
	_ = host
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
		return fmt.Errorf("address %q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// checkMIURL checks an MI URL: http or https, with a host.
func checkMIURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want the MI's URL, like %s", raw, defaultMIURL)
	}
	return nil
}
