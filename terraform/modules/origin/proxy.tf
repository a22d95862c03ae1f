# The proxy tier: stateless `rewind proxy` instances behind the public
# load balancer. They route each publish and play by stream name to an
# origin node found in the node registry ({bucket}/nodes/*), so the
# origins need not be reachable from anywhere else. Everything here is
# counted on proxy_enabled.

data "aws_ec2_instance_type" "proxy" {
  count = var.proxy_enabled ? 1 : 0

  instance_type = var.proxy_instance_type
}

locals {
  proxy_name                = "${var.name}-proxy"
  proxy_asg_name            = local.proxy_name
  proxy_lifecycle_hook_name = "${local.proxy_name}-drain"
  proxy_log_group_name      = "/ec2/${local.proxy_name}"

  # On SIGTERM the proxy takes no new sessions and lets the relayed ones go
  # on for the drain timeout, then exits; no spool to empty.
  proxy_stop_timeout_seconds = var.proxy_drain_timeout_seconds + 30
  proxy_hook_timeout_seconds = var.proxy_drain_timeout_seconds + 120
  # Before the lifecycle hook, the group takes the instance out of the
  # target groups and waits until its connections end or this passes.
  proxy_deregistration_delay_seconds = var.proxy_drain_timeout_seconds

  proxy_user_data = templatefile("${path.module}/proxy_user_data.sh.tftpl", {
    image                 = var.image
    bucket_name           = var.bucket_name
    log_group_name        = local.proxy_log_group_name
    rtmp_port             = var.rtmp_port
    http_port             = var.http_port
    drain_timeout_seconds = var.proxy_drain_timeout_seconds
    stop_timeout_seconds  = local.proxy_stop_timeout_seconds
    environment           = var.proxy_environment
    asg_name              = local.proxy_asg_name
    lifecycle_hook_name   = local.proxy_lifecycle_hook_name
  })
}

resource "aws_cloudwatch_log_group" "proxy" {
  count = var.proxy_enabled ? 1 : 0

  name              = local.proxy_log_group_name
  retention_in_days = var.log_retention_days

  tags = var.tags
}

# ----------------------------------------------------------- network

resource "aws_security_group" "proxy" {
  count = var.proxy_enabled ? 1 : 0

  name_prefix = "${local.proxy_name}-"
  description = "${var.name}: rewind proxy instances"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = local.proxy_name })

  lifecycle {
    create_before_destroy = true
  }
}

# Publishers and players through the load balancer (client addresses are
# kept), and its health checks from the VPC on the HTTP port.
resource "aws_vpc_security_group_ingress_rule" "proxy" {
  for_each = var.proxy_enabled ? local.public_ingress : {}

  security_group_id = aws_security_group.proxy[0].id
  description       = each.value.what
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr

  tags = var.tags
}

# Out: the origins' RTMP and HTTP ports, and HTTPS for S3, ECR, CloudWatch
# Logs, SSM, the Auto Scaling API and the packages of the first boot (DNS
# and the time service are link-local, outside security groups). Nothing
# else: a compromised proxy cannot reach the rest of the VPC.
resource "aws_vpc_security_group_egress_rule" "proxy_to_origins" {
  for_each = var.proxy_enabled ? { rtmp = var.rtmp_port, http = var.http_port } : {}

  security_group_id            = aws_security_group.proxy[0].id
  description                  = "${upper(each.key)} to the origin nodes"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.this.id

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "proxy_https_ipv4" {
  count = var.proxy_enabled ? 1 : 0

  security_group_id = aws_security_group.proxy[0].id
  description       = "HTTPS out (AWS APIs, packages)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "proxy_https_ipv6" {
  count = var.proxy_enabled ? 1 : 0

  security_group_id = aws_security_group.proxy[0].id
  description       = "HTTPS out over IPv6 (AWS APIs, packages)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv6         = "::/0"

  tags = var.tags
}

# --------------------------------------------------------- instances

resource "aws_launch_template" "proxy" {
  count = var.proxy_enabled ? 1 : 0

  name_prefix            = "${local.proxy_name}-"
  description            = "rewind proxy on Amazon Linux 2023"
  image_id               = data.aws_ssm_parameter.ami.insecure_value
  instance_type          = var.proxy_instance_type
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.proxy[0].id]
  user_data              = base64encode(local.proxy_user_data)

  iam_instance_profile {
    arn = aws_iam_instance_profile.proxy[0].arn
  }

  # IMDSv2 only, as on the origins.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
    instance_metadata_tags      = "disabled"
  }

  # No spool: a proxy keeps nothing on disk but the image and its logs.
  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.root_volume_gib
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = local.proxy_name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = local.proxy_name })
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = contains(data.aws_ec2_instance_type.proxy[0].supported_architectures, var.architecture)
      error_message = "proxy_instance_type does not support the chosen architecture (for example c7g.* is arm64, c7i.* is x86_64)."
    }
  }
}

resource "aws_autoscaling_group" "proxy" {
  count = var.proxy_enabled ? 1 : 0

  name                = local.proxy_asg_name
  min_size            = var.proxy_min_size
  max_size            = var.proxy_max_size
  desired_capacity    = var.proxy_desired_capacity
  vpc_zone_identifier = var.subnet_ids
  target_group_arns   = [for tg in aws_lb_target_group.this : tg.arn]

  # The target groups check /readyz, which also fails when no origin is
  # alive or the registry cannot be read: replacing proxies then would
  # only churn them all. The group goes by the instance's health; Docker
  # restarts a proxy process that dies.
  health_check_type         = "EC2"
  health_check_grace_period = 120

  launch_template {
    id      = aws_launch_template.proxy[0].id
    version = aws_launch_template.proxy[0].latest_version
  }

  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = local.proxy_name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false
    }
  }

  depends_on = [aws_cloudwatch_log_group.proxy, aws_iam_role_policy.proxy]

  lifecycle {
    precondition {
      condition     = var.proxy_min_size <= var.proxy_desired_capacity && var.proxy_desired_capacity <= var.proxy_max_size
      error_message = "Need proxy_min_size <= proxy_desired_capacity <= proxy_max_size."
    }
  }
}

# As for the origins: a terminating proxy waits in Terminating:Wait until
# rewind-drain (see its user data) has stopped it with SIGTERM (no new
# sessions, relayed ones go on for proxy_drain_timeout_seconds) and
# completed the action, or until this timeout.
resource "aws_autoscaling_lifecycle_hook" "proxy_drain" {
  count = var.proxy_enabled ? 1 : 0

  name                   = local.proxy_lifecycle_hook_name
  autoscaling_group_name = aws_autoscaling_group.proxy[0].name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = local.proxy_hook_timeout_seconds
  default_result         = "CONTINUE"
}
