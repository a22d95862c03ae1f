output "nlb_dns_name" {
  description = "DNS name of the network load balancer."
  value       = aws_lb.this.dns_name
}

output "rtmp_url" {
  description = "Base RTMP URL for publishers and RTMP players (through the proxies): append app/name (rtmp://<nlb>:<port>/live/name)."
  value       = "rtmp://${aws_lb.this.dns_name}:${var.rtmp_port}/"
}

output "http_url" {
  description = "Base HTTP URL through the load balancer (port 80): HTTP-FLV live play, /healthz and /readyz, served by the proxies (by the origins with proxy_enabled = false)."
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

output "target_group_arns" {
  description = "ARNs of the load balancer's target groups by listener (rtmp, http); their targets are the proxy instances (the origins with proxy_enabled = false)."
  value       = { for k, tg in aws_lb_target_group.this : k => tg.arn }
}

output "proxy_asg_name" {
  description = "Name of the Auto Scaling group of proxy instances (null with proxy_enabled = false)."
  value       = one(aws_autoscaling_group.proxy[*].name)
}

output "proxy_security_group_id" {
  description = "Security group of the proxy instances, the only one (with the origins' own) allowed to the origins' RTMP and HTTP ports (null with proxy_enabled = false)."
  value       = one(aws_security_group.proxy[*].id)
}

output "proxy_instance_role_arn" {
  description = "ARN of the proxy instance role (null with proxy_enabled = false)."
  value       = one(aws_iam_role.proxy[*].arn)
}

output "proxy_lifecycle_hook_name" {
  description = "Name of the termination lifecycle hook that lets a proxy drain (null with proxy_enabled = false)."
  value       = one(aws_autoscaling_lifecycle_hook.proxy_drain[*].name)
}

output "proxy_log_group_name" {
  description = "CloudWatch log group of the proxy containers, one stream per instance id (null with proxy_enabled = false)."
  value       = one(aws_cloudwatch_log_group.proxy[*].name)
}
