package virtual

import (
	"fmt"
	"strconv"
	"strings"
)

// Policy is how a virtual socket spreads events over its members.
type Policy uint8

// The policies, spelled in sockets exactly as their String values.
const (
	// Parallel sends every event to every member.
	Parallel Policy = iota
	// Failover sends each event to the first member that takes it, trying
	// the members in order and skipping, for a while, members that failed.
	Failover
	// RoundRobin sends each event to the next member in turn.
	RoundRobin
)

var policyNames = [...]string{"PARALLEL", "FAILOVER", "ROUND-ROBIN"}

// String returns the policy as written in sockets: "PARALLEL", "FAILOVER"
// or "ROUND-ROBIN".
func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// ParsePolicy parses a policy name. Names are case-sensitive, as in
// OpenSIPS: "FAILOVER" is a policy, "failover" is an error that says so.
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if s == n {
			return Policy(i), nil
		}
	}
	for _, n := range policyNames {
		if strings.EqualFold(s, n) {
			return 0, fmt.Errorf("unknown policy %q (policy is case-sensitive: did you mean %q?)", s, n)
		}
	}
	return 0, fmt.Errorf("unknown policy %q (want PARALLEL, FAILOVER or ROUND-ROBIN)", s)
}
