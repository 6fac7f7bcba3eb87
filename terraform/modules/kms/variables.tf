variable "name" {
  description = "Prefix of the key aliases and descriptions."
  type        = string
}

variable "deletion_window_days" {
  description = "Days a scheduled key deletion waits (7-30)."
  type        = number
  default     = 30
}
