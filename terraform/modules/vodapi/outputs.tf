output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "function_url" {
  description = "Function URL (https://<id>.lambda-url.<region>.on.aws/). Public; use the CDN URL in front of it."
  value       = aws_lambda_function_url.this.function_url
}

output "function_url_domain" {
  description = "Host of the function URL, without scheme or slash: the CDN's API origin."
  value       = trimsuffix(trimprefix(aws_lambda_function_url.this.function_url, "https://"), "/")
}

output "role_arn" {
  description = "ARN of the function's IAM role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the function."
  value       = aws_cloudwatch_log_group.this.name
}
