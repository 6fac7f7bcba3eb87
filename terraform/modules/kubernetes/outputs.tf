output "namespace" {
  value = kubernetes_namespace_v1.engine.metadata[0].name
}

output "serve_service_name" {
  description = "Service the TargetGroupBinding points at (empty before phase 2)."
  value       = local.serve_service_name
}

output "irsa_role_arns" {
  value = { for k, r in aws_iam_role.irsa : k => r.arn }
}
