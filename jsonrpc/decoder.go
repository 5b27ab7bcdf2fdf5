package jsonrpc

import (
	"fmt"
	"io"
)

// DefaultMaxMessageSize is the largest object a Decoder accepts when none is
// given: 4 MiB.
const DefaultMaxMessageSize = 4 << 20

// initialBufSize is the Decoder's first buffer (and so its read) size.
const initialBufSize = 8 << 10

// maxEmptyReads is how many (0, nil) reads in a row a Decoder tolerates
// before it gives up with io.ErrNoProgress.
const maxEmptyReads = 100

// A Decoder reads a stream of JSON objects written back to back, as
// OpenSIPS's event_stream writes them: no delimiter is needed, whitespace
// (newlines included) between objects is skipped, and an object may be split
// anywhere across reads.
//
// It validates each object as it delimits it (when the object is buffered
// whole; else it delimits it with a structural scan of strings, escapes
// and nesting as the bytes come, then validates it), so every object it
// returns is valid JSON.
// Its buffer grows with the largest object seen, never beyond the size limit
// plus one byte. A Decoder is not safe for concurrent use.
type Decoder struct {
	r   io.Reader
	max int

	buf  []byte // buf[:end] holds what was read and not yet discarded
	end  int
	pos  int   // next byte to scan
	base int64 // stream offset of buf[0]

	// The object in progress: its start in buf (-1 when between objects)
	// and the state of the structural scan.
	obj   int
	inStr bool
	esc   bool
	stack []byte // open '{' and '[' of the object in progress

	rerr error // a read error to report once the data read with it is used
	err  error // sticky: io.EOF, io.ErrUnexpectedEOF, *SyntaxError, too large
}

// NewDecoder returns a Decoder reading from r that rejects objects larger
// than maxSize bytes; maxSize <= 0 means DefaultMaxMessageSize.
func NewDecoder(r io.Reader, maxSize int) *Decoder {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	return &Decoder{r: r, max: maxSize, obj: -1}
}

// Next returns the raw bytes of the next complete top-level JSON object,
// from its '{' to its '}'. They are valid JSON and stay valid only until the
// next call to Next.
//
// At the end of the stream Next returns io.EOF when only whitespace was
// left, io.ErrUnexpectedEOF when the stream ended inside an object. For an
// object larger than the limit it returns an error wrapping ErrTooLarge
// that names the limit; for anything else than an object between objects, or
// an object that is not valid JSON, a *SyntaxError with the stream offset.
// Those errors are final: every later call returns the same error. An error
// from the underlying reader is returned wrapped; calling Next again retries
// the read (for example after a read deadline passed) with nothing lost.
func (d *Decoder) Next() ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	for {
		if d.obj < 0 {
			i := skipSpace(d.buf[:d.end], d.pos)
			d.pos = i
			if i < d.end {
				if c := d.buf[i]; c != '{' {
					msg := "unexpected " + describeByte(c) + " outside an object (each message must be a JSON object)"
					return nil, d.fail(&SyntaxError{Offset: d.base + int64(i), Msg: msg})
				}
				// Fast path: the whole object is buffered and valid; one
				// validating pass finds its end. Anything else (an object
				// split across reads, an error) takes the structural scan,
				// which also words the errors.
				if n, serr := checkValue(d.buf[i:d.end], 0, 0); serr == nil && n <= d.max {
					d.pos = i + n
					return d.buf[i:d.pos], nil
				}
				d.obj = i
				d.inStr, d.esc = false, false
				d.stack = append(d.stack[:0], '{')
				d.pos = i + 1
			}
		}
		if d.obj >= 0 {
			done, err := d.scan()
			if err != nil {
				return nil, d.fail(err)
			}
			if done {
				obj := d.buf[d.obj:d.pos]
				if _, serr := checkValue(obj, 0, 0); serr != nil {
					serr.Offset += d.base + int64(d.obj)
					return nil, d.fail(serr)
				}
				d.obj = -1
				return obj, nil
			}
		}
		if err := d.fill(); err != nil {
			if err == io.EOF {
				if d.obj >= 0 {
					return nil, d.fail(io.ErrUnexpectedEOF)
				}
				return nil, d.fail(io.EOF)
			}
			return nil, err
		}
	}
}

func (d *Decoder) fail(err error) error {
	d.err = err
	return err
}

// InputOffset returns the stream offset just past the last byte the Decoder
// has consumed: after Next returned an object, the offset of the byte that
// follows it.
func (d *Decoder) InputOffset() int64 { return d.base + int64(d.pos) }

// Buffered returns the bytes read from the stream but not yet consumed (the
// start of the next object, or more objects). It is valid until the next
// call to Next.
func (d *Decoder) Buffered() []byte { return d.buf[d.pos:d.end] }

// structural[c] is true for the bytes the structural scan stops at outside
// strings; stringStop[c] for those it stops at inside strings.
var structural, stringStop = func() (st, ss [256]bool) {
	for _, c := range []byte(`"{}[]`) {
		st[c] = true
	}
	ss['"'], ss['\\'] = true, true
	return st, ss
}()

// scan continues the structural scan of the object in progress over the
// buffered bytes. done reports that the object ended, at d.pos.
func (d *Decoder) scan() (done bool, err error) {
	b := d.buf[:d.end]
	i := d.pos
	inStr, esc, stack := d.inStr, d.esc, d.stack
	for i < len(b) {
		if inStr {
			if esc {
				esc = false
				i++
				continue
			}
			for i < len(b) && !stringStop[b[i]] {
				i++
			}
			if i == len(b) {
				break
			}
			if b[i] == '\\' {
				esc = true
			} else {
				inStr = false
			}
			i++
			continue
		}
		for i < len(b) && !structural[b[i]] {
			i++
		}
		if i == len(b) {
			break
		}
		switch c := b[i]; c {
		case '"':
			inStr = true
		case '{', '[':
			if len(stack) >= maxDepth {
				d.stack = stack
				return false, &SyntaxError{Offset: d.base + int64(i), Msg: "exceeded the maximum nesting depth of 10000"}
			}
			stack = append(stack, c)
		case '}', ']':
			open := stack[len(stack)-1]
			if (open == '{') != (c == '}') {
				d.stack = stack
				return false, &SyntaxError{Offset: d.base + int64(i),
					Msg: "unexpected " + describeByte(c) + " closing " + describeByte(open)}
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				d.stack = stack
				d.pos = i + 1
				if d.pos-d.obj > d.max {
					return false, d.tooLarge()
				}
				return true, nil
			}
		}
		i++
	}
	d.inStr, d.esc, d.stack = inStr, esc, stack
	d.pos = i
	if d.pos-d.obj > d.max {
		return false, d.tooLarge()
	}
	return false, nil
}

func (d *Decoder) tooLarge() error {
	return fmt.Errorf("jsonrpc: %w: the object at offset %d is larger than the %d-byte limit",
		ErrTooLarge, d.base+int64(d.obj), d.max)
}

// fill reads more data, first making room: consumed bytes are dropped and
// the buffer grows (up to the size limit plus one) when little room is left.
func (d *Decoder) fill() error {
	if d.rerr != nil {
		err := d.rerr
		if err != io.EOF {
			d.rerr = nil // let a later Next retry
			err = fmt.Errorf("jsonrpc: reading the stream: %w", err)
		}
		return err
	}
	keep := d.pos // everything before is consumed
	if d.obj >= 0 {
		keep = d.obj
	}
	if keep > 0 {
		n := copy(d.buf, d.buf[keep:d.end])
		d.base += int64(keep)
		d.end = n
		d.pos -= keep
		if d.obj >= 0 {
			d.obj -= keep
		}
	}
	if free := len(d.buf) - d.end; free < len(d.buf)/4 || free == 0 {
		limit := d.max + 1
		size := max(2*len(d.buf), initialBufSize)
		size = min(size, limit)
		if size > len(d.buf) {
			nb := make([]byte, size)
			copy(nb, d.buf[:d.end])
			d.buf = nb
		}
	}
	for range maxEmptyReads {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		if err != nil {
			d.rerr = err
			if n > 0 {
				return nil
			}
			return d.fill()
		}
		if n > 0 {
			return nil
		}
	}
	return fmt.Errorf("jsonrpc: reading the stream: %w", io.ErrNoProgress)
}
