package stream

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
)

// maxReplyBatch is how many replies the reader matches under one lock.
const maxReplyBatch = 256

// read is the reader goroutine of nc: it matches replies (reliable mode) or
// reads and discards whatever the peer sends (notification mode), until
// the connection breaks.
func (c *conn) read(nc net.Conn) {
	defer c.t.wg.Done()
	var err error
	if c.t.cfg.ReliableMode {
		err = c.readReplies(nc)
	} else {
		err = discard(nc)
	}
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("peer closed the connection: %w", err)
	} else {
		err = fmt.Errorf("read: %w", err)
	}
	c.teardown(nc, err)
}

func discard(nc net.Conn) error {
	var buf [4096]byte
	for {
		if _, err := nc.Read(buf[:]); err != nil {
			return err
		}
	}
}

// replyReader feeds the decoder from the connection; just before it blocks
// on a read it completes the replies decoded so far, under one lock.
type replyReader struct {
	c       *conn
	nc      net.Conn
	replies []reply
}

type reply struct {
	id  int64
	err *jsonrpc.Error
}

func (r *replyReader) Read(p []byte) (int, error) {
	r.flush()
	return r.nc.Read(p)
}

func (c *conn) readReplies(nc net.Conn) error {
	r := &replyReader{c: c, nc: nc, replies: make([]reply, 0, maxReplyBatch)}
	dec := jsonrpc.NewDecoder(r, c.t.cfg.MaxReplySize)
	for {
		b, err := dec.Next()
		if err != nil {
			r.flush()
			var se *jsonrpc.SyntaxError
			if errors.As(err, &se) || errors.Is(err, jsonrpc.ErrTooLarge) {
				c.ctr.badReplies.Add(1)
				c.log.Warn("closing connection: bad data from the peer", "err", err)
				return fmt.Errorf("bad reply: %w", err)
			}
			return err
		}
		resp, err := jsonrpc.ParseResponse(b)
		if err != nil {
			c.ctr.badReplies.Add(1)
			c.log.Warn("reply is not a JSON-RPC response, ignored", "err", err)
			continue
		}
		if resp.HasMethod {
			c.ctr.badReplies.Add(1)
			c.log.Warn("peer sent a request or notification, not a reply; ignored", "message", ratelog.ClipBytes(b))
			continue
		}
		if !resp.HasID {
			c.ctr.unknownReplies.Add(1)
			c.log.Warn("reply without a numeric id, ignored", "reply", ratelog.ClipBytes(b))
			continue
		}
		r.replies = append(r.replies, reply{id: resp.ID, err: resp.Error})
		if len(r.replies) == maxReplyBatch {
			r.flush()
		}
	}
}

// flush matches the decoded replies with their requests and reports them.
func (r *replyReader) flush() {
	if len(r.replies) == 0 {
		return
	}
	c := r.c
	var delivered, failed, unknown uint64
	b := c.t.disp.batch()
	var unknownIDs []int64
	c.mu.Lock()
	for k := range r.replies {
		rp := &r.replies[k]
		i := int32(-1)
		if c.win != nil {
			i = c.win.lookup(rp.id)
		}
		if i < 0 {
			unknown++
			if len(unknownIDs) < 4 {
				unknownIDs = append(unknownIDs, rp.id)
			}
			continue
		}
		d := c.win.slots[i].dest
		var err error
		if rp.err != nil {
			err = &evi.DeliveryError{Dest: c.name, Reason: evi.ReasonErrorReply, Written: true,
				Err: fmt.Errorf("error reply: %w", rp.err)}
			failed++
		} else {
			delivered++
		}
		b = append(b, c.win.remove(i, err))
		d.repositionLocked()
	}
	// Counted under c.mu, before any outcome is reported (see Counters).
	c.ctr.delivered.Add(delivered)
	c.ctr.failed.Add(failed)
	c.ctr.unknownReplies.Add(unknown)
	c.wakeWriterLocked()
	retire := c.idleLocked()
	c.mu.Unlock()
	for _, id := range unknownIDs {
		c.log.Warn("reply id matches no pending request, ignored", "id", id)
	}
	c.t.disp.report(c.shard, b)
	clear(r.replies)
	r.replies = r.replies[:0]
	if retire {
		c.retire()
	}
}

// repositionLocked updates d's place in c.pend after its in-flight
// requests changed.
func (d *destination) repositionLocked() {
	switch {
	case d.pending():
		d.c.pend.fix(d)
	case d.hidx >= 0:
		d.c.pend.remove(d)
	}
}
