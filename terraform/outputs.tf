output "vpc_id" {
  value = module.network.vpc_id
}

output "nat_public_ips" {
  description = "The cluster's egress addresses (allow-list them at the payment gateway)."
  value       = module.network.nat_public_ips
}

output "image_repository_url" {
  description = "ECR repository of the engine image (the RayService's image: should point here)."
  value       = module.registry.repository_url
}

output "cluster_name" {
  value = module.eks.cluster_name
}

output "kubeconfig_command" {
  value = "aws eks update-kubeconfig --region ${var.region} --name ${module.eks.cluster_name}"
}

output "node_groups" {
  description = "Scaling bounds of the Ray head and worker node groups."
  value       = module.eks.node_groups
}

output "alb_dns_name" {
  description = "Point the API's DNS name (alias record) at this."
  value       = module.edge.alb_dns_name
}

output "alb_zone_id" {
  value = module.edge.alb_zone_id
}

output "web_acl_arn" {
  value = module.edge.web_acl_arn
}

output "aurora_writer_endpoint" {
  value = module.aurora.writer_endpoint
}

output "aurora_reader_endpoint" {
  value = module.aurora.reader_endpoint
}

output "redis_configuration_endpoint" {
  value = module.redis.configuration_endpoint
}

output "gcs_redis_address" {
  description = "For the RayService's gcsFaultToleranceOptions.redisAddress (TLS: rediss://; the render mounts the Amazon root CAs on the head as RAY_REDIS_CA_CERT)."
  value       = "rediss://${module.redis.gcs_primary_endpoint}:6379"
}

output "secret_names" {
  description = "Secrets Manager names; jwt_signing_key and payment_gateway must be set out of band."
  value       = module.secrets.secret_names
}

output "kms_key_arns" {
  value = module.kms.key_arns
}

output "irsa_role_arns" {
  value = module.kubernetes.irsa_role_arns
}

output "engine_env_secret" {
  description = "Kubernetes secret (namespace/name) the RayService pods should take their environment from."
  value       = "${module.kubernetes.namespace}/${var.env_secret_name}"
}
