# The security groups of the seed's section 7, with the engine's one HTTP port (Ray Serve,
# 8000) in place of the seed's per-service ports 3010-3015:
#
#   alb           in:  443 from anywhere            out: serve port to nodes
#   nodes (pods)  in:  serve port from alb,         out: 5432 to aurora, 6379 to redis,
#                      everything from itself,           443 anywhere (ECR, AWS APIs,
#                      control plane on the kubelet      payment gateway), DNS to the VPC,
#                      and webhook ports                 everything to itself
#   control plane in:  443 from nodes               out: kubelet/webhook ports to nodes
#   aurora        in:  5432 from nodes              out: none
#   redis         in:  6379 from nodes              out: none
#
# Every rule is its own resource (aws_vpc_security_group_*_rule), so the groups can refer to
# each other without a cycle. An aws_security_group created without inline rules has AWS's
# default allow-all egress rule removed by Terraform, which is what leaves the data stores
# with no egress at all. The VPC CNI gives pods addresses on the nodes' network interfaces,
# so the nodes' group is also the pods' group.

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:Attached to the ALB (modules/edge) through this module's output; checkov's graph does not follow module outputs into other modules.
  name        = "${var.name}-alb"
  description = "Public ALB: HTTPS in from the internet, Ray Serve out to the nodes"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-alb" }
}

resource "aws_security_group" "nodes" {
  #checkov:skip=CKV2_AWS_5:Attached to the nodes' launch templates (modules/eks) through this module's output; checkov's graph does not follow module outputs into other modules.
  name        = "${var.name}-nodes"
  description = "EKS nodes and pods: Ray Serve from the ALB only"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-nodes" }
}

resource "aws_security_group" "control_plane" {
  #checkov:skip=CKV2_AWS_5:Attached to the EKS cluster (modules/eks) through this module's output; checkov's graph does not follow module outputs into other modules.
  name        = "${var.name}-control-plane"
  description = "EKS control plane ENIs: API from the nodes"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-control-plane" }
}

resource "aws_security_group" "aurora" {
  #checkov:skip=CKV2_AWS_5:Attached to the Aurora cluster (modules/aurora) through this module's output; checkov's graph does not follow module outputs into other modules.
  name        = "${var.name}-aurora"
  description = "Aurora PostgreSQL: 5432 from the nodes only, no egress"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-aurora" }
}

resource "aws_security_group" "redis" {
  #checkov:skip=CKV2_AWS_5:Attached to the Redis replication group (modules/redis) through this module's output; checkov's graph does not follow module outputs into other modules.
  name        = "${var.name}-redis"
  description = "ElastiCache Redis: 6379 from the nodes only, no egress"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-redis" }
}

# --- ALB ---------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from the internet (WAF in front)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "alb_to_serve" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Ray Serve on the pods (traffic and health checks)"
  ip_protocol                  = "tcp"
  from_port                    = var.serve_port
  to_port                      = var.serve_port
  referenced_security_group_id = aws_security_group.nodes.id
}

# --- Nodes / pods ------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "nodes_from_alb" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Ray Serve from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = var.serve_port
  to_port                      = var.serve_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_ingress_rule" "nodes_from_self" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Pod to pod and node to node (Ray GCS, raylets, object transfer, DNS)"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.nodes.id
}

resource "aws_vpc_security_group_ingress_rule" "nodes_from_control_plane" {
  for_each = toset([for p in var.control_plane_to_node_ports : tostring(p)])

  security_group_id            = aws_security_group.nodes.id
  description                  = "EKS control plane to kubelet / admission webhooks (${each.value})"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
  referenced_security_group_id = aws_security_group.control_plane.id
}

resource "aws_vpc_security_group_egress_rule" "nodes_to_self" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Pod to pod and node to node"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.nodes.id
}

resource "aws_vpc_security_group_egress_rule" "nodes_to_aurora" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.aurora.id
}

resource "aws_vpc_security_group_egress_rule" "nodes_to_redis" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Redis"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.redis.id
}

resource "aws_vpc_security_group_egress_rule" "nodes_https_out" {
  security_group_id = aws_security_group.nodes.id
  description       = "HTTPS out: EKS API, ECR, AWS APIs, payment gateway"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "nodes_dns" {
  for_each = toset(["udp", "tcp"])

  security_group_id = aws_security_group.nodes.id
  description       = "DNS to the VPC resolver (${each.value})"
  ip_protocol       = each.value
  from_port         = 53
  to_port           = 53
  cidr_ipv4         = var.vpc_cidr
}

# --- EKS control plane -------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "control_plane_from_nodes" {
  security_group_id            = aws_security_group.control_plane.id
  description                  = "Kubernetes API from nodes and pods"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.nodes.id
}

resource "aws_vpc_security_group_egress_rule" "control_plane_to_nodes" {
  for_each = toset([for p in var.control_plane_to_node_ports : tostring(p)])

  security_group_id            = aws_security_group.control_plane.id
  description                  = "Kubelet / admission webhooks on the nodes (${each.value})"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
  referenced_security_group_id = aws_security_group.nodes.id
}

# --- Data stores: ingress from the pods only, no egress rules at all ----------------------

resource "aws_vpc_security_group_ingress_rule" "aurora_from_nodes" {
  security_group_id            = aws_security_group.aurora.id
  description                  = "PostgreSQL from the EKS pods"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.nodes.id
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_nodes" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis (TLS) from the EKS pods"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.nodes.id
}
