data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "Ec2Assume"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  description        = "rewind origin instances"
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

resource "aws_iam_instance_profile" "this" {
  name = var.name
  role = aws_iam_role.this.name

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  # Segments, indexes and run documents; reads them back when it recovers a
  # run after a crash. Multipart uploads of large objects may be aborted.
  statement {
    sid       = "WriteRecordings"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
    resources = ["${var.bucket_arn}/streams/*"]
  }

  # The node registry: each node writes and, on a clean stop, deletes its
  # own heartbeat, and reads the others' (for node-to-node pulls).
  statement {
    sid       = "NodeRegistry"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = ["${var.bucket_arn}/nodes/*"]
  }

  # Without ListBucket S3 answers 403 instead of 404 for a missing key, and
  # the store maps only 404 to "not found" (a missing segment must fail a
  # clip at once, a missing playlist must be a 404). S3 decides that 404
  # with the GetObject request, which has no s3:prefix, so a prefix
  # condition here would bring the 403s back: the grant is the bucket's
  # key listing, unconditioned; object reads stay limited above.
  statement {
    sid       = "ListRecordings"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
  }

  # The publish and playback secrets (read once at boot by the user data).
  # The parameters use the AWS managed aws/ssm key: no kms:Decrypt grant
  # needed.
  statement {
    sid     = "ReadSecrets"
    effect  = "Allow"
    actions = ["ssm:GetParameter"]
    resources = [
      local.publish_secrets_parameter_arn,
      local.playback_secrets_parameter_arn,
    ]
  }

  # rewind-drain completes the termination lifecycle action of its own
  # group once the origin has stopped.
  statement {
    sid    = "CompleteTerminationLifecycle"
    effect = "Allow"
    actions = [
      "autoscaling:CompleteLifecycleAction",
      "autoscaling:RecordLifecycleActionHeartbeat",
    ]
    resources = [
      "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.asg_name}",
    ]
  }

  # The Docker awslogs driver writes the container's output.
  statement {
    sid       = "WriteLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-access"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# Pull the image from ECR.
resource "aws_iam_role_policy_attachment" "ecr_read" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
}

# Session Manager instead of SSH: no key pairs, no port 22.
resource "aws_iam_role_policy_attachment" "ssm_core" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}
