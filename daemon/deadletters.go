package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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

// deadLetterInfos describe the MI commands of dead letters (DESIGN.md
// §10), served when the daemon has a data_dir.
var deadLetterInfos = []mi.CommandInfo{
	{Name: "dead_letters_list", Summary: "list the dead letters of an event's at-least-once subscribers (oldest first)",
		Params: [][]string{{"event"}, {"event", "socket"}, {"event", "socket", "limit"}}, Extension: true},
	{Name: "dead_letters_replay", Summary: "put the dead letters of an event (of one socket) back at the tail of their queues",
		Params: [][]string{{"event"}, {"event", "socket"}}, Extension: true},
	{Name: "dead_letters_purge", Summary: "delete the dead letters of an event (of one socket)",
		Params: [][]string{{"event"}, {"event", "socket"}}, Extension: true},
}

// CommandInfos describes every MI command a daemon may serve: the MI's
// own and the daemon's (dead letters, with a data_dir), sorted by name.
// `evstream mi help` reads it, with no daemon running.
func CommandInfos() []mi.CommandInfo {
	out := append(mi.Commands(), deadLetterInfos...)
	slices.SortFunc(out, func(a, b mi.CommandInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// LookupCommand returns the description of the MI command name.
func LookupCommand(name string) (mi.CommandInfo, bool) {
	i := slices.IndexFunc(CommandInfos(), func(c mi.CommandInfo) bool { return c.Name == name })
	if i < 0 {
		return mi.CommandInfo{}, false
	}
	return CommandInfos()[i], true
}

// deadLetterCommands are the dead letter commands, served.
func (d *Daemon) deadLetterCommands() []mi.Command {
	runs := map[string]func(map[string]json.RawMessage) (json.RawMessage, *jsonrpc.Error){
		"dead_letters_list":   d.deadLettersList,
		"dead_letters_replay": d.deadLettersReplay,
		"dead_letters_purge":  d.deadLettersPurge,
	}
	out := make([]mi.Command, len(deadLetterInfos))
	for i, info := range deadLetterInfos {
		out[i] = mi.Command{CommandInfo: info, Run: runs[info.Name]}
	}
	return out
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
	if !d.du.opened() {
		return json.RawMessage(`{"DeadLetters":[]}`), nil // no spool yet: nothing is dead
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
	if !d.du.opened() {
		return json.RawMessage(`{"` + member + `":0}`), nil // no spool yet
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
