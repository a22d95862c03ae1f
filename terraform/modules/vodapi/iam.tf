data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "LambdaAssume"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  description        = "rewind vodapi Lambda function"
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "WriteLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid       = "ReadRecordingsAndClips"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/streams/*", "${var.bucket_arn}/clips/*"]
  }

  # Without ListBucket S3 answers 403 instead of 404 for a missing key, and
  # the store maps only 404 to "not found" (a missing segment must fail a
  # clip at once, a missing playlist must be a 404). S3 decides that 404
  # with the GetObject request, which has no s3:prefix, so a prefix
  # condition here would bring the 403s back: the grant is the bucket's
  # key listing, unconditioned; object reads stay limited above.
  # The API also lists runs and index chunks.
  statement {
    sid       = "ListRecordingsAndClips"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
  }

  # POST /v1/clips writes the job document (and removes it when the job
  # cannot be queued).
  statement {
    sid       = "WriteClipJobDocuments"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.bucket_arn}/clips/*/job.json"]
  }

  # Playlist fragments stored beside a run's index chunks
  # (streams/{app}/{name}/{run}/frag/*.frag): rendered and compressed once,
  # read by every later invocation. Put only: they go with their run, which
  # this role never deletes. Nothing else is written.
  statement {
    sid       = "WritePlaylistFragments"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${var.bucket_arn}/streams/*/frag/*.frag"]
  }

  statement {
    sid       = "QueueClipJobs"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [var.jobs_queue_arn]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-access"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}
