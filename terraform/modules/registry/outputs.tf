output "repository_url" {
  description = "Push the engine image here; the RayService's image: points here."
  value       = aws_ecr_repository.engine.repository_url
}
