# Aurora PostgreSQL: one writer and `reader_count` readers (the seed's peak figure is 1 + 8),
# spread over the database subnets. Storage, snapshots and Performance Insights are encrypted
# with a customer-managed KMS key; the cluster parameter group sets rds.force_ssl = 1 so a
# connection without TLS is refused; automated backups with point-in-time recovery; deletion
# protection and a final snapshot. Only the nodes' security group reaches port 5432.

locals {
  family = "aurora-postgresql${split(".", var.engine_version)[0]}"
}

resource "aws_rds_cluster_parameter_group" "this" {
  name        = "${var.name}-aurora-pg"
  family      = local.family
  description = "${var.name}: TLS required, slow statements logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "ssl_min_protocol_version"
    value = "TLSv1.2"
  }

  # Statements slower than this (ms) are logged, with DDL always logged: enough to find
  # slow queries and schema changes without logging every statement at 100k TPS.
  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.log_min_duration_statement_ms)
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }
}

resource "aws_db_parameter_group" "this" {
  name        = "${var.name}-aurora-instance"
  family      = local.family
  description = "${var.name}: Aurora PostgreSQL instances"
}

resource "aws_rds_cluster" "this" {
  #checkov:skip=CKV2_AWS_8:Aurora's own continuous backups (point-in-time recovery over backup_retention_days) plus the final snapshot cover recovery; an AWS Backup plan (vault lock, cross-account copies) is an organisation-level choice left to the account's backup policy.
  cluster_identifier = var.name
  engine             = "aurora-postgresql"
  engine_mode        = "provisioned"
  engine_version     = var.engine_version
  database_name      = var.database_name
  port               = 5432

  master_username = var.master_username
  master_password = var.master_password

  db_subnet_group_name            = var.db_subnet_group_name
  vpc_security_group_ids          = [var.security_group_id]
  db_cluster_parameter_group_name = aws_rds_cluster_parameter_group.this.name

  storage_encrypted = true
  kms_key_id        = var.kms_key_arn

  backup_retention_period      = var.backup_retention_days
  preferred_backup_window      = "17:00-18:00" # 02:00-03:00 KST
  preferred_maintenance_window = "sun:18:30-sun:19:30"
  copy_tags_to_snapshot        = true
  deletion_protection          = true
  skip_final_snapshot          = false
  final_snapshot_identifier    = "${var.name}-final"

  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql"]

  lifecycle {
    ignore_changes = [final_snapshot_identifier]
  }
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
}

data "aws_partition" "current" {}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# Instance 0 is created first and becomes the writer; the others are readers. The promotion
# tiers keep the first readers first in line for failover.
resource "aws_rds_cluster_instance" "this" {
  count = 1 + var.reader_count

  identifier              = "${var.name}-${count.index}"
  cluster_identifier      = aws_rds_cluster.this.id
  engine                  = aws_rds_cluster.this.engine
  engine_version          = aws_rds_cluster.this.engine_version
  instance_class          = var.instance_class
  db_subnet_group_name    = var.db_subnet_group_name
  db_parameter_group_name = aws_db_parameter_group.this.name
  publicly_accessible     = false
  promotion_tier          = min(count.index, 15)

  auto_minor_version_upgrade = true
  monitoring_interval        = 30
  monitoring_role_arn        = aws_iam_role.monitoring.arn

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7

  depends_on = [aws_iam_role_policy_attachment.monitoring]
}
