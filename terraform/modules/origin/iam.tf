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

# ------------------------------------------------------------- proxies
#
# The proxy tier faces the internet and parses untrusted RTMP, so its role
# is the narrowest that works: it reads the node registry and writes its
# logs, and nothing else of the bucket (no recordings, no writes).

resource "aws_iam_role" "proxy" {
  count = var.proxy_enabled ? 1 : 0

  name               = local.proxy_name
  description        = "rewind proxy instances"
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

resource "aws_iam_instance_profile" "proxy" {
  count = var.proxy_enabled ? 1 : 0

  name = local.proxy_name
  role = aws_iam_role.proxy[0].name

  tags = var.tags
}

data "aws_iam_policy_document" "proxy" {
  count = var.proxy_enabled ? 1 : 0

  # The heartbeats of the origin nodes, read after listing them.
  statement {
    sid       = "ReadNodeRegistry"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/nodes/*"]
  }

  # The proxy lists exactly nodes/ (with delimiter /) and GETs only keys it
  # has just listed, so it needs no 404 for keys that never existed: unlike
  # the other roles (see ListRecordings above) its listing can be narrowed
  # to the registry, and key names of recordings and clips stay hidden from
  # it. The cost: a heartbeat deleted between the LIST and the GET (a node
  # stopping cleanly) answers 403 rather than 404, which the directory
  # counts as a failed read of that one document and drops at the next
  # refresh (the LIST no longer has it).
  statement {
    sid       = "ListNodeRegistry"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringEquals"
      variable = "s3:prefix"
      values   = ["nodes/"]
    }
  }

  # rewind-drain completes the termination lifecycle action of the proxy
  # group once the proxy has stopped.
  statement {
    sid    = "CompleteTerminationLifecycle"
    effect = "Allow"
    actions = [
      "autoscaling:CompleteLifecycleAction",
      "autoscaling:RecordLifecycleActionHeartbeat",
    ]
    resources = [
      "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.proxy_asg_name}",
    ]
  }

  # The Docker awslogs driver writes the container's output.
  statement {
    sid       = "WriteLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.proxy[0].arn}:*"]
  }

  # AmazonSSMManagedInstanceCore (Session Manager, below) also allows
  # ssm:GetParameter* on every parameter, which would let a proxy read the
  # publish and playback secrets (aws/ssm-encrypted parameters decrypt for
  # any principal of the account allowed to get them). Proxies need no
  # parameter: deny them all.
  statement {
    sid    = "NoParameters"
    effect = "Deny"
    actions = [
      "ssm:GetParameter",
      "ssm:GetParameters",
      "ssm:GetParametersByPath",
      "ssm:GetParameterHistory",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "proxy" {
  count = var.proxy_enabled ? 1 : 0

  name   = "${local.proxy_name}-access"
  role   = aws_iam_role.proxy[0].id
  policy = data.aws_iam_policy_document.proxy[0].json
}

# Pull the image from ECR.
resource "aws_iam_role_policy_attachment" "proxy_ecr_read" {
  count = var.proxy_enabled ? 1 : 0

  role       = aws_iam_role.proxy[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
}

# Session Manager instead of SSH: no key pairs, no port 22.
resource "aws_iam_role_policy_attachment" "proxy_ssm_core" {
  count = var.proxy_enabled ? 1 : 0

  role       = aws_iam_role.proxy[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}
