variable "name" {
  description = "Replication group id and name prefix."
  type        = string
}

variable "engine_version" {
  description = "Redis OSS version."
  type        = string
}

variable "parameter_group_family" {
  description = "Parameter group family matching engine_version, e.g. redis7."
  type        = string
}

variable "node_type" {
  description = "Node type of every primary and replica."
  type        = string
}

variable "shard_count" {
  description = "Shards (node groups) of the cluster."
  type        = number
}

variable "replicas_per_shard" {
  description = "Replicas of each shard's primary (at least 1 for automatic failover)."
  type        = number
}

variable "subnet_group_name" {
  type = string
}

variable "security_group_id" {
  type = string
}

variable "auth_token" {
  description = "AUTH token clients must present (generated; kept in Secrets Manager)."
  type        = string
  sensitive   = true
}

variable "kms_key_arn" {
  description = "Customer-managed key of data at rest and snapshots."
  type        = string
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots kept."
  type        = number
}

variable "logs_kms_key_arn" {
  description = "KMS key of the slow-log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the slow-log group."
  type        = number
}

variable "gcs_node_type" {
  description = "Node type of the Ray GCS Redis (cluster metadata only: small)."
  type        = string
}

variable "gcs_auth_token" {
  description = "AUTH token of the GCS Redis (generated; kept in Secrets Manager)."
  type        = string
  sensitive   = true
}
