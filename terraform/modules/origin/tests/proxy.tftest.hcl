# Plans and applies the origin module alone against a mocked AWS provider
# (terraform test, no account needed): the proxy tier is in the plan, the
# load balancer's target groups hold the proxies, the origins take
# connections only from the proxies and from each other, the proxy role
# reads the node registry and nothing else; with proxy_enabled = false the
# module is the one-tier layout it was before.
#
#   cd terraform/modules/origin && terraform init -backend=false && terraform test

mock_provider "aws" {
  mock_resource "aws_lb" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/x/1", dns_name = "nlb.example" }
  }
  mock_resource "aws_iam_instance_profile" {
    defaults = { arn = "arn:aws:iam::123456789012:instance-profile/x" }
  }
  mock_resource "aws_launch_template" {
    defaults = { latest_version = 3 }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_ssm_parameter" {
    defaults = { insecure_value = "ami-12345678" }
  }
  mock_data "aws_ec2_instance_type" {
    defaults = { supported_architectures = ["arm64"] }
  }
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.0.0.0/16" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
}

# One id per launch template and one ARN per target group, so that the assertions below tell them apart.
override_resource {
  target = aws_lb_target_group.this["rtmp"]
  values = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/rewind-origin-rtmp/1" }
}

override_resource {
  target = aws_lb_target_group.this["http"]
  values = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/rewind-origin-http/2" }
}

override_resource {
  target = aws_launch_template.this
  values = { id = "lt-0000000000000000a", latest_version = 3 }
}

override_resource {
  target = aws_launch_template.proxy[0]
  values = { id = "lt-0000000000000000b", latest_version = 3 }
}

variables {
  name           = "rewind-origin"
  bucket_name    = "rewind-test-bucket"
  bucket_arn     = "arn:aws:s3:::rewind-test-bucket"
  image          = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/rewind-origin:v1"
  vpc_id         = "vpc-0123456789abcdef0"
  subnet_ids     = ["subnet-c", "subnet-d"]
  nlb_subnet_ids = ["subnet-a", "subnet-b"]
}

run "plan_has_proxy_tier" {
  command = plan

  assert {
    condition     = length(aws_autoscaling_group.proxy) == 1 && length(aws_launch_template.proxy) == 1
    error_message = "the plan has no proxy Auto Scaling group or no proxy launch template"
  }
  assert {
    condition     = aws_autoscaling_group.proxy[0].name == "rewind-origin-proxy" && aws_autoscaling_group.proxy[0].desired_capacity == 2
    error_message = "the proxy group is not rewind-origin-proxy with 2 instances"
  }
  assert {
    condition     = length(aws_autoscaling_lifecycle_hook.proxy_drain) == 1 && aws_autoscaling_lifecycle_hook.proxy_drain[0].lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" && aws_autoscaling_lifecycle_hook.proxy_drain[0].heartbeat_timeout == 150
    error_message = "the proxies have no termination lifecycle hook outlasting their stop (drain 30 s + 120 s)"
  }
  assert {
    condition     = length(aws_autoscaling_lifecycle_hook.drain.name) > 0
    error_message = "the origins lost their drain hook"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.proxy[0].user_data), "\"$IMAGE\" proxy \\\n  --rtmp-addr 0.0.0.0:1935 \\\n  --http-addr 0.0.0.0:8080 \\\n  --store 's3://rewind-test-bucket' \\\n  --s3-region \"$REGION\" \\\n  --log-format json \\\n  --drain-timeout 30s")
    error_message = "the proxy user data does not run `<image> proxy` on 0.0.0.0 with the bucket, JSON logs and the drain timeout"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.proxy[0].user_data), "--network host") && strcontains(base64decode(aws_launch_template.proxy[0].user_data), "--log-driver awslogs") && strcontains(base64decode(aws_launch_template.proxy[0].user_data), "--lifecycle-hook-name 'rewind-origin-proxy-drain'")
    error_message = "the proxy user data lacks host networking, the awslogs driver or the drain of its own hook"
  }
  assert {
    condition     = !strcontains(base64decode(aws_launch_template.proxy[0].user_data), "ssm get-parameter") && !strcontains(base64decode(aws_launch_template.proxy[0].user_data), "SECRETS")
    error_message = "the proxy reads secrets: publish and play authorization stay on the origins"
  }
  assert {
    condition     = alltrue([for tg in aws_lb_target_group.this : tg.health_check[0].protocol == "HTTP" && tg.health_check[0].path == "/readyz" && tg.health_check[0].port == "8080"])
    error_message = "the load balancer's target groups must check the proxies' /readyz over HTTP"
  }
  assert {
    condition     = alltrue([for tg in aws_lb_target_group.this : length(tg.target_health_state) == 1 && tg.target_health_state[0].enable_unhealthy_connection_termination == false])
    error_message = "a proxy turning unready must not have its relayed sessions reset"
  }
  assert {
    condition     = aws_autoscaling_group.proxy[0].health_check_type == "EC2" && aws_autoscaling_group.this.health_check_type == "EC2"
    error_message = "the groups must go by instance health (/readyz fails cluster-wide when no origin is alive: no churn of proxies)"
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.this) == 0
    error_message = "with the proxy tier the origins take nothing from CIDR blocks"
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.from_proxies : r.from_port]) == toset([1935, 8080]) && alltrue([for r in aws_vpc_security_group_ingress_rule.from_proxies : r.to_port == r.from_port && r.cidr_ipv4 == null && r.cidr_ipv6 == null && r.prefix_list_id == null])
    error_message = "the origins must take RTMP and HTTP from the proxies' security group, and only from it"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.from_origins.from_port == 8080 && aws_vpc_security_group_ingress_rule.from_origins.to_port == 8080 && aws_vpc_security_group_ingress_rule.from_origins.cidr_ipv4 == null
    error_message = "origins take only HTTP (node-to-node pull) from each other"
  }
  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.proxy[0].statement : s.actions if s.effect == "Allow"])) == toset(["s3:GetObject", "s3:ListBucket", "autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "logs:CreateLogStream", "logs:PutLogEvents"])
    error_message = "the proxy role allows more (or less) than reading the node registry, its lifecycle action and its logs"
  }
}

run "proxy_tier_wired" {
  command = apply

  assert {
    condition     = aws_autoscaling_group.proxy[0].launch_template[0].id == aws_launch_template.proxy[0].id && aws_autoscaling_group.proxy[0].launch_template[0].version == "3"
    error_message = "the proxy group does not run the proxy launch template's latest version"
  }
  assert {
    condition     = aws_launch_template.proxy[0].iam_instance_profile[0].arn == aws_iam_instance_profile.proxy[0].arn && aws_iam_instance_profile.proxy[0].role == aws_iam_role.proxy[0].name && aws_iam_role_policy.proxy[0].role == aws_iam_role.proxy[0].id
    error_message = "the proxies do not run with their own role"
  }
  assert {
    condition     = aws_launch_template.proxy[0].vpc_security_group_ids == toset([aws_security_group.proxy[0].id]) && aws_security_group.proxy[0].id != aws_security_group.this.id
    error_message = "the proxies do not have a security group of their own"
  }
  assert {
    condition     = toset(aws_autoscaling_group.proxy[0].target_group_arns) == toset([for tg in aws_lb_target_group.this : tg.arn]) && length(aws_lb_target_group.this) == 2
    error_message = "the load balancer's target groups must hold the proxy group"
  }
  assert {
    condition     = length(aws_autoscaling_group.this.target_group_arns) == 0
    error_message = "the origins must not be behind the public load balancer any more"
  }
  assert {
    condition     = alltrue([for k, l in aws_lb_listener.this : l.default_action[0].type == "forward" && l.default_action[0].target_group_arn == aws_lb_target_group.this[k].arn]) && toset([for l in aws_lb_listener.this : l.port]) == toset([80, 1935])
    error_message = "the listeners (RTMP and 80) must forward to the proxy target groups"
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.from_proxies : r.security_group_id == aws_security_group.this.id && r.referenced_security_group_id == aws_security_group.proxy[0].id])
    error_message = "the origins' RTMP and HTTP rules must name the proxies' security group"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.from_origins.security_group_id == aws_security_group.this.id && aws_vpc_security_group_ingress_rule.from_origins.referenced_security_group_id == aws_security_group.this.id
    error_message = "node-to-node pull must be allowed from the origins' own security group"
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.proxy : r.security_group_id == aws_security_group.proxy[0].id]) && length(aws_vpc_security_group_ingress_rule.proxy) == 3
    error_message = "the proxies take RTMP and HTTP from allowed_cidr_blocks and HTTP from the VPC (health checks)"
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.proxy[0].statement : alltrue([for r in s.resources : !strcontains(r, "streams/") && !strcontains(r, "clips/")])])
    error_message = "the proxy role names recordings or clips"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.proxy[0].statement : s.resources if contains(s.actions, "s3:GetObject")]) == toset(["arn:aws:s3:::rewind-test-bucket/nodes/*"])
    error_message = "the proxy reads objects other than nodes/*"
  }
  assert {
    condition     = one(flatten([for s in data.aws_iam_policy_document.proxy[0].statement : [for c in s.condition : c.values if c.variable == "s3:prefix" && c.test == "StringEquals"] if contains(s.actions, "s3:ListBucket")])) == "nodes/"
    error_message = "the proxy's ListBucket is not limited to the prefix nodes/"
  }
  assert {
    condition     = output.proxy_asg_name == "rewind-origin-proxy" && output.proxy_security_group_id == aws_security_group.proxy[0].id && output.proxy_lifecycle_hook_name == "rewind-origin-proxy-drain" && output.proxy_log_group_name == "/ec2/rewind-origin-proxy"
    error_message = "the proxy outputs are wrong"
  }
}

run "proxy_disabled" {
  command = apply

  variables {
    proxy_enabled = false
  }

  assert {
    condition     = length(aws_autoscaling_group.proxy) + length(aws_launch_template.proxy) + length(aws_security_group.proxy) + length(aws_iam_role.proxy) + length(aws_cloudwatch_log_group.proxy) == 0
    error_message = "proxy_enabled = false must create no proxy resource"
  }
  assert {
    condition     = toset(aws_autoscaling_group.this.target_group_arns) == toset([for tg in aws_lb_target_group.this : tg.arn]) && aws_autoscaling_group.this.health_check_type == "ELB"
    error_message = "without proxies the load balancer targets the origins, checked through it"
  }
  assert {
    condition     = alltrue([for tg in aws_lb_target_group.this : tg.health_check[0].path == "/healthz" && length(tg.target_health_state) == 0])
    error_message = "without proxies the target groups check the origins' /healthz as before"
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.from_proxies) == 0 && length(aws_vpc_security_group_ingress_rule.this) == 3
    error_message = "without proxies the origins take RTMP and HTTP from allowed_cidr_blocks and HTTP from the VPC"
  }
  assert {
    condition     = output.proxy_asg_name == null && output.proxy_security_group_id == null
    error_message = "the proxy outputs must be null without proxies"
  }
}

run "proxy_sizes_checked" {
  command = plan

  variables {
    proxy_min_size         = 3
    proxy_desired_capacity = 2
  }

  expect_failures = [aws_autoscaling_group.proxy]
}

run "proxy_architecture_checked" {
  command = plan

  override_data {
    target = data.aws_ec2_instance_type.proxy[0]
    values = { supported_architectures = ["x86_64"] }
  }

  expect_failures = [aws_launch_template.proxy]
}

run "proxy_drain_timeout_checked" {
  command = plan

  variables {
    proxy_drain_timeout_seconds = 0
  }

  expect_failures = [var.proxy_drain_timeout_seconds]
}
