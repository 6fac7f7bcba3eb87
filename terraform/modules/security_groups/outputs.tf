output "alb_id" {
  value = aws_security_group.alb.id
}

output "nodes_id" {
  value = aws_security_group.nodes.id
}

output "control_plane_id" {
  value = aws_security_group.control_plane.id
}

output "aurora_id" {
  value = aws_security_group.aurora.id
}

output "redis_id" {
  value = aws_security_group.redis.id
}
