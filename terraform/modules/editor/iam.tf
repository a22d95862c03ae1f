data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    sid     = "EcsTasksAssume"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# ------------------------------------------------------- execution role
# Used by ECS itself: pull the image, create log streams, read the secret.

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  description        = "rewind editor: ECS task execution (image pull, logs, secrets)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  statement {
    sid       = "ReadWebhookSecret"
    effect    = "Allow"
    actions   = ["ssm:GetParameters"]
    resources = [local.webhook_secret_parameter_arn]
  }
}

# Only when a webhook secret is set. The parameter uses the AWS managed
# aws/ssm key, which needs no kms:Decrypt grant here.
resource "aws_iam_role_policy" "execution_secrets" {
  count = local.webhook_secret_set ? 1 : 0

  name   = "${var.name}-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secrets.json
}

# ------------------------------------------------------------- task role
# Used by the editor process: read segments, write clip outputs, consume jobs.

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "rewind editor: clip worker (S3 and the job queue)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "ReadRecordings"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/streams/*"]
  }

  # Job documents and clip outputs (clip.mp4, clip.ts, hls/*).
  statement {
    sid       = "ReadWriteClips"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${var.bucket_arn}/clips/*"]
  }

  # Without ListBucket S3 answers 403 instead of 404 for a missing key, and
  # the store maps only 404 to "not found" (a missing segment must fail a
  # clip at once, a missing playlist must be a 404). S3 decides that 404
  # with the GetObject request, which has no s3:prefix, so a prefix
  # condition here would bring the 403s back: the grant is the bucket's
  # key listing, unconditioned; object reads stay limited above.
  statement {
    sid       = "ListRecordingsAndClips"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
  }

  statement {
    sid    = "ConsumeClipJobs"
    effect = "Allow"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = [aws_sqs_queue.jobs.arn]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "${var.name}-access"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
