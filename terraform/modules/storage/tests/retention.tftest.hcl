# Plans the storage module alone against a mocked AWS provider (terraform
# test, no account needed): one lifecycle expiration rule per app of
# app_retention_days under the key prefix, beside the streams/ and clips/
# rules; bad app names, bad days and a rule that could never apply are
# refused.
#
#   cd terraform/modules/storage && terraform init -backend=false && terraform test

mock_provider "aws" {
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::b", id = "b", bucket_regional_domain_name = "b.s3.eu-west-1.amazonaws.com" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  name        = "rewind-test"
  bucket_name = "rewind-test-bucket"
}

run "one_rule_per_app" {
  command = plan

  variables {
    key_prefix          = "rec/"
    streams_expire_days = 30
    app_retention_days  = { live = 30, news = 7 }
  }

  assert {
    condition     = length([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if startswith(r.id, "expire-app-")]) == 2
    error_message = "want one expiration rule per app"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-app-live"]).filter[0].prefix == "rec/streams/live/"
    error_message = "the live rule must cover rec/streams/live/"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-app-live"]).expiration[0].days == 30
    error_message = "the live rule must expire after 30 days"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-app-news"]).filter[0].prefix == "rec/streams/news/"
    error_message = "the news rule must cover rec/streams/news/"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-app-news"]).expiration[0].days == 7
    error_message = "the news rule must expire after 7 days"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-streams"]).filter[0].prefix == "rec/streams/"
    error_message = "the streams rule must follow the key prefix"
  }
}

run "no_apps_no_app_rules" {
  command = plan

  assert {
    condition     = length([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if startswith(r.id, "expire-app-")]) == 0
    error_message = "no app rule without app_retention_days"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-streams"]).filter[0].prefix == "streams/"
    error_message = "the streams rule must cover streams/ without a key prefix"
  }
}

run "longer_than_streams_rule_with_streams_forever" {
  command = plan

  variables {
    streams_expire_days = 0
    app_retention_days  = { archive = 3650 }
  }

  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-app-archive"]).expiration[0].days == 3650
    error_message = "the archive rule must expire after 3650 days"
  }
}

run "bad_app_name" {
  command = plan

  variables {
    app_retention_days = { "a/b" = 7 }
  }

  expect_failures = [var.app_retention_days]
}

run "bad_days" {
  command = plan

  variables {
    app_retention_days = { live = 0.5 }
  }

  expect_failures = [var.app_retention_days]
}

run "bad_prefix" {
  command = plan

  variables {
    key_prefix = "rec"
  }

  expect_failures = [var.key_prefix]
}

run "app_rule_that_never_applies" {
  command = plan

  variables {
    streams_expire_days = 30
    app_retention_days  = { live = 90 }
  }

  expect_failures = [aws_s3_bucket_lifecycle_configuration.this]
}
