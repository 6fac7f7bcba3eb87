variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster name, for the subnet tags the AWS load balancer controller reads."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
}

variable "availability_zones" {
  description = "Availability zones (names) to spread the subnets over: 2 or 3."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, but one zone's outage cuts the others' egress)."
  type        = bool
}

variable "logs_kms_key_arn" {
  description = "KMS key of the flow-log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the flow-log group."
  type        = number
}
