output "nlb_dns_name" {
  description = "DNS name of the network load balancer."
  value       = aws_lb.this.dns_name
}

output "rtmp_url" {
  description = "Base RTMP URL for publishers: append app/name (rtmp://<nlb>:<port>/live/name)."
  value       = "rtmp://${aws_lb.this.dns_name}:${var.rtmp_port}/"
}

output "http_url" {
  description = "Base HTTP URL of the origins through the load balancer (port 80): /healthz and HTTP-FLV live play."
  value       = "http://${aws_lb.this.dns_name}/"
}

output "asg_name" {
  description = "Name of the Auto Scaling group of origin instances."
  value       = aws_autoscaling_group.this.name
}

output "security_group_id" {
  description = "Security group of the origin instances."
  value       = aws_security_group.this.id
}

output "instance_role_arn" {
  description = "ARN of the origin instance role."
  value       = aws_iam_role.this.arn
}

output "lifecycle_hook_name" {
  description = "Name of the termination lifecycle hook that lets an origin drain."
  value       = aws_autoscaling_lifecycle_hook.drain.name
}

output "log_group_name" {
  description = "CloudWatch log group of the origin containers (one stream per instance id)."
  value       = aws_cloudwatch_log_group.this.name
}
