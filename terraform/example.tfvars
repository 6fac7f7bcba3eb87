# Copy to <environment>.tfvars, fill in, then:
#   terraform plan -var-file=prod.tfvars
# Everything not set here has a default in variables.tf taken from the seed.

region              = "ap-northeast-2"
availability_zones  = ["ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2c"]
allowed_account_ids = ["123456789012"]
environment         = "prod"

# ACM certificate for the API's host name, in the same region as the ALB.
certificate_arn = "arn:aws:acm:ap-northeast-2:123456789012:certificate/00000000-0000-0000-0000-000000000000"

# Reach the Kubernetes API from your own address only (or leave it private and run Terraform
# from inside the VPC).
eks_endpoint_public_access       = true
eks_endpoint_public_access_cidrs = ["203.0.113.10/32"]

# Seed figures (defaults): 1 writer + 8 readers, 6 Redis shards, WAF 100 req/min per IP from
# KR/US/JP. A smaller staging estate might use:
# aurora_reader_count      = 1
# aurora_instance_class    = "db.r6g.large"
# redis_shard_count        = 2
# redis_node_type          = "cache.r7g.large"
# worker_node_count        = { min = 2, desired = 2, max = 4 }
# single_nat_gateway       = true

aurora_reader_count       = 8
redis_shard_count         = 6
redis_replicas_per_shard  = 1
waf_rate_limit            = 100
waf_rate_limit_window_sec = 60
waf_allowed_country_codes = ["KR", "US", "JP"]

worker_instance_types = ["m6i.8xlarge"]
worker_node_count     = { min = 3, desired = 3, max = 18 }
head_instance_types   = ["m6i.2xlarge"]

tags = {
  Owner      = "platform"
  CostCenter = "ticketing"
}

# Phase 2, once phase 1 is applied and kuberay/rayservice.yaml is rendered:
# deploy_workloads = true
