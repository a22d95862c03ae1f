output "bucket_name" {
  description = "Name of the bucket (for REWIND_STORE=s3://<name>)."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "ARN of the bucket, for the IAM policies of the other modules."
  value       = aws_s3_bucket.this.arn
}

output "bucket_regional_domain_name" {
  description = "Regional domain name of the bucket, for the CloudFront S3 origin."
  value       = aws_s3_bucket.this.bucket_regional_domain_name
}
