output "database_password" {
  value     = random_password.database.result
  sensitive = true
}

output "redis_auth_token" {
  value     = random_password.redis.result
  sensitive = true
}

output "gcs_redis_auth_token" {
  value     = random_password.gcs_redis.result
  sensitive = true
}

output "secret_arns" {
  description = "Secret ARN per purpose: database, redis, gcs_redis, jwt_signing_key, payment_gateway."
  value = {
    database        = aws_secretsmanager_secret.database.arn
    redis           = aws_secretsmanager_secret.redis.arn
    gcs_redis       = aws_secretsmanager_secret.gcs_redis.arn
    jwt_signing_key = aws_secretsmanager_secret.jwt_signing_key.arn
    payment_gateway = aws_secretsmanager_secret.payment_gateway.arn
  }
}

output "secret_names" {
  value = {
    database        = aws_secretsmanager_secret.database.name
    redis           = aws_secretsmanager_secret.redis.name
    gcs_redis       = aws_secretsmanager_secret.gcs_redis.name
    jwt_signing_key = aws_secretsmanager_secret.jwt_signing_key.name
    payment_gateway = aws_secretsmanager_secret.payment_gateway.name
  }
}
