package mi

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/evstream/evstream/evi"
	"github.com/evstream/evstream/internal/ratelog"
	"github.com/evstream/evstream/jsonrpc"
)

// DefaultExpire is the expire of an event_subscribe without one, as in
// OpenSIPS.
const DefaultExpire = 3600 * time.Second

// command is one MI command: its description (the param lists it accepts,
// each in positional order) and its implementation, which returns the JSON
// result.
type command struct {
	CommandInfo
	run func(h *Handler, a *args) (json.RawMessage, *jsonrpc.Error)
}

func commandTable() []*command {
	cmd := func(name, summary string, ext bool, recipes [][]string, run func(*Handler, *args) (json.RawMessage, *jsonrpc.Error)) *command {
		return &command{CommandInfo{Name: name, Summary: summary, Params: recipes, Extension: ext}, run}
	}
	return []*command{
		cmd("event_subscribe", "subscribe a socket to an event, or refresh it (expire 0 unsubscribes)", false,
			[][]string{{"event", "socket"}, {"event", "socket", "expire"}, {"event", "socket", "expire", "delivery"}}, (*Handler).eventSubscribe),
		cmd("events_list", "list the published events", false, [][]string{{}}, (*Handler).eventsList),
		cmd("subscribers_list", "list the subscribers of every event, of one event, or one subscriber", false,
			[][]string{{}, {"event"}, {"event", "socket"}}, (*Handler).subscribersList),
		cmd("raise_event", "raise an event to its subscribers", false,
			[][]string{{"event"}, {"event", "params"}}, (*Handler).raiseEvent),
		cmd("event_publish", "publish an event", true, [][]string{{"event"}}, (*Handler).eventPublish),
		cmd("event_unsubscribe", "remove a subscriber (an error when there is none)", true,
			[][]string{{"event", "socket"}}, (*Handler).eventUnsubscribe),
		cmd("get_statistics", "counters: all, a group (\"tcp:\") or names", true,
			[][]string{{}, {"statistics"}}, (*Handler).getStatistics),
		cmd("which", "list the MI commands", true, [][]string{{}}, (*Handler).which),
		cmd("version", "the evstream version", true, [][]string{{}}, (*Handler).version),
	}
}

var resultOK = json.RawMessage(`"OK"`)

func mierr(code int64, msg string) *jsonrpc.Error {
	return &jsonrpc.Error{Code: code, Message: msg}
}

// maxReason bounds the reason put in an error's data, in bytes.
const maxReason = 1024

// reason says what is wrong with what the caller sent, for the data of a
// generic error (an evstream extension: OpenSIPS only logs it): the socket
// and what is wrong with it, or the error's message. Values the caller
// chose are clipped.
func reason(err error) string {
	var se *evi.SocketError
	var ne *evi.NameError
	switch {
	case errors.As(err, &se):
		return ratelog.ClipTo(ratelog.Clip(se.Socket)+": "+se.Reason, maxReason)
	case errors.As(err, &ne):
		return ratelog.ClipTo(ne.Reason, maxReason)
	case errors.Is(err, evi.ErrNotPublished):
		return ratelog.ClipTo(err.Error()+" (auto_publish is off: publish it first, with event_publish or in the config)", maxReason)
	}
	return ratelog.ClipTo(err.Error(), maxReason)
}

// badParam is OpenSIPS's 400 "Bad parameter value", with the reason as
// data.
func badParam(err error) *jsonrpc.Error {
	return newError(CodeBadParam, MsgBadParameterValue, reason(err))
}

// refused logs why a command was refused with a generic error; the line
// is rate-limited and its values clipped.
func (h *Handler) refused(command, event, socket string, err error) {
	args := []any{"event", ratelog.Clip(event)}
	if socket != "" {
		args = append(args, "socket", ratelog.Clip(socket))
	}
	h.log.Warn("mi: "+command+" refused", append(args, "err", reason(err))...)
}

// closedErr is the error of a command run while the registry shuts down.
func closedErr() *jsonrpc.Error {
	return newError(CodeServerError, "Internal error", "evstream is shutting down")
}

// eventSubscribe: event, socket, [expire], [delivery]. Expire defaults to
// 3600 s; 0 removes the matching subscriber. Delivery (an extension)
// defaults to Options.Delivery. The subscription is durable: kept in the
// registry's store, when it has one, across restarts.
func (h *Handler) eventSubscribe(a *args) (json.RawMessage, *jsonrpc.Error) {
	event, socket, jerr := a.eventSocket()
	if jerr != nil {
		return nil, jerr
	}
	expire := int64(DefaultExpire / time.Second)
	if a.has("expire") {
		if expire, jerr = parseExpire(a.raw("expire")); jerr != nil {
			return nil, jerr
		}
	}
	delivery := h.opts.Delivery
	if a.has("delivery") {
		name, jerr := a.str("delivery")
		if jerr != nil {
			return nil, jerr
		}
		var err error
		if delivery, err = evi.ParseDelivery(name); err != nil {
			return nil, newError(jsonrpc.CodeInvalidParams, MsgInvalidParams, reason(err))
		}
	}
	if expire == 0 {
		return h.unsubscribeQuietly(event, socket)
	}
	err := h.reg.SubscribeWith(event, socket, evi.SubscribeOptions{
		Expire: time.Duration(expire) * time.Second, Durable: true, Delivery: delivery})
	switch {
	case err == nil:
		return resultOK, nil
	case errors.Is(err, evi.ErrClosed):
		return nil, closedErr()
	}
	h.refused("event_subscribe", event, socket, err)
	return nil, badParam(err)
}

// unsubscribeQuietly is event_subscribe with expire 0: it removes the
// matching subscriber, and answers "OK" when there is none (there is
// nothing left to stop). A bad event name or socket is still an error.
func (h *Handler) unsubscribeQuietly(event, socket string) (json.RawMessage, *jsonrpc.Error) {
	err := h.reg.Unsubscribe(event, socket)
	switch {
	case err == nil, errors.Is(err, evi.ErrNoSubscriber):
		return resultOK, nil
	case errors.Is(err, evi.ErrClosed):
		return nil, closedErr()
	case errors.Is(err, evi.ErrNotPublished):
		// Nothing subscribed to an unknown event; still check what was asked.
		if err = evi.ValidateEventName(event); err == nil {
			var d evi.Destination
			if d, err = h.reg.ParseSocket(socket); err == nil {
				d.Close()
				return resultOK, nil
			}
		}
	}
	h.refused("event_subscribe", event, socket, err)
	return nil, badParam(err)
}

// eventsList: {"Events":[{"name":..,"id":..},...]} in id order.
func (h *Handler) eventsList(*args) (json.RawMessage, *jsonrpc.Error) {
	b := []byte(`{"Events":[`)
	for i, ev := range h.reg.Events() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendEventHead(b, ev)
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// appendEventHead appends `{"name":N,"id":I` (the object left open).
func appendEventHead(b []byte, ev *evi.Event) []byte {
	b = append(b, `{"name":`...)
	b = jsonrpc.AppendString(b, ev.Name())
	b = append(b, `,"id":`...)
	return strconv.AppendInt(b, int64(ev.ID()), 10)
}

// appendSubscriber appends {"socket":S,"expire":E,"ttl":T}, or
// {"socket":S,"expire":"never"} for a subscriber that never expires. The
// ttl is in whole seconds, rounded down. An at-least-once subscriber adds
// "delivery":"at-least-once","pending":N,"dead_letters":M.
func appendSubscriber(b []byte, s evi.SubscriberInfo) []byte {
	b = append(b, `{"socket":`...)
	b = jsonrpc.AppendString(b, s.Socket)
	if s.Expire <= 0 {
		b = append(b, `,"expire":"never"`...)
	} else {
		b = append(b, `,"expire":`...)
		b = strconv.AppendInt(b, int64(s.Expire/time.Second), 10)
		b = append(b, `,"ttl":`...)
		b = strconv.AppendInt(b, max(int64(s.TTL/time.Second), 0), 10)
	}
	if s.Delivery == evi.AtLeastOnce {
		b = append(b, `,"delivery":"at-least-once","pending":`...)
		b = strconv.AppendInt(b, s.Pending, 10)
		b = append(b, `,"dead_letters":`...)
		b = strconv.AppendInt(b, s.DeadLetters, 10)
	}
	return append(b, '}')
}

// appendEventSubscribers appends {"name":..,"id":..,"Subscribers":[..]}.
func appendEventSubscribers(b []byte, ev *evi.Event, subs []evi.SubscriberInfo) []byte {
	b = appendEventHead(b, ev)
	b = append(b, `,"Subscribers":[`...)
	for i, s := range subs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSubscriber(b, s)
	}
	return append(b, "]}"...)
}

// subscribersList: [event, [socket]], in the three shapes of OpenSIPS.
func (h *Handler) subscribersList(a *args) (json.RawMessage, *jsonrpc.Error) {
	if !a.has("event") {
		b := []byte(`{"Events":[`)
		n := 0
		for _, ev := range h.reg.Events() {
			subs, err := h.reg.Subscribers(ev.Name())
			if err != nil || len(subs) == 0 {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendEventSubscribers(b, ev, subs)
		}
		return append(b, "]}"...), nil
	}
	name, jerr := a.str("event")
	if jerr != nil {
		return nil, jerr
	}
	ev := h.reg.Lookup(name)
	if ev == nil {
		return nil, mierr(CodeNotFound, MsgEventNotPublished)
	}
	subs, err := h.reg.Subscribers(name)
	if err != nil {
		return nil, mierr(CodeNotFound, MsgEventNotPublished)
	}
	if !a.has("socket") {
		if len(subs) == 0 {
			return json.RawMessage(`{"Event":{}}`), nil
		}
		b := []byte(`{"Event":`)
		b = appendEventSubscribers(b, ev, subs)
		return append(b, '}'), nil
	}
	socket, jerr := a.str("socket")
	if jerr != nil {
		return nil, jerr
	}
	sub, err := h.reg.Subscriber(name, socket)
	switch {
	case errors.Is(err, evi.ErrNoSubscriber):
		return nil, mierr(CodeNotFound, MsgNoSubscriber)
	case err != nil:
		h.refused("subscribers_list", name, socket, err)
		return nil, badParam(err)
	}
	b := []byte(`{"Event":`)
	b = appendEventHead(b, ev)
	b = append(b, `,"Subscriber":`...)
	b = appendSubscriber(b, sub)
	return append(b, "}}"...), nil
}

// raiseEvent: event, [params]. It returns once the event is handed to the
// subscribers' queues: delivery is reported to Options.Report.
func (h *Handler) raiseEvent(a *args) (json.RawMessage, *jsonrpc.Error) {
	name, jerr := a.str("event")
	if jerr != nil {
		return nil, jerr
	}
	// OpenSIPS answers "no subscribers" before it looks at the params.
	if ev := h.reg.Lookup(name); ev != nil {
		if subs, _ := h.reg.Subscribers(name); len(subs) == 0 {
			return nil, mierr(CodeNoSubscribers, MsgTempUnavailable)
		}
	} else if !h.reg.AutoPublish() {
		// As OpenSIPS: an unknown event is reported before bad params.
		return nil, mierr(CodeNotFound, MsgEventNotRegistered)
	}
	params, err := parseEventParams(a.raw("params"))
	if err == nil {
		err = params.Validate()
	}
	if err != nil {
		h.log.Debug("mi: raise_event: bad params", "event", ratelog.Clip(name), "err", reason(err))
		return nil, newError(CodeBadParam, MsgBadParams, reason(err))
	}
	accepted, err := h.reg.Raise(name, params, h.opts.Report)
	switch {
	case errors.Is(err, evi.ErrSpoolFull):
		// Not acknowledged: at-least-once subscribers do not have it
		// (at-most-once ones may).
		h.log.Warn("mi: raise_event: spool full", "event", ratelog.Clip(name), "err", reason(err))
		return nil, newError(CodeSpoolFull, MsgSpoolFull, reason(err))
	case errors.Is(err, evi.ErrNotSpooled):
		h.log.Error("mi: raise_event: the spool failed", "event", ratelog.Clip(name), "err", reason(err))
		return nil, newError(CodeServerError, "Cannot Raise Event", reason(err))
	case err == nil, accepted > 0:
		// Rejections by some subscribers were given to Report.
		return resultOK, nil
	case errors.Is(err, evi.ErrNotPublished), errors.Is(err, evi.ErrBadEventName):
		return nil, mierr(CodeNotFound, MsgEventNotRegistered)
	case errors.Is(err, evi.ErrNoSubscribers):
		return nil, mierr(CodeNoSubscribers, MsgTempUnavailable)
	case errors.Is(err, evi.ErrClosed):
		return nil, closedErr()
	}
	// Every live subscriber refused it (queues full...).
	h.log.Warn("mi: raise_event: no subscriber accepted the event", "event", ratelog.Clip(name), "err", reason(err))
	return nil, newError(CodeServerError, "Cannot Raise Event", reason(err))
}

// eventPublish (extension): event. Publishing a published event is "OK".
func (h *Handler) eventPublish(a *args) (json.RawMessage, *jsonrpc.Error) {
	name, jerr := a.str("event")
	if jerr != nil {
		return nil, jerr
	}
	_, err := h.reg.Publish(name)
	switch {
	case err == nil:
		return resultOK, nil
	case errors.Is(err, evi.ErrClosed):
		return nil, closedErr()
	}
	h.refused("event_publish", name, "", err)
	return nil, badParam(err)
}

// eventUnsubscribe (extension): event, socket. Unlike event_subscribe with
// expire 0, a subscriber that does not exist is an error.
func (h *Handler) eventUnsubscribe(a *args) (json.RawMessage, *jsonrpc.Error) {
	event, socket, jerr := a.eventSocket()
	if jerr != nil {
		return nil, jerr
	}
	err := h.reg.Unsubscribe(event, socket)
	switch {
	case err == nil:
		return resultOK, nil
	case errors.Is(err, evi.ErrNotPublished):
		return nil, mierr(CodeNotFound, MsgEventNotPublished)
	case errors.Is(err, evi.ErrNoSubscriber):
		return nil, mierr(CodeNotFound, MsgNoSubscriber)
	case errors.Is(err, evi.ErrClosed):
		return nil, closedErr()
	}
	h.refused("event_unsubscribe", event, socket, err)
	return nil, badParam(err)
}

// getStatistics (extension): [statistics], a name or a list of names. A
// name is "all", "group:" (every statistic of the group) or "group:name".
// Without the param every statistic is reported. The result is an object
// {"group:name":value,...} as in OpenSIPS.
func (h *Handler) getStatistics(a *args) (json.RawMessage, *jsonrpc.Error) {
	want := []string{"all"}
	if a.has("statistics") {
		raw := a.raw("statistics")
		if len(raw) > 0 && raw[0] == '"' {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return nil, badType("statistics")
			}
			want = []string{s}
		} else if json.Unmarshal(raw, &want) != nil {
			return nil, badType("statistics")
		}
	}
	stats := h.statistics()
	b := []byte{'{'}
	n := 0
	for _, s := range stats {
		if !statWanted(s.Name, want) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = jsonrpc.AppendString(b, s.Name)
		b = append(b, ':')
		b = strconv.AppendInt(b, s.Value, 10)
	}
	return append(b, '}'), nil
}

func statWanted(name string, want []string) bool {
	for _, w := range want {
		if w == "all" || w == name || (strings.HasSuffix(w, ":") && strings.HasPrefix(name, w)) {
			return true
		}
	}
	return false
}

// statistics returns the registry's statistics, then Options.Statistics'.
func (h *Handler) statistics() []Stat {
	stats := []Stat{
		{"evi:events", int64(len(h.reg.Events()))},
		{"evi:subscribers", int64(h.reg.SubscriberCount())},
		{"evi:raised", int64(h.reg.Raised())},
	}
	if h.opts.Statistics != nil {
		stats = append(stats, h.opts.Statistics()...)
	}
	return stats
}

// which (extension): the command names, sorted.
func (h *Handler) which(*args) (json.RawMessage, *jsonrpc.Error) {
	b := []byte{'['}
	for i, n := range h.Commands() {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonrpc.AppendString(b, n)
	}
	return append(b, ']'), nil
}

// version (extension): {"Server":"evstream VERSION"}, like OpenSIPS's.
func (h *Handler) version(*args) (json.RawMessage, *jsonrpc.Error) {
	b := []byte(`{"Server":`)
	b = jsonrpc.AppendString(b, strings.TrimSpace("evstream "+h.opts.Version))
	return append(b, '}'), nil
}
