output "cdn_url" {
  description = "Public base URL for players and API clients (https://<cdn>/hls/live/<name>/index.m3u8, /v1/...)."
  value       = module.cdn.url
}

output "cdn_domain_name" {
  description = "CloudFront domain name; point DNS aliases here."
  value       = module.cdn.domain_name
}

output "rtmp_url" {
  description = "Base RTMP URL for publishers and RTMP players (through the proxies): append live/<name>."
  value       = module.origin.rtmp_url
}

output "origin_http_url" {
  description = "HTTP base URL through the load balancer, served by the proxies (HTTP-FLV live play of any live stream, /healthz, /readyz)."
  value       = module.origin.http_url
}

output "api_function_url" {
  description = "Direct Lambda function URL of vodapi (for debugging; clients should use cdn_url)."
  value       = module.vodapi.function_url
}

output "bucket_name" {
  description = "Name of the recordings bucket."
  value       = module.storage.bucket_name
}

output "jobs_queue_url" {
  description = "URL of the clip job queue."
  value       = module.editor.queue_url
}

output "jobs_dlq_url" {
  description = "URL of the clip job dead-letter queue."
  value       = module.editor.dlq_url
}

output "ecr_origin_url" {
  description = "ECR repository URL for the origin image (docker push <url>:<image_tag>)."
  value       = aws_ecr_repository.origin.repository_url
}

output "ecr_editor_url" {
  description = "ECR repository URL for the editor image (docker push <url>:<image_tag>)."
  value       = aws_ecr_repository.editor.repository_url
}
