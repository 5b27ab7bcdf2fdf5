package spool

import (
	"encoding/binary"
	"errors"
	"time"
)

// The stored form of an entry: a version byte, the ID (16 bytes), the
// raise time (Unix nanoseconds, 8 bytes), the attempts (uvarint), then the
// event name, the params and the error, each as a uvarint length and its
// bytes. The queue and the sequence are the entry's bucket and key.
const formatV1 = 1

var errDamaged = errors.New("damaged record")

func encode(e Entry) []byte {
	b := make([]byte, 0, 1+16+8+4+3*binary.MaxVarintLen32+len(e.Event)+len(e.Params)+len(e.Error))
	b = append(b, formatV1)
	b = append(b, e.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Raised.UnixNano()))
	b = binary.AppendUvarint(b, uint64(e.Attempts))
	for _, f := range [][]byte{[]byte(e.Event), e.Params, []byte(e.Error)} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

func decode(b []byte) (Entry, error) {
	var e Entry
	if len(b) < 1+16+8 || b[0] != formatV1 {
		return e, errDamaged
	}
	copy(e.ID[:], b[1:17])
	e.Raised = time.Unix(0, int64(binary.BigEndian.Uint64(b[17:25])))
	b = b[25:]
	attempts, n := uvarint(b)
	if n <= 0 || attempts > 1<<31 {
		return e, errDamaged
	}
	e.Attempts = int(attempts)
	b = b[n:]
	var fields [3][]byte
	for i := range fields {
		l, n := uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return e, errDamaged
		}
		fields[i] = b[n : n+int(l)]
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return e, errDamaged
	}
	e.Event, e.Error = string(fields[0]), string(fields[2])
	e.Params = append([]byte(nil), fields[1]...)
	return e, nil
}

// uvarint is binary.Uvarint that also refuses a number not written in
// its shortest form (n <= 0): each record has one encoding.
func uvarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n > 0 && n != len(binary.AppendUvarint(nil, v)) {
		return 0, -1
	}
	return v, n
}
