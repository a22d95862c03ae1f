# Plans and applies the example environment against a mocked AWS provider
# (terraform test, no account needed): the modules wire together without
# cycles, conditional resources come and go with their variables, and the
# validations refuse what they should. The Lambda zip must exist: run
# `make lambda` first (the Go test in terraform/ provides one).
#
#   cd terraform/envs/example && terraform init -backend=false && terraform test

mock_provider "aws" {
  mock_resource "aws_lb" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/x/1", dns_name = "nlb.example" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/1" }
  }
  mock_resource "aws_iam_instance_profile" {
    defaults = { arn = "arn:aws:iam::123456789012:instance-profile/x" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/x" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-1:123456789012:q", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/q" }
  }
  mock_resource "aws_cloudfront_distribution" {
    defaults = { arn = "arn:aws:cloudfront::123456789012:distribution/X", domain_name = "d123.cloudfront.net" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::b", bucket_regional_domain_name = "b.s3.eu-west-1.amazonaws.com" }
  }
  mock_resource "aws_ssm_parameter" {
    defaults = { arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/x" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:x" }
  }
  mock_resource "aws_appautoscaling_policy" {
    defaults = { arn = "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:x" }
  }
  mock_resource "aws_launch_template" {
    defaults = { latest_version = 3, id = "lt-0123456789abcdef0" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:x" }
  }
  mock_resource "aws_lambda_function_url" {
    defaults = { function_url = "https://abc123.lambda-url.eu-west-1.on.aws/" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/x:1" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/x" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/x" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_ssm_parameter" {
    defaults = { insecure_value = "ami-12345678" }
  }
  mock_data "aws_ec2_instance_type" {
    defaults = { supported_architectures = ["arm64"] }
  }
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.0.0.0/16" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
}

variables {
  region             = "eu-west-1"
  bucket_name        = "rewind-test-bucket"
  vpc_id             = "vpc-0123456789abcdef0"
  public_subnet_ids  = ["subnet-a", "subnet-b"]
  private_subnet_ids = ["subnet-c", "subnet-d"]
  image_tag          = "v1"
}

run "plan" {
  command = plan

  assert {
    condition     = length(module.origin.lifecycle_hook_name) > 0 && module.vodapi.function_name == "rewind-vodapi"
    error_message = "the origin drain hook or the vodapi function is missing from the plan"
  }
  assert {
    condition     = module.origin.proxy_asg_name == "rewind-origin-proxy" && module.origin.proxy_lifecycle_hook_name == "rewind-origin-proxy-drain"
    error_message = "the proxy tier (its group and its drain hook) is missing from the plan"
  }
}

run "wired" {
  command = apply

  assert {
    condition     = output.cdn_url == "https://d123.cloudfront.net"
    error_message = "cdn_url is not the distribution's domain"
  }
  assert {
    condition     = output.rtmp_url == "rtmp://nlb.example:1935/"
    error_message = "rtmp_url is not the load balancer's RTMP listener"
  }
  assert {
    condition     = output.origin_http_url == "http://nlb.example/"
    error_message = "origin_http_url is not the load balancer's HTTP listener"
  }
  assert {
    condition     = output.jobs_queue_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/q"
    error_message = "the jobs queue URL is not the editor module's queue"
  }
  assert {
    condition     = module.vodapi.function_url_domain == "abc123.lambda-url.eu-west-1.on.aws"
    error_message = "the CDN's API origin must be the function URL's host, without scheme or slash"
  }
}

run "secrets_and_aliases" {
  command = apply

  variables {
    publish_secrets      = ["a", "b"]
    playback_secrets     = ["p"]
    webhook_secret       = "w"
    cors_allowed_origins = ["https://a.example", "https://b.example"]
    cdn_aliases          = ["video.example.com"]
    cdn_certificate_arn  = "arn:aws:acm:us-east-1:123456789012:certificate/x"
  }

  assert {
    condition     = output.cdn_url == "https://video.example.com"
    error_message = "cdn_url must use the first alias"
  }
}

run "name_too_long" {
  command = plan

  variables {
    name = "a-name-far-too-long-for-load-balancers"
  }

  expect_failures = [var.name]
}

run "unknown_architecture" {
  command = plan

  variables {
    architecture = "riscv64"
  }

  expect_failures = [var.architecture]
}
