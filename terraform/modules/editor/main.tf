data "aws_region" "current" {}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  # Known at plan time and reveals only whether a secret was given.
  webhook_secret_set = nonsensitive(var.webhook_secret != "")

  # Built from the name, not from the (counted) resource, so the IAM policy
  # document below does not depend on whether the parameter exists.
  webhook_secret_parameter_name = "/${var.name}/webhook-secret"
  webhook_secret_parameter_arn  = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.webhook_secret_parameter_name}"

  http_port = 8082

  environment = merge(
    {
      REWIND_STORE               = "s3://${var.bucket_name}"
      REWIND_S3_REGION           = local.region
      REWIND_JOBS                = aws_sqs_queue.jobs.url
      REWIND_EDITOR_CONCURRENCY  = tostring(var.concurrency)
      REWIND_EDITOR_LEASE        = "${var.lease_seconds}s"
      REWIND_EDITOR_MAX_ATTEMPTS = tostring(var.max_attempts)
      # Fargate ephemeral storage backs the container's file system.
      REWIND_EDITOR_WORK_DIR = "/tmp"
      REWIND_LOG_FORMAT      = "json"
    },
    var.public_url != "" ? { REWIND_PUBLIC_URL = var.public_url } : {},
    var.environment,
  )

  secrets = local.webhook_secret_set ? [
    {
      name      = "REWIND_WEBHOOK_SECRET"
      valueFrom = aws_ssm_parameter.webhook_secret[0].arn
    },
  ] : []
}

# ---------------------------------------------------------------- job queue

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-jobs-dlq"
  message_retention_seconds = var.dlq_retention_seconds
  sqs_managed_sse_enabled   = true

  tags = var.tags
}

resource "aws_sqs_queue" "jobs" {
  name                       = "${var.name}-jobs"
  visibility_timeout_seconds = var.lease_seconds
  message_retention_seconds  = var.message_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  # The editor gives up after max_attempts and records the failure in the
  # job; the dead-letter queue only catches messages that keep coming back
  # beyond that (crashes, poison messages).
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.max_receive_count > var.max_attempts
      error_message = "max_receive_count must be greater than max_attempts, or SQS dead-letters jobs before the editor records their failure."
    }
  }
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.jobs.arn]
  })
}

# Both queues refuse plain HTTP.
data "aws_iam_policy_document" "queue_tls" {
  for_each = { jobs = aws_sqs_queue.jobs.arn, dlq = aws_sqs_queue.dlq.arn }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value]

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
}

resource "aws_sqs_queue_policy" "tls" {
  for_each = { jobs = aws_sqs_queue.jobs.id, dlq = aws_sqs_queue.dlq.id }

  queue_url = each.value
  policy    = data.aws_iam_policy_document.queue_tls[each.key].json
}

# ------------------------------------------------------------------- secret

resource "aws_ssm_parameter" "webhook_secret" {
  count = local.webhook_secret_set ? 1 : 0

  name        = local.webhook_secret_parameter_name
  description = "${var.name}: secret that signs clip webhooks"
  type        = "SecureString"
  value       = var.webhook_secret

  tags = var.tags
}

# ------------------------------------------------------------------ service

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days

  tags = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  ephemeral_storage {
    size_in_gib = var.ephemeral_storage_gib
  }

  container_definitions = jsonencode([
    {
      name      = "editor"
      image     = var.image
      essential = true
      command   = ["editor", "--http-addr", "0.0.0.0:${local.http_port}"]

      environment = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
      secrets     = local.secrets

      portMappings = [
        {
          containerPort = local.http_port
          protocol      = "tcp"
        },
      ]

      # On SIGTERM the editor hands its running jobs back to the queue at
      # once; the margin is for that and for flushing logs.
      stopTimeout = 120

      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "editor"
        }
      }
    },
  ])

  tags = var.tags
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-"
  description = "${var.name}: clip editor tasks"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = var.name })

  lifecycle {
    create_before_destroy = true
  }
}

# Metrics and health only, and only from the given networks. The editor
# takes its work from SQS, so nothing else needs to reach it.
resource "aws_vpc_security_group_ingress_rule" "metrics" {
  for_each = toset(var.metrics_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "editor /healthz and /metrics"
  ip_protocol       = "tcp"
  from_port         = local.http_port
  to_port           = local.http_port
  cidr_ipv4         = each.value

  tags = var.tags
}

# S3, SQS, ECR, CloudWatch Logs, SSM and clip webhooks anywhere.
resource "aws_vpc_security_group_egress_rule" "all_ipv4" {
  security_group_id = aws_security_group.this.id
  description       = "all outbound IPv4"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "all_ipv6" {
  security_group_id = aws_security_group.this.id
  description       = "all outbound IPv6"
  ip_protocol       = "-1"
  cidr_ipv6         = "::/0"

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  name                               = var.name
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this.arn
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  desired_count                      = var.min_tasks
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = var.assign_public_ip
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  tags = var.tags

  # Tasks must not start before their roles can do their work.
  depends_on = [
    aws_iam_role_policy_attachment.execution,
    aws_iam_role_policy.execution_secrets,
    aws_iam_role_policy.task,
  ]

  lifecycle {
    # Application Auto Scaling owns the task count after creation.
    ignore_changes = [desired_count]
  }
}
