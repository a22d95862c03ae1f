variable "name" {
  description = "Name prefix for the CloudFront policies and the origin access control (letters, digits, hyphens)."
  type        = string
}

variable "tags" {
  description = "Tags added to every taggable resource of this module."
  type        = map(string)
  default     = {}
}

variable "bucket_regional_domain_name" {
  description = "Regional domain name of the recordings bucket (storage module output), the origin of segments and clip outputs."
  type        = string
}

variable "api_domain" {
  description = "Host of the vodapi Lambda function URL, without scheme or slash (vodapi module output function_url_domain)."
  type        = string

  validation {
    condition     = !can(regex("^https?://", var.api_domain)) && !can(regex("/", var.api_domain))
    error_message = "api_domain must be a bare host name: no scheme, no slash."
  }
}

variable "price_class" {
  description = "CloudFront price class: PriceClass_100, PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "cors_allowed_origins" {
  description = "Origins allowed by the CloudFront CORS response headers (used when the origin sent none; the API's own CORS headers win)."
  type        = list(string)
  default     = ["*"]
}

variable "aliases" {
  description = "Extra host names (CNAMEs) for the distribution. Needs acm_certificate_arn."
  type        = list(string)
  default     = []
}

variable "acm_certificate_arn" {
  description = "ARN of an ACM certificate in us-east-1 covering the aliases. null: the default *.cloudfront.net certificate."
  type        = string
  default     = null
}

variable "web_acl_id" {
  description = "ARN of an AWS WAF (v2, CLOUDFRONT scope) web ACL to attach. null: none."
  type        = string
  default     = null
}
