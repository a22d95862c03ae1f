output "queue_url" {
  description = "URL of the clip job queue (REWIND_JOBS for vodapi and editor)."
  value       = aws_sqs_queue.jobs.url
}

output "queue_arn" {
  description = "ARN of the clip job queue."
  value       = aws_sqs_queue.jobs.arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue of clip jobs."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue of clip jobs."
  value       = aws_sqs_queue.dlq.arn
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "Name of the ECS service running the editor."
  value       = aws_ecs_service.this.name
}

output "task_role_arn" {
  description = "ARN of the editor task role."
  value       = aws_iam_role.task.arn
}

output "security_group_id" {
  description = "Security group of the editor tasks."
  value       = aws_security_group.this.id
}

output "log_group_name" {
  description = "CloudWatch log group of the editor."
  value       = aws_cloudwatch_log_group.this.name
}
