package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/infra/queue"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/rewind-vod/rewind/infra/awsconfig"
)

// Queue limits this code works within.
const (
	sqsMaxPerReceive = 10                     // MaxNumberOfMessages
	sqsMaxWait       = 20                     // WaitTimeSeconds, seconds
	sqsMaxVisibility = 12 * 60 * 60           // VisibilityTimeout, seconds
	sqsDefaultRegion = "us-east-1"            // when nothing names one
	sqsMinPoll       = 200 * time.Millisecond // least time between two empty receive calls
)

// Config selects one queue on Amazon Queue or an Queue-compatible server.
type Config struct {
	// QueueURL is the queue's URL, e.g.
	// https://sqs.eu-west-1.amazonaws.com/123456789012/rewind-clips.
	QueueURL string
	// QueueName (with Owner, the owning account, if not the caller's) is
	// resolved with GetQueueUrl when QueueURL is empty; that contacts the
	// server.
	QueueName string
	Owner     string
	// Endpoint overrides the Queue endpoint URL (an Queue-compatible server, a
	// VPC endpoint); empty means AWS_ENDPOINT_URL(_SQS) or AWS. A QueueURL
	// that is not on an AWS host needs one.
	Endpoint string
	// Region overrides the configured region; if none is set anywhere, it
	// is taken from an AWS QueueURL, else us-east-1.
	Region string
	// Lease, when set, is sent as the VisibilityTimeout of every receive
	// (rounded up to whole seconds); zero leaves the queue's own setting.
	Lease time.Duration
	// Credentials overrides the standard credential chain (environment,
	// shared files, IAM roles) when set; mostly for tests.
	Credentials aws.CredentialsProvider
}

// Queue is a queue.Queue on Amazon Queue (standard queues). Queue counts time in whole
// seconds: Receive waits at least 1 s and rounds wait up to whole seconds
// (and may take longer than wait by that much); leases and Extend round up
// likewise.
type Queue struct {
	client *sqs.Client
	url    string
	lease  int32 // seconds; 0: the queue's VisibilityTimeout

	closed context.Context // done once Close is called
	close  context.CancelFunc
}

var _ queue.Queue = (*Queue)(nil)

// NewSQS builds an Queue queue from cfg and the standard AWS configuration.
// Unless it must resolve QueueName, it does not contact the server.
func New(ctx context.Context, cfg Config) (*Queue, error) {
	var target *queueURL
	switch {
	case cfg.QueueURL != "":
		u, err := parseQueueURL(cfg.QueueURL)
		if err != nil {
			return nil, fmt.Errorf("queue: sqs url %q: %w", cfg.QueueURL, err)
		}
		target = &u
	case cfg.QueueName != "":
		if err := validQueueName(cfg.QueueName); err != nil {
			return nil, fmt.Errorf("queue: sqs queue %q: %w", cfg.QueueName, err)
		}
		if cfg.Owner != "" && !validPart(cfg.Owner) {
			return nil, fmt.Errorf("queue: sqs queue owner %q: not an account id", cfg.Owner)
		}
	default:
		return nil, errors.New("queue: sqs: no queue url or name")
	}
	if cfg.Lease < 0 || queue.WholeSeconds(cfg.Lease) > sqsMaxVisibility {
		return nil, fmt.Errorf("queue: sqs: lease %v out of range (0 to 12h)", cfg.Lease)
	}

	awsCfg, err := awsconfig.Load(ctx, cfg.Region, cfg.Credentials)
	if err != nil {
		return nil, fmt.Errorf("queue: sqs: load aws config: %w", err)
	}
	if awsCfg.Region == "" && target != nil {
		awsCfg.Region = target.region
	}
	if awsCfg.Region == "" {
		awsCfg.Region = sqsDefaultRegion
	}
	client := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	if target != nil && target.region == "" && client.Options().BaseEndpoint == nil {
		return nil, fmt.Errorf("queue: sqs url %q: not an AWS Queue host; for an Queue-compatible server set the endpoint option (e.g. http://host:port)", cfg.QueueURL)
	}

	url := cfg.QueueURL
	if target == nil {
		in := &sqs.GetQueueUrlInput{QueueName: aws.String(cfg.QueueName)}
		if cfg.Owner != "" {
			in.QueueOwnerAWSAccountId = aws.String(cfg.Owner)
		}
		out, err := client.GetQueueUrl(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("queue: sqs: find queue %q: %w", cfg.QueueName, err)
		}
		url = aws.ToString(out.QueueUrl)
	}
	closed, closeFn := context.WithCancel(context.Background())
	return &Queue{
		client: client,
		url:    url,
		lease:  int32(queue.WholeSeconds(cfg.Lease)),
		closed: closed,
		close:  closeFn,
	}, nil
}

// URL is the queue URL the calls go to.
func (q *Queue) URL() string { return q.url }

// Client exposes the underlying SDK client (e.g. for queue attributes).
func (q *Queue) Client() *sqs.Client { return q.client }

// Send is one SendMessage.
func (q *Queue) Send(ctx context.Context, body []byte) (string, error) {
	return q.SendAfter(ctx, body, 0)
}

var _ queue.DelayedSender = (*Queue)(nil)

// SendAfter sends with DelaySeconds (delay rounded up to whole seconds).
func (q *Queue) SendAfter(ctx context.Context, body []byte, delay time.Duration) (string, error) {
	if err := queue.ValidateBody(body); err != nil {
		return "", fmt.Errorf("queue: send: %w", err)
	}
	if err := queue.CheckDelay(delay); err != nil {
		return "", fmt.Errorf("queue: send: %w", err)
	}
	callCtx, done, err := q.call(ctx)
	if err != nil {
		return "", fmt.Errorf("queue: send: %w", err)
	}
	defer done()
	out, err := q.client.SendMessage(callCtx, &sqs.SendMessageInput{
		QueueUrl:     aws.String(q.url),
		MessageBody:  aws.String(string(body)),
		DelaySeconds: int32(queue.WholeSeconds(delay)),
	})
	if err != nil {
		return "", q.fail(ctx, "send", err)
	}
	return aws.ToString(out.MessageId), nil
}

// Receive long-polls (WaitTimeSeconds up to 20, repeated for longer waits)
// for up to max messages, at most 10 per call as Queue allows.
func (q *Queue) Receive(ctx context.Context, limit int, wait time.Duration) ([]queue.Message, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("queue: receive: max %d must be positive", limit)
	}
	callCtx, done, err := q.call(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: receive: %w", err)
	}
	defer done()
	deadline := time.Now().Add(wait)
	for {
		secs := min(max(queue.WholeSeconds(time.Until(deadline)), 1), sqsMaxWait)
		start := time.Now()
		out, err := q.client.ReceiveMessage(callCtx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(q.url),
			MaxNumberOfMessages:         int32(min(limit, sqsMaxPerReceive)),
			WaitTimeSeconds:             int32(secs),
			VisibilityTimeout:           q.lease,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil {
			return nil, q.fail(ctx, "receive", err)
		}
		if len(out.Messages) > 0 {
			msgs := make([]queue.Message, 0, len(out.Messages))
			for _, m := range out.Messages {
				msgs = append(msgs, fromSQS(m))
			}
			return msgs, nil
		}
		if !time.Now().Before(deadline) {
			return nil, nil
		}
		// An empty answer before the wait was over (another receiver won
		// the message): never let that turn into a busy loop.
		if pause := sqsMinPoll - time.Since(start); pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-callCtx.Done():
				t.Stop()
				return nil, q.fail(ctx, "receive", callCtx.Err())
			}
		}
	}
}

// fromSQS converts one received message; a missing or odd receive count
// reads as 1 (it was received at least this once).
func fromSQS(m types.Message) queue.Message {
	attempts, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if err != nil || attempts < 1 {
		attempts = 1
	}
	return queue.Message{
		ID:       aws.ToString(m.MessageId),
		Body:     []byte(aws.ToString(m.Body)),
		Receipt:  aws.ToString(m.ReceiptHandle),
		Attempts: attempts,
	}
}

// Delete is one DeleteMessage with m's receipt handle.
func (q *Queue) Delete(ctx context.Context, m queue.Message) error {
	callCtx, done, err := q.call(ctx)
	if err != nil {
		return fmt.Errorf("queue: delete %s: %w", m.ID, err)
	}
	defer done()
	_, err = q.client.DeleteMessage(callCtx, &sqs.DeleteMessageInput{
		QueueUrl:      aws.String(q.url),
		ReceiptHandle: aws.String(m.Receipt),
	})
	if err != nil {
		return q.fail(ctx, "delete "+m.ID, err)
	}
	return nil
}

// Extend is one ChangeMessageVisibility (d rounded up to whole seconds).
func (q *Queue) Extend(ctx context.Context, m queue.Message, d time.Duration) error {
	if d <= 0 || queue.WholeSeconds(d) > sqsMaxVisibility {
		return fmt.Errorf("queue: extend %s: duration %v out of range (above 0, at most 12h)", m.ID, d)
	}
	callCtx, done, err := q.call(ctx)
	if err != nil {
		return fmt.Errorf("queue: extend %s: %w", m.ID, err)
	}
	defer done()
	_, err = q.client.ChangeMessageVisibility(callCtx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(q.url),
		ReceiptHandle:     aws.String(m.Receipt),
		VisibilityTimeout: int32(queue.WholeSeconds(d)),
	})
	if err != nil {
		return q.fail(ctx, "extend "+m.ID, err)
	}
	return nil
}

// Close cancels calls in progress (a long poll ends at once); messages
// received and not deleted come back when their visibility times out.
func (q *Queue) Close() error {
	q.close()
	return nil
}

// call derives the context of one SDK call: it ends with ctx or Close.
func (q *Queue) call(ctx context.Context) (context.Context, func(), error) {
	if q.closed.Err() != nil {
		return nil, nil, queue.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	callCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(q.closed, cancel)
	return callCtx, func() { stop(); cancel() }, nil
}

// fail wraps an SDK error, naming the cause that matters to the caller:
// the caller's context, Close, or a lost lease.
func (q *Queue) fail(ctx context.Context, op string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("queue: %s: %w", op, ctx.Err())
	case q.closed.Err() != nil:
		return fmt.Errorf("queue: %s: %w", op, queue.ErrClosed)
	case leaseLost(err):
		return fmt.Errorf("queue: %s: %w: %w", op, queue.ErrLeaseLost, err)
	}
	return fmt.Errorf("queue: %s: %w", op, err)
}

// leaseLost recognises the ways Queue (and compatible servers) say a receipt
// handle no longer holds its message: AWS answers a stale handle with
// InvalidParameterValue naming the ReceiptHandle.
func leaseLost(err error) bool {
	var notInflight *types.MessageNotInflight
	var invalid *types.ReceiptHandleIsInvalid
	if errors.As(err, &notInflight) || errors.As(err, &invalid) {
		return true
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	code := strings.ToLower(strings.TrimPrefix(api.ErrorCode(), "AWS.SimpleQueueService."))
	switch code {
	case "messagenotinflight", "receipthandleisinvalid":
		return true
	case "invalidparametervalue":
		return strings.Contains(api.ErrorMessage(), "ReceiptHandle")
	}
	return false
}
