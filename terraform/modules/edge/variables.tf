variable "name" {
  description = "Name of the ALB, web ACL and their companions."
  type        = string
}

variable "vpc_id" {
  type = string
}

variable "public_subnet_ids" {
  type = list(string)
}

variable "alb_security_group_id" {
  type = string
}

variable "serve_port" {
  description = "Port of Ray Serve's HTTP proxy on the pods."
  type        = number
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener."
  type        = string
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
}

variable "rate_limit" {
  description = "Requests per client IP per evaluation window before WAF blocks it."
  type        = number
}

variable "rate_limit_window_sec" {
  description = "WAF rate-based evaluation window in seconds: 60, 120, 300 or 600."
  type        = number
}

variable "allowed_country_codes" {
  description = "ISO 3166 alpha-2 codes of the countries allowed through."
  type        = list(string)
}

variable "logs_kms_key_arn" {
  description = "KMS key of the WAF log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of WAF logs and ALB access logs."
  type        = number
}
