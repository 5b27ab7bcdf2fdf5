package evi

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync/atomic"
)

// ID identifies one raised event, unique across the restarts of a daemon:
// a random number drawn when the Registry starts (its boot) and the event's
// rank among those it raised since. It keys an event in stores (the spool,
// dead letters) and messages of other systems; the zero ID is no event.
type ID struct {
	boot, seq uint64
}

// String returns the ID as 32 lowercase hexadecimal digits: the boot's
// 16, then the rank's.
func (id ID) String() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], id.boot)
	binary.BigEndian.PutUint64(b[8:], id.seq)
	return hex.EncodeToString(b[:])
}

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// Bytes returns the ID's 16 bytes, in the order String prints them.
func (id ID) Bytes() [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], id.boot)
	binary.BigEndian.PutUint64(b[8:], id.seq)
	return b
}

// IDFromBytes is the inverse of ID.Bytes.
func IDFromBytes(b [16]byte) ID {
	return ID{boot: binary.BigEndian.Uint64(b[:8]), seq: binary.BigEndian.Uint64(b[8:])}
}

// ParseID parses the form String returns.
func ParseID(s string) (ID, error) {
	var b [16]byte
	if len(s) != 32 {
		return ID{}, fmt.Errorf("event id %q: want 32 hexadecimal digits", s)
	}
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("event id %q: want 32 hexadecimal digits", s)
	}
	return IDFromBytes(b), nil
}

// idSource hands out the IDs of one registry's life.
type idSource struct {
	boot uint64
	seq  atomic.Uint64
}

func newIDSource() *idSource {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic("evi: crypto/rand: " + err.Error()) // crypto/rand does not fail on supported systems
		}
		if boot := binary.BigEndian.Uint64(b[:]); boot != 0 {
			return &idSource{boot: boot}
		}
	}
}

func (s *idSource) next() ID { return ID{boot: s.boot, seq: s.seq.Add(1)} }
