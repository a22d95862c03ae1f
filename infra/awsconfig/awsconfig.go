// Package awsconfig loads the AWS configuration the S3 store and the SQS
// queue share: the standard chain (environment, shared files, instance
// roles), with an optional region and credentials on top.
package awsconfig

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Load returns the AWS configuration; region and creds override the chain
// when set. The region may still be empty: callers pick their default.
func Load(ctx context.Context, region string, creds aws.CredentialsProvider) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if creds != nil {
		opts = append(opts, config.WithCredentialsProvider(creds))
	}
	return config.LoadDefaultConfig(ctx, opts...)
}
