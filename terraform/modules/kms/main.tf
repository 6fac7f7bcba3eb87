# Customer-managed KMS keys, one per purpose, so that a grant on one data store's key never
# opens another's. Each key rotates yearly. The key policy gives the account root (and so IAM
# policies in the account) administration of the key, which is AWS's default key policy; the
# logs key also lets CloudWatch Logs in this region use it for log groups of this account.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"

  root_statement = {
    Sid       = "AccountAdministers"
    Effect    = "Allow"
    Principal = { AWS = local.account_root }
    Action    = "kms:*"
    Resource  = "*"
  }

  logs_statement = {
    Sid       = "CloudWatchLogsUse"
    Effect    = "Allow"
    Principal = { Service = "logs.${data.aws_region.current.name}.amazonaws.com" }
    Action = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    Resource = "*"
    Condition = {
      ArnLike = {
        "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:*"
      }
    }
  }

  purposes = {
    eks     = "EKS envelope encryption of Kubernetes secrets"
    aurora  = "Aurora PostgreSQL storage, snapshots and Performance Insights"
    redis   = "ElastiCache Redis data at rest and snapshots"
    secrets = "Secrets Manager secrets of the engine"
    ecr     = "ECR images of the engine"
    logs    = "CloudWatch log groups (VPC flow logs, EKS, WAF, Redis)"
  }
}

resource "aws_kms_key" "this" {
  for_each = local.purposes

  description             = "${var.name}: ${each.value}"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.deletion_window_days

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = concat([local.root_statement], each.key == "logs" ? [local.logs_statement] : [])
  })
}

resource "aws_kms_alias" "this" {
  for_each = local.purposes

  name          = "alias/${var.name}-${each.key}"
  target_key_id = aws_kms_key.this[each.key].key_id
}
