package sqstest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// front turns AWS JSON 1.0 SQS requests (X-Amz-Target: AmazonSQS.<Op>,
// a JSON object of parameters) into query-protocol requests for goaws
// (Action=<Op>, the same parameters as form fields) and goaws's XML answers
// back into JSON. It renames fields and nothing else; an operation or
// parameter it does not know is refused with a clear error rather than
// half translated.
//
// It also shields goaws from one of its bugs: v0.4.4 reads its map of
// queues without a lock in most handlers while CreateQueue and DeleteQueue
// write it, which can kill the server with "concurrent map read and map
// write". Those two run alone here; anything else runs concurrently.
type front struct {
	backend string // goaws, http://127.0.0.1:PORT
	public  string // this front, http://127.0.0.1:PORT
	client  *http.Client
	queues  sync.RWMutex // held for writing by CreateQueue and DeleteQueue
}

// writesQueueMap lists the operations that add or remove goaws queues.
var writesQueueMap = map[string]bool{"CreateQueue": true, "DeleteQueue": true}

// fromXML turns one operation's XML answer into its JSON answer.
type fromXML func(f *front, body []byte) (any, error)

// ops lists the operations the front translates.
var ops = map[string]fromXML{
	"CreateQueue":             queueURLResult,
	"GetQueueUrl":             queueURLResult,
	"GetQueueAttributes":      getQueueAttributesResult,
	"SetQueueAttributes":      emptyResult,
	"DeleteQueue":             emptyResult,
	"PurgeQueue":              emptyResult,
	"SendMessage":             sendMessageResult,
	"ReceiveMessage":          receiveMessageResult,
	"DeleteMessage":           emptyResult,
	"ChangeMessageVisibility": emptyResult,
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if r.Method != http.MethodPost || !ok {
		writeError(w, http.StatusBadRequest, "InvalidAction", "sqstest front: want a POST with X-Amz-Target: AmazonSQS.<Op> (AWS JSON 1.0)")
		return
	}
	conv := ops[op]
	if conv == nil {
		writeError(w, http.StatusBadRequest, "UnsupportedOperation", "sqstest front: "+op+" is not translated for goaws")
		return
	}
	var params map[string]any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", "sqstest front: "+err.Error())
		return
	}
	form, err := toForm(op, params)
	if err != nil {
		writeError(w, http.StatusBadRequest, "UnsupportedOperation", "sqstest front: "+op+": "+err.Error())
		return
	}

	if writesQueueMap[op] {
		f.queues.Lock()
		defer f.queues.Unlock()
	} else {
		f.queues.RLock()
		defer f.queues.RUnlock()
	}
	// The caller's context goes along, so an abandoned long poll is
	// abandoned at goaws too.
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, f.backend+"/", strings.NewReader(form.Encode()))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.client.Do(req)
	if err != nil {
		writeError(w, http.StatusBadGateway, "ServiceUnavailable", "sqstest front: goaws: "+err.Error())
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		writeError(w, http.StatusBadGateway, "ServiceUnavailable", "sqstest front: goaws: "+err.Error())
		return
	}
	if resp.StatusCode != http.StatusOK {
		forwardError(w, resp.StatusCode, body)
		return
	}
	out, err := conv(f, body)
	if err != nil {
		writeError(w, http.StatusBadGateway, "InternalFailure", fmt.Sprintf("sqstest front: %s answer: %v: %q", op, err, body))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

// toForm flattens JSON parameters into query-protocol fields: scalars keep
// their name, attribute-name lists become AttributeName.N, an attribute map
// becomes Attribute.N.Name/Value (sorted by name).
func toForm(op string, params map[string]any) (url.Values, error) {
	form := url.Values{"Action": {op}, "Version": {"2012-11-05"}}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		switch v := params[k].(type) {
		case string:
			form.Set(k, v)
		case json.Number:
			form.Set(k, v.String())
		case bool:
			form.Set(k, fmt.Sprint(v))
		case []any:
			if k != "MessageSystemAttributeNames" && k != "AttributeNames" {
				return nil, fmt.Errorf("list parameter %s not translated", k)
			}
			for i, name := range v {
				s, ok := name.(string)
				if !ok {
					return nil, fmt.Errorf("%s: want strings", k)
				}
				form.Set(fmt.Sprintf("AttributeName.%d", i+1), s)
			}
		case map[string]any:
			if k != "Attributes" {
				return nil, fmt.Errorf("map parameter %s not translated", k)
			}
			for i, name := range slices.Sorted(maps.Keys(v)) {
				s, ok := v[name].(string)
				if !ok {
					return nil, fmt.Errorf("attribute %s: want a string", name)
				}
				form.Set(fmt.Sprintf("Attribute.%d.Name", i+1), name)
				form.Set(fmt.Sprintf("Attribute.%d.Value", i+1), s)
			}
		default:
			return nil, fmt.Errorf("parameter %s of type %T not translated", k, v)
		}
	}
	return form, nil
}

// xmlAttr is a name/value pair as goaws writes attributes.
type xmlAttr struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

func attrMap(attrs []xmlAttr) map[string]string {
	m := make(map[string]string, len(attrs))
	for _, a := range attrs {
		m[a.Name] = a.Value
	}
	return m
}

// queueURLResult reads the QueueUrl of CreateQueue or GetQueueUrl and
// points it at the front.
func queueURLResult(f *front, body []byte) (any, error) {
	var x struct {
		Created string `xml:"CreateQueueResult>QueueUrl"`
		Found   string `xml:"GetQueueUrlResult>QueueUrl"`
	}
	if err := xml.Unmarshal(body, &x); err != nil {
		return nil, err
	}
	u := x.Created + x.Found
	if u == "" {
		return nil, fmt.Errorf("no QueueUrl")
	}
	if rest, ok := strings.CutPrefix(u, f.backend); ok {
		u = f.public + rest
	}
	return map[string]string{"QueueUrl": u}, nil
}

func getQueueAttributesResult(_ *front, body []byte) (any, error) {
	var x struct {
		Attrs []xmlAttr `xml:"GetQueueAttributesResult>Attribute"`
	}
	if err := xml.Unmarshal(body, &x); err != nil {
		return nil, err
	}
	return map[string]any{"Attributes": attrMap(x.Attrs)}, nil
}

func sendMessageResult(_ *front, body []byte) (any, error) {
	var x struct {
		MessageID string `xml:"SendMessageResult>MessageId"`
		MD5       string `xml:"SendMessageResult>MD5OfMessageBody"`
	}
	if err := xml.Unmarshal(body, &x); err != nil {
		return nil, err
	}
	if x.MessageID == "" {
		return nil, fmt.Errorf("no MessageId")
	}
	return map[string]string{"MessageId": x.MessageID, "MD5OfMessageBody": x.MD5}, nil
}

func receiveMessageResult(_ *front, body []byte) (any, error) {
	var x struct {
		Messages []struct {
			MessageID     string    `xml:"MessageId"`
			ReceiptHandle string    `xml:"ReceiptHandle"`
			MD5OfBody     string    `xml:"MD5OfBody"`
			Body          string    `xml:"Body"`
			Attrs         []xmlAttr `xml:"Attribute"`
		} `xml:"ReceiveMessageResult>Message"`
	}
	if err := xml.Unmarshal(body, &x); err != nil {
		return nil, err
	}
	msgs := make([]map[string]any, 0, len(x.Messages))
	for _, m := range x.Messages {
		msgs = append(msgs, map[string]any{
			"MessageId":     m.MessageID,
			"ReceiptHandle": m.ReceiptHandle,
			"MD5OfBody":     m.MD5OfBody,
			"Body":          m.Body,
			"Attributes":    attrMap(m.Attrs),
		})
	}
	if len(msgs) == 0 {
		return map[string]any{}, nil
	}
	return map[string]any{"Messages": msgs}, nil
}

func emptyResult(*front, []byte) (any, error) { return map[string]any{}, nil }

// forwardError turns goaws's XML error into a JSON 1.0 error the way SQS
// words it: the short code in __type, the query-protocol code in the
// x-amzn-query-error header. goaws's HTTP status is kept.
func forwardError(w http.ResponseWriter, status int, body []byte) {
	var x struct {
		Code    string `xml:"Error>Code"`
		Message string `xml:"Error>Message"`
	}
	if err := xml.Unmarshal(body, &x); err != nil || x.Code == "" {
		writeError(w, status, "GoawsError", strings.TrimSpace(string(body)))
		return
	}
	w.Header().Set("x-amzn-query-error", x.Code+";Sender")
	writeError(w, status, strings.TrimPrefix(x.Code, "AWS.SimpleQueueService."), x.Message)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"__type":  "com.amazonaws.sqs#" + code,
		"message": msg,
	})
}
