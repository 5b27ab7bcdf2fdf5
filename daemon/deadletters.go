package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/evstream/evstream/delivery"
	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
	"github.com/evstream/evstream/mi"
)

// Bounds of dead_letters_list's limit.
const (
	DefaultDeadLettersLimit = 100
	MaxDeadLettersLimit     = 10_000
)

// deadLetterCommands are the MI commands of dead letters (DESIGN.md §10):
// served when the daemon has a data_dir.
func (d *Daemon) deadLetterCommands() []mi.Command {
	ext := func(name, summary string, params [][]string, run func(map[string]json.RawMessage) (json.RawMessage, *jsonrpc.Error)) mi.Command {
		return mi.Command{CommandInfo: mi.CommandInfo{Name: name, Summary: summary, Params: params, Extension: true}, Run: run}
	}
	return []mi.Command{
		ext("dead_letters_list", "list the dead letters of an event's at-least-once subscribers (oldest first)",
			[][]string{{"event"}, {"event", "socket"}, {"event", "socket", "limit"}}, d.deadLettersList),
		ext("dead_letters_replay", "put the dead letters of an event (of one socket) back at the tail of their queues",
			[][]string{{"event"}, {"event", "socket"}}, d.deadLettersReplay),
		ext("dead_letters_purge", "delete the dead letters of an event (of one socket)",
			[][]string{{"event"}, {"event", "socket"}}, d.deadLettersPurge),
	}
}

// dlArgs decodes event and the optional socket, which it turns into the
// key that names its queue.
func (d *Daemon) dlArgs(p map[string]json.RawMessage) (event, key string, jerr *jsonrpc.Error) {
	if event, jerr = strParam(p, "event"); jerr != nil {
		return "", "", jerr
	}
	if err := evi.ValidateEventName(event); err != nil {
		return "", "", badValue(err)
	}
	if _, ok := p["socket"]; !ok {
		return event, "", nil
	}
	socket, jerr := strParam(p, "socket")
	if jerr != nil {
		return "", "", jerr
	}
	dest, err := d.reg.ParseSocket(socket)
	if err != nil {
		return "", "", badValue(err)
	}
	key = dest.Key()
	dest.Close()
	return event, key, nil
}

func (d *Daemon) deadLettersList(p map[string]json.RawMessage) (json.RawMessage, *jsonrpc.Error) {
	event, key, jerr := d.dlArgs(p)
	if jerr != nil {
		return nil, jerr
	}
	limit := DefaultDeadLettersLimit
	if raw, ok := p["limit"]; ok {
		n, err := strconv.Atoi(string(raw))
		if err != nil || n < 1 || n > MaxDeadLettersLimit {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: mi.MsgInvalidParams,
				Data: jsonrpc.AppendString(nil, fmt.Sprintf("limit %s: want a number from 1 to %d", clipRaw(raw), MaxDeadLettersLimit))}
		}
		limit = n
	}
	list, err := d.du.eng.DeadLetters(event, key, limit)
	if err != nil {
		return nil, storeErr(err)
	}
	return appendDeadLetters(nil, list), nil
}

// appendDeadLetters appends {"DeadLetters":[...]}.
func appendDeadLetters(b []byte, list []delivery.DeadLetter) []byte {
	b = append(b, `{"DeadLetters":[`...)
	for i, dl := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"event":`...)
		b = jsonrpc.AppendString(b, dl.Event)
		b = append(b, `,"socket":`...)
		b = jsonrpc.AppendString(b, dl.Socket)
		b = append(b, `,"id":`...)
		b = strconv.AppendUint(b, dl.Seq, 10)
		b = append(b, `,"event_id":`...)
		b = jsonrpc.AppendString(b, evi.IDFromBytes(dl.ID).String())
		b = append(b, `,"raised":`...)
		b = jsonrpc.AppendString(b, dl.Raised.UTC().Format(time.RFC3339Nano))
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(dl.Attempts), 10)
		b = append(b, `,"error":`...)
		b = jsonrpc.AppendString(b, dl.Error)
		b = append(b, `,"params":`...)
		if len(dl.Params) == 0 || !json.Valid(dl.Params) {
			b = append(b, "null"...)
		} else {
			b = append(b, dl.Params...)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func (d *Daemon) deadLettersReplay(p map[string]json.RawMessage) (json.RawMessage, *jsonrpc.Error) {
	return d.deadLettersCount(p, "Replayed", d.du.eng.Replay)
}

func (d *Daemon) deadLettersPurge(p map[string]json.RawMessage) (json.RawMessage, *jsonrpc.Error) {
	return d.deadLettersCount(p, "Purged", d.du.eng.Purge)
}

// deadLettersCount runs op on the dead letters p names and answers
// {"MEMBER":N}.
func (d *Daemon) deadLettersCount(p map[string]json.RawMessage, member string, op func(event, key string) (int, error)) (json.RawMessage, *jsonrpc.Error) {
	event, key, jerr := d.dlArgs(p)
	if jerr != nil {
		return nil, jerr
	}
	n, err := op(event, key)
	if err != nil {
		return nil, storeErr(err)
	}
	return json.RawMessage(`{"` + member + `":` + strconv.Itoa(n) + `}`), nil
}

// strParam decodes the string param name.
func strParam(p map[string]json.RawMessage, name string) (string, *jsonrpc.Error) {
	var s string
	if err := json.Unmarshal(p[name], &s); err != nil {
		return "", &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: mi.MsgInvalidParams,
			Data: jsonrpc.AppendString(nil, "Bad type for parameter '"+name+"'")}
	}
	return s, nil
}

func badValue(err error) *jsonrpc.Error {
	return &jsonrpc.Error{Code: mi.CodeBadParam, Message: mi.MsgBadParameterValue, Data: jsonrpc.AppendString(nil, clip(err.Error()))}
}

func storeErr(err error) *jsonrpc.Error {
	msg := "the spool failed"
	if errors.Is(err, evi.ErrClosed) {
		msg = "evstream is shutting down"
	}
	return &jsonrpc.Error{Code: mi.CodeServerError, Message: "Internal error", Data: jsonrpc.AppendString(nil, clip(msg+": "+err.Error()))}
}

func clipRaw(raw json.RawMessage) string { return ratelog.Clip(string(raw)) }

// clip bounds what a caller's values put into an answer.
func clip(s string) string { return ratelog.ClipTo(s, 1024) }
