# Example deployment of rewind: one bucket, a CDN in front of the vodapi
# Lambda and the bucket, the clip editor on Fargate and the RTMP origins on
# EC2 behind a proxy tier and a network load balancer. See ../../README.md
# for the order of apply.

locals {
  tags = var.tags

  # Same image, two repositories: the container command picks the role
  # (origin and proxy from the first, editor from the second).
  origin_image = "${aws_ecr_repository.origin.repository_url}:${var.image_tag}"
  editor_image = "${aws_ecr_repository.editor.repository_url}:${var.image_tag}"
}

# Created first (terraform apply -target=...) so the image can be pushed
# before the origins and the editor start.
resource "aws_ecr_repository" "origin" {
  name                 = "${var.name}-origin"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "AES256"
  }
}

resource "aws_ecr_repository" "editor" {
  name                 = "${var.name}-editor"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "AES256"
  }
}

module "storage" {
  source = "../../modules/storage"

  name                 = var.name
  tags                 = local.tags
  bucket_name          = var.bucket_name
  versioning           = var.versioning
  streams_expire_days  = var.streams_expire_days
  app_retention_days   = var.app_retention_days
  clips_expire_days    = var.clips_expire_days
  cors_allowed_origins = var.cors_allowed_origins

  # Not a cycle, although module "cdn" reads bucket_regional_domain_name from
  # this module: Terraform orders resources, not modules. The bucket comes
  # first, then the distribution, then the bucket policy that names it.
  cloudfront_distribution_arn = module.cdn.distribution_arn
}

module "vodapi" {
  source = "../../modules/vodapi"

  name             = "${var.name}-vodapi"
  tags             = local.tags
  bucket_name      = module.storage.bucket_name
  bucket_arn       = module.storage.bucket_arn
  zip_path         = var.lambda_zip
  jobs_queue_url   = module.editor.queue_url
  jobs_queue_arn   = module.editor.queue_arn
  cors_origins     = var.cors_allowed_origins
  playback_secrets = var.playback_secrets
}

module "cdn" {
  source = "../../modules/cdn"

  name                        = var.name
  tags                        = local.tags
  bucket_regional_domain_name = module.storage.bucket_regional_domain_name
  api_domain                  = module.vodapi.function_url_domain
  cors_allowed_origins        = var.cors_allowed_origins
  aliases                     = var.cdn_aliases
  acm_certificate_arn         = var.cdn_certificate_arn
}

module "editor" {
  source = "../../modules/editor"

  name             = "${var.name}-editor"
  tags             = local.tags
  bucket_name      = module.storage.bucket_name
  bucket_arn       = module.storage.bucket_arn
  image            = local.editor_image
  vpc_id           = var.vpc_id
  subnet_ids       = var.private_subnet_ids
  cpu_architecture = var.architecture == "arm64" ? "ARM64" : "X86_64"
  max_tasks        = var.editor_max_tasks
  webhook_secret   = var.webhook_secret
  alarm_actions    = var.editor_alarm_actions

  # Not a cycle either: the queue (read by vodapi) does not depend on this
  # URL, only the task definition does.
  public_url = module.cdn.url
}

module "origin" {
  source = "../../modules/origin"

  name                   = "${var.name}-origin"
  tags                   = local.tags
  bucket_name            = module.storage.bucket_name
  bucket_arn             = module.storage.bucket_arn
  image                  = local.origin_image
  vpc_id                 = var.vpc_id
  subnet_ids             = var.private_subnet_ids
  nlb_subnet_ids         = var.public_subnet_ids
  architecture           = var.architecture
  instance_type          = var.origin_instance_type
  desired_capacity       = var.origin_desired_capacity
  max_size               = var.origin_max_size
  proxy_instance_type    = var.proxy_instance_type
  proxy_desired_capacity = var.proxy_desired_capacity
  proxy_max_size         = var.proxy_max_size
  publish_secrets        = var.publish_secrets
  playback_secrets       = var.playback_secrets
  allowed_cidr_blocks    = var.publish_allowed_cidr_blocks
}
