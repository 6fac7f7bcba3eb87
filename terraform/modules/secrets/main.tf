# Secrets Manager secrets of the engine, encrypted with a customer-managed KMS key:
#   <prefix>/database         generated master password + endpoints + DATABASE_URL (TLS)
#   <prefix>/redis            generated AUTH token + endpoint + REDIS_URL (TLS)
#   <prefix>/gcs-redis        generated AUTH token + address of Ray's GCS Redis (TLS)
#   <prefix>/jwt-signing-key  RS256 private key (PEM): value set out of band
#   <prefix>/payment-gateway  Toss Payments secret and client keys: value set out of band
# No value is written in this repository. The generated ones come from random_password (and
# therefore also sit in the Terraform state: keep the state in an encrypted bucket); the
# out-of-band ones are put with `aws secretsmanager put-secret-value` (README.md) and never
# pass through Terraform.

# Letters and digits only: safe in a URL without escaping, and accepted by both RDS (no / " @
# or space) and ElastiCache (no / " @ or space) password rules. 40 and 64 characters of
# [A-Za-z0-9] are about 238 and 381 bits.
resource "random_password" "database" {
  length  = 40
  special = false
}

resource "random_password" "redis" {
  length  = 64
  special = false
}

resource "random_password" "gcs_redis" {
  length  = 64
  special = false
}

# Every secret here is read by the external-secrets operator and copied into the engine's
# Kubernetes secret, from which the Ray pods get their environment.
resource "aws_secretsmanager_secret" "database" {
  #checkov:skip=CKV2_AWS_57:Rotating the Aurora master password needs a rotation Lambda in the VPC and a rolling restart of the Ray pods to pick the new DATABASE_URL up; rotation is a runbook step (README.md) until the engine re-reads credentials.
  name                    = "${var.prefix}/database"
  description             = "Aurora PostgreSQL master credentials and DATABASE_URL of the engine"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret" "redis" {
  #checkov:skip=CKV2_AWS_57:The AUTH token is rotated with ElastiCache's ROTATE strategy by changing it here and applying (old and new accepted during the switch); no rotation Lambda exists for ElastiCache AUTH tokens.
  name                    = "${var.prefix}/redis"
  description             = "ElastiCache Redis AUTH token and REDIS_URL of the engine"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret" "gcs_redis" {
  #checkov:skip=CKV2_AWS_57:Same as the engine's Redis: rotated with ElastiCache's ROTATE strategy through Terraform, no rotation Lambda exists for AUTH tokens.
  name                    = "${var.prefix}/gcs-redis"
  description             = "AUTH token and address of the Redis behind Ray's GCS fault tolerance"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret" "jwt_signing_key" {
  #checkov:skip=CKV2_AWS_57:The RS256 signing key is rotated by publishing a new key in the JWKS before signing with it (the engine serves /.well-known/jwks.json); a blind automatic rotation would invalidate every issued token.
  name                    = "${var.prefix}/jwt-signing-key"
  description             = "RS256 private key (PEM) that signs the engine's JWTs; set out of band"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret" "payment_gateway" {
  #checkov:skip=CKV2_AWS_57:The payment gateway keys are issued by Toss Payments and can only be rotated in the merchant console, then put here by hand.
  name                    = "${var.prefix}/payment-gateway"
  description             = "Toss Payments secretKey and clientKey (JSON); set out of band"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

locals {
  database_url        = "postgresql://${var.database_username}:${random_password.database.result}@${var.database_host}:${var.database_port}/${var.database_name}?sslmode=require"
  database_reader_url = "postgresql://${var.database_username}:${random_password.database.result}@${var.database_reader_host}:${var.database_port}/${var.database_name}?sslmode=require"
  redis_url           = "rediss://:${random_password.redis.result}@${var.redis_host}:${var.redis_port}"
}

resource "aws_secretsmanager_secret_version" "database" {
  secret_id = aws_secretsmanager_secret.database.id
  secret_string = jsonencode({
    engine       = "postgres"
    host         = var.database_host
    reader_host  = var.database_reader_host
    port         = var.database_port
    dbname       = var.database_name
    username     = var.database_username
    password     = random_password.database.result
    DATABASE_URL = local.database_url
    READER_URL   = local.database_reader_url
  })
}

resource "aws_secretsmanager_secret_version" "redis" {
  secret_id = aws_secretsmanager_secret.redis.id
  secret_string = jsonencode({
    host       = var.redis_host
    port       = var.redis_port
    auth_token = random_password.redis.result
    REDIS_URL  = local.redis_url
  })
}

resource "aws_secretsmanager_secret_version" "gcs_redis" {
  secret_id = aws_secretsmanager_secret.gcs_redis.id
  secret_string = jsonencode({
    host               = var.gcs_redis_host
    port               = var.redis_port
    auth_token         = random_password.gcs_redis.result
    GCS_REDIS_PASSWORD = random_password.gcs_redis.result
    # For the RayService's gcsFaultToleranceOptions.redisAddress (with
    # the Amazon root CAs that `tiketi kuberay render` mounts on the head).
    REDIS_ADDRESS = "rediss://${var.gcs_redis_host}:${var.redis_port}"
  })
}
