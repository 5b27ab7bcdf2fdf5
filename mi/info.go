package mi

import (
	"slices"
	"strings"
)

// CommandInfo describes one MI command, for help texts and clients (the
// evstream mi client prints it).
type CommandInfo struct {
	// Name is the command's name, as the JSON-RPC method.
	Name string
	// Summary says what it does, in a line.
	Summary string
	// Params are the param lists it accepts, each in positional order; the
	// same names are accepted by name. Each list extends the previous one.
	Params [][]string
	// Extension is true for the commands OpenSIPS does not have.
	Extension bool
}

// paramHelp describes each param name used by the commands.
var paramHelp = map[string]string{
	"event":      "the event's name, e.g. E_PIKE_BLOCKED",
	"socket":     "where events go: tcp:host:port[/method] or virtual:POLICY member...",
	"expire":     "seconds until the subscription expires (default 3600; 0 unsubscribes)",
	"params":     `the event's data: a JSON object {"ip":"10.0.0.1"}, or an array ["a","b"] (sent as strings)`,
	"statistics": `"all", a group such as "tcp:", a name such as "tcp:sent", or a list of them`,
	"delivery":   "at-most-once (the default: delivery.default) or at-least-once (spooled until confirmed)",
	"limit":      "the most dead letters listed (default 100)",
}

// ParamHelp describes the param name, or returns "".
func ParamHelp(name string) string { return paramHelp[name] }

// Usage returns the command's name and params the way a man page writes
// them: "event_subscribe EVENT SOCKET [EXPIRE]".
func (c CommandInfo) Usage() string {
	var b strings.Builder
	b.WriteString(c.Name)
	if len(c.Params) == 0 {
		return b.String()
	}
	required := len(c.Params[0])
	longest := c.Params[len(c.Params)-1]
	for _, p := range longest[:required] {
		b.WriteString(" " + strings.ToUpper(p))
	}
	for _, p := range longest[required:] {
		b.WriteString(" [" + strings.ToUpper(p))
	}
	b.WriteString(strings.Repeat("]", len(longest)-required))
	return b.String()
}

// Commands returns the description of every MI command, sorted by name.
func Commands() []CommandInfo {
	var out []CommandInfo
	for _, c := range commandTable() {
		out = append(out, c.CommandInfo)
	}
	slices.SortFunc(out, func(a, b CommandInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Lookup returns the description of the command name.
func Lookup(name string) (CommandInfo, bool) {
	for _, c := range commandTable() {
		if c.Name == name {
			return c.CommandInfo, true
		}
	}
	return CommandInfo{}, false
}
