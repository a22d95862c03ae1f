variable "name" {
  description = "Name prefix of the origin resources (Auto Scaling group, load balancer, target groups, role); the proxy resources are named <name>-proxy. 2 to 26 characters: load balancer and target group names are limited to 32."
  type        = string

  validation {
    condition     = length(var.name) >= 2 && length(var.name) <= 26 && can(regex("^[A-Za-z0-9][A-Za-z0-9-]*$", var.name))
    error_message = "name must be 2 to 26 characters of letters, digits and hyphens, starting with a letter or digit."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module (and to the instances and their volumes)."
  type        = map(string)
  default     = {}
}

variable "bucket_name" {
  description = "Name of the recordings bucket (--store s3://<bucket_name>)."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the recordings bucket, for the instance role's IAM policy."
  type        = string
}

variable "image" {
  description = "Container image of rewind (repository:tag); the origin instances run its `origin` command, the proxy instances its `proxy` command."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the instances and the load balancer."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the instances (private subnets with a NAT gateway or VPC endpoints)."
  type        = list(string)
}

variable "nlb_subnet_ids" {
  description = "Subnets of the network load balancer (public subnets unless internal is true)."
  type        = list(string)
}

variable "internal" {
  description = "Make the network load balancer internal (reachable only from inside the VPC)."
  type        = bool
  default     = false
}

variable "architecture" {
  description = "CPU architecture of the instances and of the Amazon Linux 2023 AMI: arm64 or x86_64. Must match instance_type and the image."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the origin servers."
  type        = string
  default     = "c7g.large"
}

variable "root_volume_gib" {
  description = "Size of the root volume in GiB (operating system, Docker images), origins and proxies alike."
  type        = number
  default     = 30
}

variable "min_size" {
  description = "Fewest instances in the Auto Scaling group."
  type        = number
  default     = 1
}

variable "max_size" {
  description = "Most instances in the Auto Scaling group."
  type        = number
  default     = 4
}

variable "desired_capacity" {
  description = "Instances to run."
  type        = number
  default     = 2
}

variable "spool_volume_gib" {
  description = "Size in GiB of the dedicated EBS volume (gp3) that spools segments not yet uploaded; --spool-limit is set to 90% of it."
  type        = number
  default     = 100

  validation {
    condition     = var.spool_volume_gib >= 1 && var.spool_volume_gib <= 16384
    error_message = "spool_volume_gib must be between 1 and 16384."
  }
}

variable "drain_timeout_seconds" {
  description = "--drain-timeout in seconds: on stop, live publishers may go on this long, then the spool gets up to this long to upload (a clean stop takes up to twice this)."
  type        = number
  default     = 30

  validation {
    condition     = var.drain_timeout_seconds >= 1 && var.drain_timeout_seconds <= 1700
    error_message = "drain_timeout_seconds must be between 1 and 1700 (target group deregistration delay is at most 3600 s)."
  }
}

variable "segment_duration" {
  description = "--segment-duration: target length of recorded segments (Go duration, for example 4s)."
  type        = string
  default     = "4s"
}

variable "publish_secrets" {
  description = "Secrets that sign publish URLs (--publish-secrets, newest first), kept in an SSM SecureString parameter. Empty: publishing is not signed."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "playback_secrets" {
  description = "Secrets for signed live playback (--playback-secrets: HTTP-FLV and RTMP play), the same as the API's. Kept in an SSM SecureString parameter. Empty: live playback is open."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "publish_hook_url" {
  description = "--publish-hook: URL asked to allow each publish. Empty: none."
  type        = string
  default     = ""
}

variable "allowed_cidr_blocks" {
  description = "IPv4 CIDR blocks of publishers and HTTP-FLV viewers, allowed to the RTMP and HTTP ports of the tier behind the load balancer (the proxies; the origins with proxy_enabled = false). The load balancer keeps client addresses."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "http_port" {
  description = "Port of the HTTP server (/healthz, /readyz, /metrics, HTTP-FLV live play) on the origin and proxy instances."
  type        = number
  default     = 8080
}

variable "rtmp_port" {
  description = "RTMP port, on the origin and proxy instances and on the load balancer."
  type        = number
  default     = 1935
}

variable "log_retention_days" {
  description = "Retention of the origin's and the proxy's CloudWatch log groups, in days."
  type        = number
  default     = 30
}

variable "environment" {
  description = "Extra environment variables (REWIND_* overrides) for the origin container."
  type        = map(string)
  default     = {}
}

# ------------------------------------------------------------- proxies

variable "proxy_enabled" {
  description = "Run the proxy tier: `rewind proxy` instances behind the load balancer route publishes and plays by stream to the origins, which are then reachable only from the proxies and from each other. false: the load balancer sends clients straight to the origins (one tier, as before the proxies)."
  type        = bool
  default     = true
}

variable "proxy_instance_type" {
  description = "EC2 instance type of the proxies (relaying is light: network bound). Must match architecture (c7g.* for arm64, c7i.* for x86_64)."
  type        = string
  default     = "c7g.medium"
}

variable "proxy_min_size" {
  description = "Fewest instances in the proxy Auto Scaling group."
  type        = number
  default     = 1
}

variable "proxy_max_size" {
  description = "Most instances in the proxy Auto Scaling group."
  type        = number
  default     = 4
}

variable "proxy_desired_capacity" {
  description = "Proxy instances to run (two or more, in different zones, so that one can fail or drain)."
  type        = number
  default     = 2
}

variable "proxy_drain_timeout_seconds" {
  description = "--drain-timeout of the proxies in seconds: on stop, a proxy takes no new sessions and lets the relayed ones go on this long (publishers then reconnect through another proxy to the same origin node)."
  type        = number
  default     = 30

  validation {
    condition     = var.proxy_drain_timeout_seconds >= 1 && var.proxy_drain_timeout_seconds <= 3600
    error_message = "proxy_drain_timeout_seconds must be between 1 and 3600 (target group deregistration delay is at most 3600 s)."
  }
}

variable "proxy_environment" {
  description = "Extra environment variables (REWIND_* overrides such as REWIND_NODE_TIMEOUT, REWIND_REGISTRY_REFRESH, REWIND_DIAL_TIMEOUT) for the proxy container."
  type        = map(string)
  default     = {}
}
