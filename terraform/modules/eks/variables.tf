variable "cluster_name" {
  description = "Name of the EKS cluster."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets of the control-plane ENIs and the nodes."
  type        = list(string)
}

variable "control_plane_security_group_id" {
  description = "Additional security group of the control-plane ENIs."
  type        = string
}

variable "node_security_group_id" {
  description = "Security group of the nodes (and so of the pods)."
  type        = string
}

variable "endpoint_public_access" {
  description = "Whether the Kubernetes API is also reachable from the internet."
  type        = bool
}

variable "endpoint_public_access_cidrs" {
  description = "Source CIDRs allowed to the public API endpoint."
  type        = list(string)
}

variable "eks_kms_key_arn" {
  description = "KMS key for envelope encryption of Kubernetes secrets."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key of the control-plane log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the control-plane log group."
  type        = number
}

variable "head_instance_types" {
  description = "Instance types of the Ray head node group."
  type        = list(string)
}

variable "head_min_size" {
  type = number
}

variable "head_desired_size" {
  type = number
}

variable "head_max_size" {
  type = number
}

variable "worker_instance_types" {
  description = "Instance types of the Ray worker node group."
  type        = list(string)
}

variable "worker_min_size" {
  type = number
}

variable "worker_desired_size" {
  type = number
}

variable "worker_max_size" {
  type = number
}

variable "node_disk_size_gb" {
  description = "Root volume of every node (images, Ray's spill directory, logs)."
  type        = number
}
