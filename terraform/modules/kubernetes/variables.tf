variable "cluster_name" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "oidc_provider_arn" {
  description = "IAM OIDC provider of the cluster (IRSA)."
  type        = string
}

variable "oidc_issuer" {
  description = "OIDC issuer host and path, without https://."
  type        = string
}

variable "namespace" {
  description = "Namespace of the engine's Ray pods."
  type        = string
}

variable "serve_port" {
  description = "Port of Ray Serve's HTTP proxy."
  type        = number
}

variable "target_group_arn" {
  description = "ALB target group the Serve pods are registered in."
  type        = string
}

variable "secret_arns" {
  description = "ARNs of the engine's Secrets Manager secrets."
  type        = map(string)
}

variable "secret_names" {
  description = "Names of the engine's secrets in Secrets Manager."
  type = object({
    database        = string
    redis           = string
    gcs_redis       = string
    jwt_signing_key = string
    payment_gateway = string
  })
}

variable "secrets_kms_key_arn" {
  description = "KMS key of the secrets."
  type        = string
}

variable "env_secret_name" {
  description = "Kubernetes secret holding the engine's environment."
  type        = string
}

variable "kuberay_chart_version" {
  type = string
}

variable "lb_controller_chart_version" {
  type = string
}

variable "external_secrets_chart_version" {
  type = string
}

variable "cluster_autoscaler_chart_version" {
  type = string
}

variable "cluster_autoscaler_image_tag" {
  description = "Cluster autoscaler image; its minor version should match the cluster's."
  type        = string
}

variable "install_monitoring" {
  description = "Install kube-prometheus-stack (release prometheus)."
  type        = bool
}

variable "kube_prometheus_stack_version" {
  type = string
}

variable "gcs_redis_host" {
  description = "Primary endpoint of the Ray GCS Redis."
  type        = string
}

variable "deploy_workloads" {
  description = "Phase 2: apply the SecretStore, ExternalSecret, RayService and TargetGroupBinding."
  type        = bool
}

variable "rayservice_manifest_path" {
  description = "Rendered RayService manifest (one or more YAML documents)."
  type        = string
}
