output "alb_arn" {
  value = aws_lb.this.arn
}

output "alb_dns_name" {
  description = "Point the API's DNS name (an alias record) here."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  value = aws_lb.this.zone_id
}

output "target_group_arn" {
  value = aws_lb_target_group.serve.arn
}

output "web_acl_arn" {
  value = aws_wafv2_web_acl.this.arn
}
