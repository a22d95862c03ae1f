package sqstest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// TestRoundTrip drives goaws through the front with the plain SDK client:
// every translated operation the queue package uses, plus an error.
func TestRoundTrip(t *testing.T) {
	srv := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := srv.Client()
	url := srv.NewQueue(t, 2*time.Second)
	if !strings.HasPrefix(url, srv.Endpoint+"/"+Account+"/rewind-test-") {
		t.Fatalf("queue url %q does not point at the front %s", url, srv.Endpoint)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout},
	})
	if err != nil || attrs.Attributes["VisibilityTimeout"] != "2" {
		t.Fatalf("attributes %v, %v", attrs, err)
	}

	const body = `{"job":"clip","note":"<&>\"é\t"}`
	sent, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatalf("send: %v\n%s", err, srv.Logs())
	}
	got, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(url),
		MaxNumberOfMessages:         10,
		WaitTimeSeconds:             1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil || len(got.Messages) != 1 {
		t.Fatalf("receive: %+v, %v", got, err)
	}
	m := got.Messages[0]
	if aws.ToString(m.Body) != body || aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) {
		t.Errorf("received %q (%s), sent %q (%s)", aws.ToString(m.Body), aws.ToString(m.MessageId), body, aws.ToString(sent.MessageId))
	}
	if m.Attributes["ApproximateReceiveCount"] != "1" {
		t.Errorf("attributes %v", m.Attributes)
	}
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 5,
	}); err != nil {
		t.Errorf("change visibility: %v", err)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Errorf("delete: %v", err)
	}

	// goaws's XML error comes back as the SDK's typed error.
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 5,
	})
	var notInflight *types.MessageNotInflight
	if !errors.As(err, &notInflight) {
		t.Errorf("change visibility of a deleted message: %v, want MessageNotInflight", err)
	}
}

// TestUnsupportedOperation: the front refuses what it does not translate.
func TestUnsupportedOperation(t *testing.T) {
	srv := Start(t)
	_, err := srv.Client().ListQueues(context.Background(), &sqs.ListQueuesInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "UnsupportedOperation" || !strings.Contains(api.ErrorMessage(), "ListQueues") {
		t.Errorf("ListQueues: %v, want UnsupportedOperation naming it", err)
	}
}

func TestBinaryOverride(t *testing.T) {
	t.Setenv(EnvBinary, "/nonexistent/goaws")
	if _, err := binary(); err == nil {
		t.Error("a missing $REWIND_GOAWS must be an error")
	}
	t.Setenv(EnvBinary, "")
	if p, err := binary(); err != nil || !strings.HasSuffix(p, "/.tools/bin/goaws") {
		t.Errorf("binary() = %q, %v", p, err)
	}
}

// TestStop: after Stop, calls fail instead of hanging.
func TestStop(t *testing.T) {
	srv := Start(t)
	url := srv.NewQueue(t, time.Second)
	srv.Stop()
	srv.Stop() // idempotent
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	noRetry := func(o *sqs.Options) { o.RetryMaxAttempts = 1 }
	if _, err := srv.Client().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x")}, noRetry); err == nil {
		t.Error("send after Stop succeeded")
	}
}
