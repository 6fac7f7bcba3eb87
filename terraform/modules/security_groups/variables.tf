variable "name" {
  description = "Name prefix of the security groups."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the security groups."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (DNS resolver)."
  type        = string
}

variable "serve_port" {
  description = "Port of Ray Serve's HTTP proxy on the pods."
  type        = number
}

variable "control_plane_to_node_ports" {
  description = "TCP ports the EKS control plane opens on nodes: kubelet and admission webhooks."
  type        = list(number)
}
