# One distribution, one host name for players:
#   /streams/*, /clips/*/clip.*, /clips/*/hls/*  -> the bucket (origin access control)
#   everything else (/v1/*, /hls/*, /openapi.json, ...) -> the vodapi function URL
# The API writes playlists whose segment URIs are root-relative (/streams/...,
# REWIND_SEGMENT_BASE_URL=/), so players fetch segments through the same host
# straight from S3, never through the Lambda.

locals {
  # With a list of specific origins the API answers with the request's Origin
  # in Access-Control-Allow-Origin (and Vary: Origin, which CloudFront does not
  # honour), so Origin must then be part of the API cache key. With "*" the
  # answer is the same for every origin and the cache key stays minimal.
  cors_wildcard = contains(var.cors_allowed_origins, "*")

  custom_certificate = var.acm_certificate_arn != null

  # Paths served from the bucket. Media segments of recordings: the bucket
  # policy only lets CloudFront read streams/*/seg/*, so run.json and indexes
  # answer 403 here. Clip outputs: clips/{id}/job.json is not matched, it
  # goes to the API behaviour, and the bucket policy does not let CloudFront
  # read it anyway.
  bucket_paths = ["/streams/*", "/clips/*/clip.*", "/clips/*/hls/*"]
}

resource "aws_cloudfront_origin_access_control" "bucket" {
  name                              = "${var.name}-bucket"
  description                       = "${var.name}: CloudFront reads segments and clip outputs from the bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# The API sets Cache-Control on every answer (immutable for ended recordings,
# a few seconds for live ones). default_ttl 0: an answer without the header is
# not cached; max_ttl one year lets "immutable" answers stay.
resource "aws_cloudfront_cache_policy" "api" {
  name        = "${var.name}-api"
  comment     = "${var.name}: vodapi, honours the origin's Cache-Control"
  min_ttl     = 0
  default_ttl = 0
  max_ttl     = 31536000

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true

    query_strings_config {
      query_string_behavior = "all"
    }

    cookies_config {
      cookie_behavior = "none"
    }

    headers_config {
      header_behavior = local.cors_wildcard ? "none" : "whitelist"

      dynamic "headers" {
        for_each = local.cors_wildcard ? [] : [["Origin"]]
        content {
          items = headers.value
        }
      }
    }
  }
}

# Segments and clip outputs never change once written: cache them long.
resource "aws_cloudfront_cache_policy" "objects" {
  name        = "${var.name}-objects"
  comment     = "${var.name}: immutable media objects from the bucket"
  min_ttl     = 0
  default_ttl = 86400
  max_ttl     = 31536000

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true

    query_strings_config {
      query_string_behavior = "none"
    }

    cookies_config {
      cookie_behavior = "none"
    }

    headers_config {
      header_behavior = "none"
    }
  }
}

# Forwards every query string and viewer header except Host: a Lambda
# function URL refuses requests whose Host is not its own.
data "aws_cloudfront_origin_request_policy" "all_viewer_except_host" {
  name = "Managed-AllViewerExceptHostHeader"
}

# CORS headers for answers that carry none: the bucket's objects (Origin is
# not forwarded to S3) and cached API answers to requests that had no Origin.
# origin_override = false, so the API's own CORS headers always win.
resource "aws_cloudfront_response_headers_policy" "cors" {
  name    = "${var.name}-cors"
  comment = "${var.name}: CORS for players on other origins"

  cors_config {
    access_control_allow_credentials = false
    origin_override                  = false
    access_control_max_age_sec       = 3600

    access_control_allow_origins {
      items = var.cors_allowed_origins
    }

    access_control_allow_methods {
      items = ["GET", "HEAD", "OPTIONS", "POST"]
    }

    access_control_allow_headers {
      items = ["*"]
    }

    access_control_expose_headers {
      items = ["ETag", "Content-Length", "Content-Range", "Location"]
    }
  }
}

resource "aws_cloudfront_distribution" "this" {
  enabled         = true
  is_ipv6_enabled = true
  http_version    = "http2and3"
  price_class     = var.price_class
  aliases         = var.aliases
  web_acl_id      = var.web_acl_id
  comment         = "${var.name}: rewind playback and API"

  origin {
    origin_id                = "bucket"
    domain_name              = var.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.bucket.id

    s3_origin_config {
      # Empty: access goes through the origin access control above.
      origin_access_identity = ""
    }
  }

  origin {
    origin_id   = "api"
    domain_name = var.api_domain

    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  default_cache_behavior {
    target_origin_id           = "api"
    allowed_methods            = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    viewer_protocol_policy     = "redirect-to-https"
    cache_policy_id            = aws_cloudfront_cache_policy.api.id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer_except_host.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.cors.id
  }

  # The bucket's paths, in order (see local.bucket_paths).
  dynamic "ordered_cache_behavior" {
    for_each = local.bucket_paths
    content {
      path_pattern               = ordered_cache_behavior.value
      target_origin_id           = "bucket"
      allowed_methods            = ["GET", "HEAD", "OPTIONS"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = true
      viewer_protocol_policy     = "redirect-to-https"
      cache_policy_id            = aws_cloudfront_cache_policy.objects.id
      response_headers_policy_id = aws_cloudfront_response_headers_policy.cors.id
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = !local.custom_certificate
    acm_certificate_arn            = var.acm_certificate_arn
    ssl_support_method             = local.custom_certificate ? "sni-only" : null
    minimum_protocol_version       = local.custom_certificate ? "TLSv1.2_2021" : "TLSv1"
  }

  tags = merge(var.tags, { Name = var.name })

  lifecycle {
    precondition {
      condition     = length(var.aliases) == 0 || local.custom_certificate
      error_message = "aliases need acm_certificate_arn (an ACM certificate in us-east-1 covering them)."
    }
  }
}
