# The one bucket of a rewind deployment. Key layout (see README.md), all
# under var.key_prefix:
#   streams/{app}/{name}/{run}/run.json, seg/{seq}.ts, idx/{chunk}.idx,
#   snap/... (snapshots)
#   clips/{id}/job.json (private: it holds the webhook URL), clip.mp4,
#   clip.ts, hls/index.m3u8, hls/seg_NNNNN.ts
#
# Graph note: the example environment feeds cloudfront_distribution_arn from
# the cdn module's distribution_arn output, while the cdn module reads this
# module's bucket_regional_domain_name output. That is not a cycle: Terraform
# resolves dependencies per resource and per module variable and output, not
# per module. The chain is
#   aws_s3_bucket.this -> output bucket_regional_domain_name
#     -> the CloudFront distribution -> var.cloudfront_distribution_arn
#     -> data.aws_iam_policy_document.bucket -> aws_s3_bucket_policy.this
# so the bucket is created first, then the distribution, then the policy.

resource "aws_s3_bucket" "this" {
  bucket        = var.bucket_name
  force_destroy = var.force_destroy

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = var.versioning ? "Enabled" : "Suspended"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  # Lifecycle rules that look at versions must see the final versioning state.
  depends_on = [aws_s3_bucket_versioning.this]

  dynamic "rule" {
    for_each = var.streams_expire_days > 0 ? [var.streams_expire_days] : []
    content {
      id     = "expire-streams"
      status = "Enabled"

      filter {
        prefix = "${var.key_prefix}streams/"
      }

      expiration {
        days = rule.value
      }
    }
  }

  dynamic "rule" {
    for_each = var.clips_expire_days > 0 ? [var.clips_expire_days] : []
    content {
      id     = "expire-clips"
      status = "Enabled"

      filter {
        prefix = "${var.key_prefix}clips/"
      }

      expiration {
        days = rule.value
      }
    }
  }

  # Retention per app (rewind's --retention on local stores): one rule per
  # app prefix. S3 expires by object age, so a segment goes that many days
  # after it was written (a long run's first segments before its last),
  # and where rules overlap S3 takes the shortest: an app's rule can only
  # shorten streams_expire_days (checked below).
  dynamic "rule" {
    for_each = var.app_retention_days
    content {
      id     = "expire-app-${rule.key}"
      status = "Enabled"

      filter {
        prefix = "${var.key_prefix}streams/${rule.key}/"
      }

      expiration {
        days = rule.value
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.streams_expire_days == 0 || alltrue([for d in values(var.app_retention_days) : d <= var.streams_expire_days])
      error_message = "app_retention_days: an app's retention longer than streams_expire_days would never apply (S3 takes the shortest of overlapping rules); raise streams_expire_days or set it to 0."
    }
  }

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_multipart_days
    }
  }

  dynamic "rule" {
    for_each = var.versioning ? [var.noncurrent_expire_days] : []
    content {
      id     = "expire-noncurrent-versions"
      status = "Enabled"

      filter {}

      noncurrent_version_expiration {
        noncurrent_days = rule.value
      }

      # Remove the delete markers the expiration rules leave behind once no
      # noncurrent version is left under them.
      expiration {
        expired_object_delete_marker = true
      }
    }
  }
}

resource "aws_s3_bucket_cors_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  cors_rule {
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag", "Content-Length", "Content-Range"]
    max_age_seconds = 3600
  }
}

# The bucket's only policy. Statement 1 always: refuse plain HTTP. Statement 2
# only with a distribution: CloudFront (origin access control) may read the
# public objects, i.e. media segments and clip outputs. Run documents, indexes
# and clip job documents (which hold webhook URLs) stay private.
data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = var.cloudfront_distribution_arn == null ? [] : [var.cloudfront_distribution_arn]
    content {
      sid     = "CloudFrontReadPublicObjects"
      effect  = "Allow"
      actions = ["s3:GetObject"]
      resources = [
        "${aws_s3_bucket.this.arn}/streams/*/seg/*",
        "${aws_s3_bucket.this.arn}/clips/*/clip.*",
        "${aws_s3_bucket.this.arn}/clips/*/hls/*",
      ]

      principals {
        type        = "Service"
        identifiers = ["cloudfront.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "AWS:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.bucket.json

  # S3 refuses a policy while the public access block is being changed.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
