package sqsqueue

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/rewind-vod/rewind/infra/queue"
)

// TestLeaseLost: the ways AWS and goaws say a receipt handle is stale all
// map to ErrLeaseLost, and nothing else does.
func TestLeaseLost(t *testing.T) {
	lost := []error{
		&types.MessageNotInflight{Message: aws.String("x")},
		&types.ReceiptHandleIsInvalid{Message: aws.String("x")},
		&smithy.GenericAPIError{Code: "AWS.SimpleQueueService.MessageNotInFlight"},
		&smithy.GenericAPIError{Code: "ReceiptHandleIsInvalid"},
		&smithy.GenericAPIError{Code: "InvalidParameterValue", Message: "Value abc for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."},
		fmt.Errorf("operation error SQS: ChangeMessageVisibility: %w", &types.MessageNotInflight{}),
	}
	for _, err := range lost {
		if !leaseLost(err) {
			t.Errorf("leaseLost(%v) = false", err)
		}
	}
	kept := []error{
		errors.New("connection refused"),
		&types.QueueDoesNotExist{},
		&smithy.GenericAPIError{Code: "InvalidParameterValue", Message: "VisibilityTimeout out of range"},
		&smithy.GenericAPIError{Code: "AccessDenied"},
	}
	for _, err := range kept {
		if leaseLost(err) {
			t.Errorf("leaseLost(%v) = true", err)
		}
	}
}

func TestWholeSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{
		0: 0, time.Nanosecond: 1, time.Second: 1, time.Second + 1: 2, 1500 * time.Millisecond: 2, 20 * time.Second: 20,
	} {
		if got := queue.WholeSeconds(d); got != want {
			t.Errorf("queue.WholeSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}
