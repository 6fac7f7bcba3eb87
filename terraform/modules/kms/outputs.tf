output "key_arns" {
  description = "Key ARN per purpose: eks, aurora, redis, secrets, ecr, logs."
  value       = { for k, key in aws_kms_key.this : k => key.arn }
}
