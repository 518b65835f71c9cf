package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Target parses the notification's resourceUrl, or its legacy resource path
// when resourceUrl is absent or unparsable. Errors wrap ErrUnknownResource.
func (n *CommsNotification) Target() (Resource, error) {
	if n.ResourceURL != "" {
		r, err := ParseResource(n.ResourceURL)
		if err == nil || n.Resource == "" {
			return r, err
		}
	}
	return ParseResource(n.Resource)
}

// Calls decodes resourceData as calls: Graph sends one call object or an
// array of them. It returns nil, nil when resourceData is absent or null, and
// an error wrapping ErrBadNotification when it is not call-shaped or is typed
// as something other than a call.
func (n *CommsNotification) Calls() ([]Call, error) {
	data := bytes.TrimSpace(n.ResourceData)
	if isAbsent(data) {
		return nil, nil
	}
	var calls []Call
	switch data[0] {
	case '[':
		if err := json.Unmarshal(data, &calls); err != nil {
			return nil, badData("calls", err)
		}
	case '{':
		var c Call
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, badData("call", err)
		}
		calls = []Call{c}
	default:
		return nil, badData("calls", errNotObject)
	}
	for _, c := range calls {
		if c.ODataType != "" && c.ODataType != ODataCall {
			return nil, badData("calls", fmt.Errorf("@odata.type %q", c.ODataType))
		}
	}
	return calls, nil
}

// Participants decodes resourceData of a roster notification. A full roster
// comes as an array of participants (parts); a single participant object
// comes as a one-element parts; a #microsoft.graph.deltaParticipants object
// comes back as delta with parts nil. All are nil when resourceData is absent
// or null. Other shapes give an error wrapping ErrBadNotification.
func (n *CommsNotification) Participants() (parts []Participant, delta *DeltaParticipants, err error) {
	data := bytes.TrimSpace(n.ResourceData)
	if isAbsent(data) {
		return nil, nil, nil
	}
	switch data[0] {
	case '[':
		if err := json.Unmarshal(data, &parts); err != nil {
			return nil, nil, badData("participants", err)
		}
		return parts, nil, nil
	case '{':
		var typed struct {
			ODataType string `json:"@odata.type"`
		}
		if err := json.Unmarshal(data, &typed); err != nil {
			return nil, nil, badData("participants", err)
		}
		switch typed.ODataType {
		case ODataDeltaParticipants:
			delta = new(DeltaParticipants)
			if err := json.Unmarshal(data, delta); err != nil {
				return nil, nil, badData("deltaParticipants", err)
			}
			return nil, delta, nil
		case "", ODataParticipant:
			var p Participant
			if err := json.Unmarshal(data, &p); err != nil {
				return nil, nil, badData("participant", err)
			}
			return []Participant{p}, nil, nil
		default:
			return nil, nil, badData("participants", fmt.Errorf("@odata.type %q", typed.ODataType))
		}
	default:
		return nil, nil, badData("participants", errNotObject)
	}
}

// Operation decodes resourceData as a commsOperation (any of its subtypes).
// It returns nil, nil when resourceData is absent or null.
func (n *CommsNotification) Operation() (*CommsOperation, error) {
	data := bytes.TrimSpace(n.ResourceData)
	if isAbsent(data) {
		return nil, nil
	}
	if data[0] != '{' {
		return nil, badData("operation", errNotObject)
	}
	op := new(CommsOperation)
	if err := json.Unmarshal(data, op); err != nil {
		return nil, badData("operation", err)
	}
	return op, nil
}

var errNotObject = fmt.Errorf("not a JSON object or array")

func isAbsent(data []byte) bool {
	return len(data) == 0 || string(data) == "null"
}

func badData(what string, err error) error {
	return fmt.Errorf("%w: resourceData as %s: %w", ErrBadNotification, what, err)
}

// HasIncomingCall reports whether the batch offers a new call: a call
// resource created.
func (b *CommsNotifications) HasIncomingCall() bool {
	for i := range b.Value {
		n := &b.Value[i]
		if n.ChangeType != "created" {
			continue
		}
		if t, err := n.Target(); err == nil && t.Kind == ResourceCall {
			return true
		}
	}
	return false
}
