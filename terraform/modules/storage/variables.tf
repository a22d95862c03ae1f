variable "name" {
  description = "Name of the deployment, used for the bucket's Name tag (the bucket itself is named by bucket_name)."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "bucket_name" {
  description = "Name of the S3 bucket that holds recordings (streams/) and clips (clips/). Globally unique."
  type        = string
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket even when it still holds objects. Keep false in production."
  type        = bool
  default     = false
}

variable "versioning" {
  description = "Enable S3 versioning (Enabled when true, Suspended when false)."
  type        = bool
  default     = false
}

variable "streams_expire_days" {
  description = "Delete recordings (streams/) this many days after they were written. 0 keeps them forever."
  type        = number
  default     = 30

  validation {
    condition     = var.streams_expire_days >= 0 && floor(var.streams_expire_days) == var.streams_expire_days
    error_message = "streams_expire_days must be a whole number >= 0."
  }
}

variable "app_retention_days" {
  description = "Retention per app: delete recordings of streams/{app}/ this many days after they were written, one lifecycle rule per app (the same rules as rewind's --retention on a local store, e.g. { live = 30, news = 7 }). Each must be at most streams_expire_days unless that is 0."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for app, d in var.app_retention_days : can(regex("^[A-Za-z0-9_-]{1,64}$", app)) && d >= 1 && floor(d) == d])
    error_message = "app_retention_days: each key must be an app name ([A-Za-z0-9_-]{1,64}) and each value a whole number of days >= 1."
  }
}

variable "key_prefix" {
  description = "Prefix of every rewind key in the bucket (the prefix of --store s3://bucket/prefix/): \"\" or ending with '/'. The lifecycle rules apply under it."
  type        = string
  default     = ""

  validation {
    condition     = var.key_prefix == "" || (endswith(var.key_prefix, "/") && !startswith(var.key_prefix, "/"))
    error_message = "key_prefix must be empty or end with '/' (and not start with one)."
  }
}

variable "clips_expire_days" {
  description = "Delete clip jobs and outputs (clips/) this many days after they were written. 0 keeps them forever."
  type        = number
  default     = 7

  validation {
    condition     = var.clips_expire_days >= 0 && floor(var.clips_expire_days) == var.clips_expire_days
    error_message = "clips_expire_days must be a whole number >= 0."
  }
}

variable "noncurrent_expire_days" {
  description = "With versioning on, delete noncurrent object versions this many days after they became noncurrent."
  type        = number
  default     = 7

  validation {
    condition     = var.noncurrent_expire_days >= 1 && floor(var.noncurrent_expire_days) == var.noncurrent_expire_days
    error_message = "noncurrent_expire_days must be a whole number >= 1."
  }
}

variable "abort_multipart_days" {
  description = "Abort multipart uploads left incomplete (for example by a crashed origin) after this many days."
  type        = number
  default     = 1

  validation {
    condition     = var.abort_multipart_days >= 1 && floor(var.abort_multipart_days) == var.abort_multipart_days
    error_message = "abort_multipart_days must be a whole number >= 1."
  }
}

variable "cors_allowed_origins" {
  description = "Origins allowed to GET/HEAD objects directly from the bucket (S3 CORS)."
  type        = list(string)
  default     = ["*"]
}

variable "cloudfront_distribution_arn" {
  description = "ARN of the CloudFront distribution allowed (through its origin access control) to read the public objects: segments and clip outputs. null: no CloudFront access."
  type        = string
  default     = null
}
