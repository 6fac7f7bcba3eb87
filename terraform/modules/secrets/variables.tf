variable "prefix" {
  description = "Path prefix of the secret names, e.g. tiketi/prod."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed key of the secrets."
  type        = string
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored (7-30)."
  type        = number
  default     = 30
}

variable "database_host" {
  description = "Writer endpoint."
  type        = string
}

variable "database_reader_host" {
  description = "Reader endpoint."
  type        = string
}

variable "database_port" {
  type = number
}

variable "database_name" {
  type = string
}

variable "database_username" {
  type = string
}

variable "redis_host" {
  description = "Configuration endpoint of the Redis cluster."
  type        = string
}

variable "redis_port" {
  type = number
}

variable "gcs_redis_host" {
  description = "Primary endpoint of the Ray GCS Redis."
  type        = string
}
