package sqsqueue

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// ParseName splits what follows "sqs://" in a queue URL: "name" or
// "account/name".
func ParseName(rest string) (owner, name string, err error) {
	if strings.ContainsAny(rest, "?#@:") {
		return "", "", errors.New("want sqs://name or sqs://account/name, with endpoint and region given as options")
	}
	name = rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		owner, name = rest[:i], rest[i+1:]
		if !validPart(owner) {
			return "", "", fmt.Errorf("account %q: want letters, digits, '-' or '_'", owner)
		}
	}
	if err := validQueueName(name); err != nil {
		return "", "", err
	}
	return owner, name, nil
}

// queueURL is a checked SQS queue URL.
type queueURL struct {
	account, name string
	region        string // from an AWS host; "" for any other host
}

// awsHost matches AWS SQS endpoints: sqs.REGION.amazonaws.com (.cn in
// China), and the FIPS variant.
var awsHost = regexp.MustCompile(`^sqs(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$`)

// parseQueueURL checks an http(s)://HOST/ACCOUNT/NAME queue URL.
func parseQueueURL(s string) (queueURL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return queueURL{}, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return queueURL{}, fmt.Errorf("scheme %q, want https (or http for a local server)", u.Scheme)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return queueURL{}, errors.New("want http(s)://host/account/name without user, query or fragment")
	}
	account, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || !validPart(account) {
		return queueURL{}, errors.New("path must be /account/name")
	}
	if err := validQueueName(name); err != nil {
		return queueURL{}, err
	}
	q := queueURL{account: account, name: name}
	if m := awsHost.FindStringSubmatch(strings.ToLower(u.Hostname())); m != nil {
		if u.Scheme != "https" {
			return queueURL{}, errors.New("AWS queue URLs are https")
		}
		q.region = m[1]
	}
	return q, nil
}

// validQueueName checks an SQS standard queue name: 1 to 80 of
// [A-Za-z0-9_-]. FIFO queues (".fifo") need a message group on every send,
// which this package does not give, so they are refused up front.
func validQueueName(name string) error {
	if strings.HasSuffix(name, ".fifo") {
		return fmt.Errorf("queue name %q: FIFO queues are not supported", name)
	}
	if len(name) > 80 || !validPart(name) {
		return fmt.Errorf("queue name %q: want 1 to 80 letters, digits, '-' or '_'", name)
	}
	return nil
}

// validPart: non-empty [A-Za-z0-9_-].
func validPart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
