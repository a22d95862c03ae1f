variable "name" {
  description = "Name of the Lambda function; also the prefix of its role and log group."
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
  description = "ARN of the recordings bucket, for the function's IAM policy."
  type        = string
}

variable "zip_path" {
  description = "Path of the deployment zip built by `make lambda` (holds one executable named bootstrap)."
  type        = string
}

variable "jobs_queue_url" {
  description = "URL of the clip job SQS queue (editor module output queue_url); POST /v1/clips sends to it."
  type        = string
}

variable "jobs_queue_arn" {
  description = "ARN of the clip job SQS queue, for the function's IAM policy."
  type        = string
}

variable "memory_mb" {
  description = "Memory of the function in MB (CPU scales with it). A quarter goes to the replay cache."
  type        = number
  default     = 1024

  validation {
    condition     = var.memory_mb >= 128 && var.memory_mb <= 10240
    error_message = "memory_mb must be between 128 and 10240."
  }
}

variable "timeout_seconds" {
  description = "Function timeout in seconds. CloudFront waits 30 s for an origin by default, so more is not useful behind it."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be between 1 and 900."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of the function (also its cap). -1: unreserved."
  type        = number
  default     = -1
}

variable "log_retention_days" {
  description = "Retention of the function's CloudWatch log group, in days."
  type        = number
  default     = 30
}

variable "segment_base_url" {
  description = "REWIND_SEGMENT_BASE_URL: \"/\" makes playlists reference segments as /streams/..., served from the bucket by the CDN on the same host."
  type        = string
  default     = "/"
}

variable "cors_origins" {
  description = "Origins the API allows in its CORS answers (REWIND_CORS_ORIGINS)."
  type        = list(string)
  default     = ["*"]
}

variable "playback_secrets" {
  description = "Secrets for signed playback URLs (REWIND_PLAYBACK_SECRETS, newest first). Empty: playback is not signed."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "api_tokens" {
  description = "Bearer tokens of app backends, good for every clip (REWIND_API_TOKENS). With them or playback_secrets, clip routes need a credential. Empty: none."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "webhook_allow" {
  description = "Internal CIDRs, addresses and host names clip webhooks may reach (REWIND_WEBHOOK_ALLOW). Empty: public addresses only."
  type        = list(string)
  default     = []
}

variable "environment" {
  description = "Extra environment variables (REWIND_* overrides), merged last over the ones this module sets."
  type        = map(string)
  default     = {}
}
