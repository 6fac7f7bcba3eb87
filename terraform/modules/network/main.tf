# VPC 10.0.0.0/16 over the given availability zones (2 or 3), three tiers per zone:
#   public   /24  ALB and NAT gateways; the only subnets routed to the internet gateway
#   private  /19  EKS nodes and their pods (the VPC CNI gives every pod a VPC address, hence
#                 the large blocks); outbound through the zone's NAT gateway
#   database /24  Aurora and ElastiCache; no route out of the VPC at all
# Flow logs of the whole VPC go to CloudWatch Logs; the default security group denies
# everything so that nothing lands in it by accident.

# The zones are named, not "the first N available": a zone AWS adds to the region later
# never moves a subnet. The lookup fails the plan if a named zone is not available.
data "aws_availability_zones" "pinned" {
  state = "available"

  filter {
    name   = "zone-name"
    values = var.availability_zones
  }
}

locals {
  az_count = length(var.availability_zones)
  azs      = var.availability_zones

  private_cidrs  = [for i in range(local.az_count) : cidrsubnet(var.vpc_cidr, 3, i)]
  public_cidrs   = [for i in range(local.az_count) : cidrsubnet(var.vpc_cidr, 8, 96 + i)]
  database_cidrs = [for i in range(local.az_count) : cidrsubnet(var.vpc_cidr, 8, 104 + i)]

  nat_count = var.single_nat_gateway ? 1 : local.az_count
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = var.name }

  lifecycle {
    precondition {
      condition     = length(data.aws_availability_zones.pinned.names) == local.az_count
      error_message = "Not every zone of var.availability_zones is an available zone of this region."
    }
  }
}

# Nothing may use the default security group: no rules at all.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-default-deny" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = var.name }
}

resource "aws_subnet" "public" {
  count = local.az_count

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = local.public_cidrs[count.index]
  map_public_ip_on_launch = false

  tags = {
    Name                                        = "${var.name}-public-${local.azs[count.index]}"
    Tier                                        = "public"
    "kubernetes.io/role/elb"                    = "1"
    "kubernetes.io/cluster/${var.cluster_name}" = "shared"
  }
}

resource "aws_subnet" "private" {
  count = local.az_count

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = local.private_cidrs[count.index]

  tags = {
    Name                                        = "${var.name}-private-${local.azs[count.index]}"
    Tier                                        = "private"
    "kubernetes.io/role/internal-elb"           = "1"
    "kubernetes.io/cluster/${var.cluster_name}" = "shared"
  }
}

resource "aws_subnet" "database" {
  count = local.az_count

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = local.database_cidrs[count.index]

  tags = {
    Name = "${var.name}-database-${local.azs[count.index]}"
    Tier = "database"
  }
}

resource "aws_eip" "nat" {
  count = local.nat_count

  domain = "vpc"

  tags = { Name = "${var.name}-nat-${local.azs[count.index]}" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = local.nat_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = { Name = "${var.name}-${local.azs[count.index]}" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-public" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = local.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  count = local.az_count

  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-private-${local.azs[count.index]}" }
}

resource "aws_route" "private_nat" {
  count = local.az_count

  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
}

resource "aws_route_table_association" "private" {
  count = local.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# The database tier has only the VPC's local route.
resource "aws_route_table" "database" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-database" }
}

resource "aws_route_table_association" "database" {
  count = local.az_count

  subnet_id      = aws_subnet.database[count.index].id
  route_table_id = aws_route_table.database.id
}

# Subnet-level second line behind the security groups: the database subnets accept
# PostgreSQL and Redis from the private (EKS) subnets and answer them, talk among themselves
# over TCP 1024-65535 (Redis replication and cluster bus 16379; the range also covers the
# replies), and nothing else.
resource "aws_network_acl" "database" {
  vpc_id     = aws_vpc.this.id
  subnet_ids = aws_subnet.database[*].id

  tags = { Name = "${var.name}-database" }
}

resource "aws_network_acl_rule" "database_in_within" {
  count = local.az_count

  network_acl_id = aws_network_acl.database.id
  rule_number    = 100 + count.index
  egress         = false
  protocol       = "tcp"
  rule_action    = "allow"
  cidr_block     = local.database_cidrs[count.index]
  from_port      = 1024
  to_port        = 65535
}

resource "aws_network_acl_rule" "database_in_postgres" {
  count = local.az_count

  network_acl_id = aws_network_acl.database.id
  rule_number    = 200 + count.index
  egress         = false
  protocol       = "tcp"
  rule_action    = "allow"
  cidr_block     = local.private_cidrs[count.index]
  from_port      = 5432
  to_port        = 5432
}

resource "aws_network_acl_rule" "database_in_redis" {
  count = local.az_count

  network_acl_id = aws_network_acl.database.id
  rule_number    = 300 + count.index
  egress         = false
  protocol       = "tcp"
  rule_action    = "allow"
  cidr_block     = local.private_cidrs[count.index]
  from_port      = 6379
  to_port        = 6379
}

resource "aws_network_acl_rule" "database_out_within" {
  count = local.az_count

  network_acl_id = aws_network_acl.database.id
  rule_number    = 100 + count.index
  egress         = true
  protocol       = "tcp"
  rule_action    = "allow"
  cidr_block     = local.database_cidrs[count.index]
  from_port      = 1024
  to_port        = 65535
}

resource "aws_network_acl_rule" "database_out_replies" {
  count = local.az_count

  network_acl_id = aws_network_acl.database.id
  rule_number    = 200 + count.index
  egress         = true
  protocol       = "tcp"
  rule_action    = "allow"
  cidr_block     = local.private_cidrs[count.index]
  from_port      = 1024
  to_port        = 65535
}

resource "aws_db_subnet_group" "this" {
  name        = "${var.name}-database"
  description = "Database tier of ${var.name}"
  subnet_ids  = aws_subnet.database[*].id
}

resource "aws_elasticache_subnet_group" "this" {
  name        = "${var.name}-database"
  description = "Database tier of ${var.name}"
  subnet_ids  = aws_subnet.database[*].id
}

# VPC flow logs (accepted and rejected traffic) to CloudWatch Logs.
resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/aws/vpc/${var.name}/flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${var.name}-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

resource "aws_flow_log" "this" {
  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn         = aws_iam_role.flow_logs.arn
}
