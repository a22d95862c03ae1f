output "domain_name" {
  description = "CloudFront domain name of the distribution (xxxx.cloudfront.net); point DNS aliases here."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "url" {
  description = "Public base URL of the deployment: https:// and the first alias, else the CloudFront domain name. No trailing slash."
  value       = length(var.aliases) > 0 ? "https://${var.aliases[0]}" : "https://${aws_cloudfront_distribution.this.domain_name}"
}

output "hosted_zone_id" {
  description = "Route 53 hosted zone id of CloudFront, for alias records."
  value       = aws_cloudfront_distribution.this.hosted_zone_id
}

output "distribution_id" {
  description = "Id of the distribution (for invalidations)."
  value       = aws_cloudfront_distribution.this.id
}

output "distribution_arn" {
  description = "ARN of the distribution (the storage bucket policy allows it to read public objects)."
  value       = aws_cloudfront_distribution.this.arn
}
