variable "name" {
  description = "Name prefix of the editor resources (queue, cluster, service, roles, log group)."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "bucket_name" {
  description = "Name of the recordings bucket (REWIND_STORE=s3://<bucket_name>)."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the recordings bucket, for the task role's IAM policy."
  type        = string
}

variable "image" {
  description = "Container image of rewind (repository:tag); the task runs its `editor` command."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the tasks."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the tasks (private subnets with a NAT gateway or VPC endpoints for S3, SQS, ECR, CloudWatch Logs and SSM)."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Give the tasks public IPs (only for public subnets without NAT)."
  type        = bool
  default     = false
}

variable "cpu" {
  description = "CPU units per task (1024 = 1 vCPU); a valid Fargate cpu/memory pair with memory."
  type        = number
  default     = 2048
}

variable "memory" {
  description = "Memory per task in MiB; a valid Fargate cpu/memory pair with cpu."
  type        = number
  default     = 4096
}

variable "cpu_architecture" {
  description = "CPU architecture of the tasks: X86_64 or ARM64. Must match the image."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "ephemeral_storage_gib" {
  description = "Fargate ephemeral storage per task in GiB (21 to 200): the editor's scratch space for segments and outputs."
  type        = number
  default     = 50

  validation {
    condition     = var.ephemeral_storage_gib >= 21 && var.ephemeral_storage_gib <= 200
    error_message = "ephemeral_storage_gib must be between 21 and 200."
  }
}

variable "concurrency" {
  description = "Clip jobs one task runs at a time (REWIND_EDITOR_CONCURRENCY)."
  type        = number
  default     = 1

  validation {
    condition     = var.concurrency >= 1
    error_message = "concurrency must be at least 1."
  }
}

variable "min_tasks" {
  description = "Fewest running tasks; 0 lets the service scale to zero when the queue is idle."
  type        = number
  default     = 0

  validation {
    condition     = var.min_tasks >= 0
    error_message = "min_tasks must be >= 0."
  }
}

variable "max_tasks" {
  description = "Most running tasks under load."
  type        = number
  default     = 4

  validation {
    condition     = var.max_tasks >= 1
    error_message = "max_tasks must be at least 1."
  }
}

variable "lease_seconds" {
  description = "Seconds a job stays invisible to other editors while one works on it (queue visibility timeout and REWIND_EDITOR_LEASE; the editor extends it by heartbeat)."
  type        = number
  default     = 60

  validation {
    condition     = var.lease_seconds >= 10 && var.lease_seconds <= 43200
    error_message = "lease_seconds must be between 10 and 43200."
  }
}

variable "max_attempts" {
  description = "Attempts the editor makes at a job before it marks the job failed (REWIND_EDITOR_MAX_ATTEMPTS)."
  type        = number
  default     = 3

  validation {
    condition     = var.max_attempts >= 1
    error_message = "max_attempts must be at least 1."
  }
}

variable "max_receive_count" {
  description = "Receives after which SQS moves a message to the dead-letter queue. Must exceed max_attempts so the editor records the failure first."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "message_retention_seconds" {
  description = "How long the job queue keeps a message (60 to 1209600 seconds)."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be between 60 and 1209600."
  }
}

variable "dlq_retention_seconds" {
  description = "How long the dead-letter queue keeps a message (60 to 1209600 seconds)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_retention_seconds >= 60 && var.dlq_retention_seconds <= 1209600
    error_message = "dlq_retention_seconds must be between 60 and 1209600."
  }
}

variable "webhook_secret" {
  description = "Secret that signs clip webhooks (REWIND_WEBHOOK_SECRET), kept in an SSM SecureString parameter. Empty: webhooks are not signed."
  type        = string
  default     = ""
  sensitive   = true
}

variable "public_url" {
  description = "External base URL of the API (the CDN URL), for URLs in webhooks (REWIND_PUBLIC_URL). Empty: paths only."
  type        = string
  default     = ""
}

variable "metrics_cidr_blocks" {
  description = "IPv4 CIDR blocks allowed to reach port 8082 (/healthz, /metrics) on the tasks. Empty: no ingress at all."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Retention of the editor's CloudWatch log group, in days."
  type        = number
  default     = 30
}

variable "alarm_actions" {
  description = "ARNs (SNS topics) notified when messages reach the dead-letter queue."
  type        = list(string)
  default     = []
}

variable "environment" {
  description = "Extra environment variables (REWIND_* overrides) for the editor container, merged last."
  type        = map(string)
  default     = {}
}
