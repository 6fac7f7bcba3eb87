variable "repository_name" {
  description = "Name of the engine's image repository."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed key of the images."
  type        = string
}
