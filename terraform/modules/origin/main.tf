data "aws_region" "current" {}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

data "aws_vpc" "this" {
  id = var.vpc_id
}

# Latest Amazon Linux 2023 for the chosen architecture.
data "aws_ssm_parameter" "ami" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${var.architecture}"
}

data "aws_ec2_instance_type" "this" {
  instance_type = var.instance_type
}

locals {
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  asg_name            = var.name
  lifecycle_hook_name = "${var.name}-drain"
  log_group_name      = "/ec2/${var.name}"

  # Known at plan time and reveals only whether secrets were given.
  publish_secrets_set = nonsensitive(length(var.publish_secrets) > 0)

  # Built from the name, not from the (counted) resource, so the IAM policy
  # does not depend on whether the parameter exists.
  publish_secrets_parameter_name = "/${var.name}/publish-secrets"
  publish_secrets_parameter_arn  = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.publish_secrets_parameter_name}"

  playback_secrets_set            = nonsensitive(length(var.playback_secrets) > 0)
  playback_secrets_parameter_name = "/${var.name}/playback-secrets"
  playback_secrets_parameter_arn  = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.playback_secrets_parameter_name}"

  # New segments are dropped past this, before the volume is full.
  spool_limit_bytes = floor(var.spool_volume_gib * 1024 * 1024 * 1024 * 0.9)

  # Load balancer ports: what it listens on, and the instance port behind.
  listeners = {
    rtmp = { listen_port = var.rtmp_port, target_port = var.rtmp_port }
    http = { listen_port = 80, target_port = var.http_port }
  }

  # A clean stop: publishers drain (drain), then the spool uploads (drain),
  # plus a margin. docker stop waits this long before SIGKILL.
  stop_timeout_seconds = 2 * var.drain_timeout_seconds + 30
  # The lifecycle hook must outlast the stop and the API calls around it.
  hook_timeout_seconds = 2 * var.drain_timeout_seconds + 120
  # The load balancer keeps existing connections this long after an instance
  # leaves its target groups.
  deregistration_delay_seconds = 2 * var.drain_timeout_seconds + 30

  # Ingress of the tier behind the load balancer (the proxies, or the
  # origins with proxy_enabled = false): RTMP and HTTP from the allowed
  # networks (the load balancer preserves client addresses), HTTP from the
  # VPC (load balancer health checks come from its private addresses).
  public_ingress = merge(
    { for cidr in var.allowed_cidr_blocks : "rtmp ${cidr}" => { port = var.rtmp_port, cidr = cidr, what = "RTMP publish and play" } },
    { for cidr in distinct(concat(var.allowed_cidr_blocks, [data.aws_vpc.this.cidr_block])) : "http ${cidr}" => { port = var.http_port, cidr = cidr, what = "HTTP (health checks, HTTP-FLV)" } },
  )

  # The load balancer's target groups: the proxies, or the origins.
  nlb_tier = var.proxy_enabled ? "proxy" : "origin"
  target_group_health_path = {
    # Ready: has read the node registry, knows an alive origin and is not
    # draining. A proxy that cannot route gets no new connections.
    proxy = "/readyz"
    # As before the proxy tier: the origin process answers.
    origin = "/healthz"
  }
  target_group_deregistration_delay = {
    proxy  = local.proxy_deregistration_delay_seconds
    origin = local.deregistration_delay_seconds
  }

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    image                      = var.image
    bucket_name                = var.bucket_name
    log_group_name             = local.log_group_name
    rtmp_port                  = var.rtmp_port
    http_port                  = var.http_port
    drain_timeout_seconds      = var.drain_timeout_seconds
    stop_timeout_seconds       = local.stop_timeout_seconds
    segment_duration           = var.segment_duration
    publish_secrets_parameter  = local.publish_secrets_set ? local.publish_secrets_parameter_name : ""
    playback_secrets_parameter = local.playback_secrets_set ? local.playback_secrets_parameter_name : ""
    spool_limit_bytes          = local.spool_limit_bytes
    publish_hook_url           = var.publish_hook_url
    environment                = var.environment
    asg_name                   = local.asg_name
    lifecycle_hook_name        = local.lifecycle_hook_name
  })
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days

  tags = var.tags
}

resource "aws_ssm_parameter" "publish_secrets" {
  count = local.publish_secrets_set ? 1 : 0

  name        = local.publish_secrets_parameter_name
  description = "${var.name}: secrets that sign publish URLs (comma-separated, newest first)"
  type        = "SecureString"
  value       = join(",", var.publish_secrets)

  tags = var.tags
}

resource "aws_ssm_parameter" "playback_secrets" {
  count = local.playback_secrets_set ? 1 : 0

  name        = local.playback_secrets_parameter_name
  description = "${var.name}: secrets that sign live playback URLs (comma-separated, newest first)"
  type        = "SecureString"
  value       = join(",", var.playback_secrets)

  tags = var.tags
}

# ----------------------------------------------------------- network

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-"
  description = "${var.name}: rewind origin instances"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = var.name })

  lifecycle {
    create_before_destroy = true
  }
}

# With the proxy tier, origins take RTMP and HTTP only from the proxies,
# and HTTP from each other (node-to-node pull is HTTP-FLV); nothing from
# the internet and nothing from the load balancer, which no longer targets
# them.
resource "aws_vpc_security_group_ingress_rule" "from_proxies" {
  for_each = var.proxy_enabled ? { rtmp = var.rtmp_port, http = var.http_port } : {}

  security_group_id            = aws_security_group.this.id
  description                  = "${upper(each.key)} from the rewind proxies"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.proxy[0].id

  tags = var.tags
}

# Node-to-node pull: a node asked for a stream live on another node plays
# it from that node's HTTP port (HTTP-FLV).
resource "aws_vpc_security_group_ingress_rule" "from_origins" {
  security_group_id            = aws_security_group.this.id
  description                  = "HTTP-FLV pull between origin nodes"
  ip_protocol                  = "tcp"
  from_port                    = var.http_port
  to_port                      = var.http_port
  referenced_security_group_id = aws_security_group.this.id

  tags = var.tags
}

# Without the proxy tier (proxy_enabled = false) the load balancer sends
# publishers and players straight to the origins, as before it existed.
resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = var.proxy_enabled ? {} : local.public_ingress

  security_group_id = aws_security_group.this.id
  description       = each.value.what
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr

  tags = var.tags
}

# S3, ECR, CloudWatch Logs, SSM, the Auto Scaling API and publish hooks.
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

resource "aws_lb" "this" {
  name                             = var.name
  load_balancer_type               = "network"
  internal                         = var.internal
  subnets                          = var.nlb_subnet_ids
  enable_cross_zone_load_balancing = true

  tags = var.tags
}

# One target group and listener per port: RTMP, and HTTP (HTTP-FLV live play,
# /healthz) listened on 80. Their targets are the proxy instances (the
# origins with proxy_enabled = false). Both check health over HTTP on the
# HTTP port, since the RTMP port answers for a healthy process only there:
# /readyz on proxies, /healthz on origins (see local.target_group_health_path).
resource "aws_lb_target_group" "this" {
  for_each = local.listeners

  name                 = "${var.name}-${each.key}"
  port                 = each.value.target_port
  protocol             = "TCP"
  vpc_id               = var.vpc_id
  target_type          = "instance"
  preserve_client_ip   = "true"
  deregistration_delay = local.target_group_deregistration_delay[local.nlb_tier]

  health_check {
    protocol            = "HTTP"
    port                = tostring(var.http_port)
    path                = local.target_group_health_path[local.nlb_tier]
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  # A proxy that turns unready (the registry unreadable for a while, or no
  # alive origin) gets no new connections, but the sessions it relays go
  # on: the load balancer would otherwise reset them. They get an hour;
  # a proxy that is ready again meanwhile takes new ones again.
  dynamic "target_health_state" {
    for_each = var.proxy_enabled ? [1] : []
    content {
      enable_unhealthy_connection_termination = false
      unhealthy_draining_interval             = 3600
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "this" {
  for_each = local.listeners

  load_balancer_arn = aws_lb.this.arn
  port              = each.value.listen_port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[each.key].arn
  }

  tags = var.tags
}

# --------------------------------------------------------- instances

resource "aws_launch_template" "this" {
  name_prefix            = "${var.name}-"
  description            = "rewind origin on Amazon Linux 2023"
  image_id               = data.aws_ssm_parameter.ami.insecure_value
  instance_type          = var.instance_type
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.this.id]
  user_data              = base64encode(local.user_data)

  iam_instance_profile {
    arn = aws_iam_instance_profile.this.arn
  }

  # IMDSv2 only; hop limit 2 so a container on a bridge network could reach
  # it too (the origin runs with --network host).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.root_volume_gib
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  # The spool: segments wait here until they are in S3. A volume of its own
  # so that a full spool cannot fill the root file system.
  block_device_mappings {
    device_name = "/dev/sdf"

    ebs {
      volume_size           = var.spool_volume_gib
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = var.name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = var.name })
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = contains(data.aws_ec2_instance_type.this.supported_architectures, var.architecture)
      error_message = "instance_type does not support the chosen architecture (for example c7g.* is arm64, c7i.* is x86_64)."
    }
  }
}

resource "aws_autoscaling_group" "this" {
  name                = local.asg_name
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_capacity
  vpc_zone_identifier = var.subnet_ids
  # With the proxy tier the load balancer targets the proxies, not the
  # origins: no target group here, and health is the instance's (a hung
  # origin stops its heartbeat, and the proxies route around it).
  target_group_arns         = var.proxy_enabled ? [] : [for tg in aws_lb_target_group.this : tg.arn]
  health_check_type         = var.proxy_enabled ? "EC2" : "ELB"
  health_check_grace_period = 180

  # The launch template's version number (not "$Latest") so that a new
  # version (new image tag, new AMI) changes the group and starts the
  # instance refresh below.
  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = var.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false
    }
  }

  # Instances must be able to log and to use their role as soon as they boot.
  # After the proxies: when a deployment moves to the proxy tier, the
  # origins leave the target groups only once the proxy group is in service.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this, aws_autoscaling_group.proxy]

  lifecycle {
    precondition {
      condition     = var.min_size <= var.desired_capacity && var.desired_capacity <= var.max_size
      error_message = "Need min_size <= desired_capacity <= max_size."
    }
  }
}

# Terminating instances wait in Terminating:Wait until rewind-drain (see the
# user data) has stopped the origin cleanly and completed the action, or
# until the heartbeat timeout runs out. A separate resource rather than
# initial_lifecycle_hook, which is only applied when the group is created:
# this one follows later changes of drain_timeout_seconds. A termination
# hook also covers instances launched before it existed.
resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = local.lifecycle_hook_name
  autoscaling_group_name = aws_autoscaling_group.this.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = local.hook_timeout_seconds
  default_result         = "CONTINUE"
}
