data "aws_region" "current" {}

locals {
  environment = merge(
    {
      REWIND_STORE            = "s3://${var.bucket_name}"
      REWIND_S3_REGION        = data.aws_region.current.name
      REWIND_JOBS             = var.jobs_queue_url
      REWIND_SEGMENT_BASE_URL = var.segment_base_url
      REWIND_LOG_FORMAT       = "json"
      # About a quarter of the function's memory for the in-memory cache.
      REWIND_CACHE_BYTES  = tostring(floor(var.memory_mb * 1024 * 1024 / 4))
      REWIND_CORS_ORIGINS = join(",", var.cors_origins)
    },
    length(var.playback_secrets) > 0 ? { REWIND_PLAYBACK_SECRETS = join(",", var.playback_secrets) } : {},
    nonsensitive(length(var.api_tokens)) > 0 ? { REWIND_API_TOKENS = join(",", var.api_tokens) } : {},
    length(var.webhook_allow) > 0 ? { REWIND_WEBHOOK_ALLOW = join(",", var.webhook_allow) } : {},
    var.environment,
  )
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days

  tags = var.tags
}

resource "aws_lambda_function" "this" {
  function_name    = var.name
  description      = "rewind vodapi: HLS playlists and the /v1 API"
  role             = aws_iam_role.this.arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = var.zip_path
  source_code_hash = filebase64sha256(var.zip_path)
  memory_size      = var.memory_mb
  timeout          = var.timeout_seconds

  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    variables = local.environment
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  tags = var.tags

  # The log group must exist (with its retention) before the first
  # invocation, and the role must carry its policy before the function runs.
  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.this,
  ]
}

# authorization_type NONE: the URL is public on purpose. CloudFront calls it
# as an ordinary HTTPS origin, and the API itself decides what is allowed:
# it verifies signed playback URLs when REWIND_PLAYBACK_SECRETS is set, and
# only writes clip jobs. AWS_IAM would need CloudFront origin access control
# for Lambda, which makes every POST carry a SHA-256 of its body
# (x-amz-content-sha256) computed by the viewer, which players and API
# clients do not send.
resource "aws_lambda_function_url" "this" {
  function_name      = aws_lambda_function.this.function_name
  authorization_type = "NONE"
  invoke_mode        = "BUFFERED"
}

# Function URLs created since October 2025 need two statements in the
# function's resource policy: lambda:InvokeFunctionUrl (added by
# aws_lambda_function_url itself when authorization_type is NONE) and
# lambda:InvokeFunction limited to calls through the URL
# (lambda:InvokedViaFunctionUrl). aws_lambda_permission only has
# invoked_via_function_url from AWS provider 6.29 on; under "~> 5.80" this
# small CloudFormation stack adds that statement. When the provider is
# upgraded, replace it with
#   resource "aws_lambda_permission" "url_invoke" {
#     action                   = "lambda:InvokeFunction"
#     principal                = "*"
#     invoked_via_function_url = true
#     ...
#   }
resource "aws_cloudformation_stack" "url_invoke_permission" {
  name = "${var.name}-url-invoke"

  template_body = jsonencode({
    AWSTemplateFormatVersion = "2010-09-09"
    Description              = "Lets the function URL of ${var.name} invoke the function"
    Resources = {
      InvokeViaFunctionUrl = {
        Type = "AWS::Lambda::Permission"
        Properties = {
          FunctionName          = aws_lambda_function.this.function_name
          Action                = "lambda:InvokeFunction"
          Principal             = "*"
          InvokedViaFunctionUrl = true
        }
      }
    }
  })

  tags = var.tags
}
