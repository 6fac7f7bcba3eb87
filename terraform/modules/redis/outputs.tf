output "configuration_endpoint" {
  description = "Cluster-mode configuration endpoint (give it to a cluster-aware client)."
  value       = aws_elasticache_replication_group.this.configuration_endpoint_address
}

output "port" {
  value = aws_elasticache_replication_group.this.port
}

output "arn" {
  value = aws_elasticache_replication_group.this.arn
}

output "gcs_primary_endpoint" {
  description = "Primary endpoint of the Ray GCS Redis."
  value       = aws_elasticache_replication_group.gcs.primary_endpoint_address
}
