variable "region" {
  description = "AWS region of the deployment (CloudFront is global; everything else lives here)."
  type        = string
}

variable "name" {
  description = "Name prefix of every resource (at most 19 characters: the origin module appends \"-origin\" and is limited to 26)."
  type        = string
  default     = "rewind"

  validation {
    condition     = length(var.name) <= 19 && can(regex("^[a-z0-9][a-z0-9-]*$", var.name))
    error_message = "name must be at most 19 characters of lower-case letters, digits and hyphens."
  }
}

variable "tags" {
  description = "Tags for every resource (provider default_tags, also passed to the modules for instances and volumes)."
  type        = map(string)
  default     = { Project = "rewind", ManagedBy = "terraform" }
}

variable "bucket_name" {
  description = "Name of the recordings bucket (globally unique)."
  type        = string
}

variable "vpc_id" {
  description = "Existing VPC to deploy into."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets (at least two zones) for the network load balancer in front of the proxies."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets (with NAT or VPC endpoints) for the origin and proxy instances and the editor tasks."
  type        = list(string)
}

variable "image_tag" {
  description = "Tag of the rewind image pushed to both ECR repositories (immutable tags: use a new tag per build)."
  type        = string
}

variable "architecture" {
  description = "CPU architecture of the image, the origin and proxy instances and the editor tasks: arm64 or x86_64. Build the image for it (docker build --platform linux/<arch>)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "lambda_zip" {
  description = "Path of the vodapi Lambda zip built by `make lambda`, relative to this directory."
  type        = string
  default     = "../../../build/rewind-vodapi-lambda.zip"
}

variable "streams_expire_days" {
  description = "Days recordings are kept (0: forever)."
  type        = number
  default     = 30
}

variable "app_retention_days" {
  description = "Days each app's recordings are kept, e.g. { live = 30, news = 7 } (rewind's --retention, as bucket lifecycle rules); each at most streams_expire_days unless that is 0."
  type        = map(number)
  default     = {}
}

variable "clips_expire_days" {
  description = "Days clips are kept (0: forever)."
  type        = number
  default     = 7
}

variable "versioning" {
  description = "Enable S3 versioning on the recordings bucket."
  type        = bool
  default     = false
}

variable "cors_allowed_origins" {
  description = "Web origins allowed to use the API and the media from a browser."
  type        = list(string)
  default     = ["*"]
}

variable "cdn_aliases" {
  description = "Own host names for the CDN (needs cdn_certificate_arn). Empty: the cloudfront.net name."
  type        = list(string)
  default     = []
}

variable "cdn_certificate_arn" {
  description = "ACM certificate in us-east-1 for cdn_aliases. null: the default CloudFront certificate."
  type        = string
  default     = null
}

variable "publish_secrets" {
  description = "Secrets that sign RTMP publish URLs, newest first. Empty: anyone who reaches the RTMP port may publish."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "publish_allowed_cidr_blocks" {
  description = "IPv4 networks allowed to the RTMP and HTTP ports of the proxies (publishers and live players); the origins take connections only from the proxies."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "playback_secrets" {
  description = "Secrets that sign playback URLs (API playlists and the origins' live HTTP-FLV/RTMP play), newest first. Empty: playback is open."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "webhook_secret" {
  description = "Secret that signs clip webhooks. Empty: webhooks are not signed."
  type        = string
  default     = ""
  sensitive   = true
}

variable "editor_max_tasks" {
  description = "Most clip editor tasks under load."
  type        = number
  default     = 4
}

variable "editor_alarm_actions" {
  description = "SNS topic ARNs told when clip jobs reach the dead-letter queue."
  type        = list(string)
  default     = []
}

variable "origin_instance_type" {
  description = "Instance type of the origin servers; must match architecture (c7g.large for arm64, c7i.large for x86_64)."
  type        = string
  default     = "c7g.large"
}

variable "origin_desired_capacity" {
  description = "Origin instances to run."
  type        = number
  default     = 2
}

variable "origin_max_size" {
  description = "Most origin instances (room for instance refresh)."
  type        = number
  default     = 4
}

variable "proxy_instance_type" {
  description = "Instance type of the proxies; must match architecture (c7g.medium for arm64, c7i.large for x86_64)."
  type        = string
  default     = "c7g.medium"
}

variable "proxy_desired_capacity" {
  description = "Proxy instances to run (at least two, so that one can fail or drain)."
  type        = number
  default     = 2
}

variable "proxy_max_size" {
  description = "Most proxy instances (room for instance refresh)."
  type        = number
  default     = 4
}
