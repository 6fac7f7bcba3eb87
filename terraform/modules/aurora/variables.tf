variable "name" {
  description = "Cluster identifier and name prefix."
  type        = string
}

variable "engine_version" {
  description = "Aurora PostgreSQL version (major.minor)."
  type        = string
}

variable "instance_class" {
  description = "Instance class of the writer and the readers."
  type        = string
}

variable "reader_count" {
  description = "Readers besides the writer (0-15)."
  type        = number
}

variable "database_name" {
  description = "Database created in the cluster."
  type        = string
}

variable "master_username" {
  description = "Master user name."
  type        = string
}

variable "master_password" {
  description = "Master password (generated; kept in Secrets Manager)."
  type        = string
  sensitive   = true
}

variable "db_subnet_group_name" {
  type = string
}

variable "security_group_id" {
  type = string
}

variable "kms_key_arn" {
  description = "Customer-managed key of storage, snapshots and Performance Insights."
  type        = string
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
}

variable "log_min_duration_statement_ms" {
  description = "Statements slower than this many ms are logged."
  type        = number
  default     = 500
}
