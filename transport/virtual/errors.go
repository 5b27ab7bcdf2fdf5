package virtual

import (
	"strconv"
	"strings"
)

// MemberError is the failure of one member of a virtual socket.
type MemberError struct {
	// Member is the member's socket as written in the virtual socket.
	Member string
	// Err is why the member did not deliver the event.
	Err error
}

func (e *MemberError) Error() string { return e.Member + ": " + e.Err.Error() }

// Unwrap returns the member's own error, so errors.Is(err, evi.ErrTimeout)
// and the like see through it.
func (e *MemberError) Unwrap() error { return e.Err }

// Error is the failure of a virtual subscriber: its policy did not succeed.
// It is what a virtual destination's done callback (and so evi.Outcome.Err)
// carries; test for it with errors.As. errors.Is sees every member's error.
type Error struct {
	// Policy is the virtual socket's policy.
	Policy Policy
	// Members is how many members the virtual socket has.
	Members int
	// Failed lists the members that failed, in the order they were tried
	// (PARALLEL: in socket order). ROUND-ROBIN fails with one member.
	Failed []*MemberError
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("virtual ")
	b.WriteString(e.Policy.String())
	switch e.Policy {
	case Parallel:
		b.WriteString(": ")
		b.WriteString(strconv.Itoa(len(e.Failed)))
		b.WriteString(" of ")
		b.WriteString(strconv.Itoa(e.Members))
		b.WriteString(" members failed: ")
	case Failover:
		if e.Members == 1 {
			b.WriteString(": the only member failed: ")
		} else {
			b.WriteString(": all ")
			b.WriteString(strconv.Itoa(e.Members))
			b.WriteString(" members failed: ")
		}
	default:
		b.WriteString(": member ")
	}
	for i, f := range e.Failed {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

// Unwrap returns the members' errors (each a *MemberError).
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f
	}
	return errs
}
