terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }

  # Keep the state in S3 for anything shared. Create the state bucket first
  # (versioned, encrypted), then uncomment and run `terraform init -migrate-state`.
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "rewind/example/terraform.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}
