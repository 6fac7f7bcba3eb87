# The AWS estate of the TIKETI engine (seed sections 7 and 9): VPC and security groups, EKS
# with a Ray head and a Ray worker node group, Aurora PostgreSQL, ElastiCache Redis in cluster
# mode, an ALB behind WAF, Secrets Manager, and the in-cluster controllers plus the
# RayService. README.md explains each module, the security rules and the deployment steps.

locals {
  name         = "${var.name}-${var.environment}"
  cluster_name = local.name
  secrets_path = "${var.name}/${var.environment}"

  rayservice_manifest_path = coalesce(var.rayservice_manifest_path, "${path.root}/../kuberay/rayservice.yaml")
}

module "kms" {
  source = "./modules/kms"

  name = local.name
}

module "registry" {
  source = "./modules/registry"

  repository_name = "${var.name}-engine"
  kms_key_arn     = module.kms.key_arns["ecr"]
}

module "network" {
  source = "./modules/network"

  name               = local.name
  cluster_name       = local.cluster_name
  vpc_cidr           = var.vpc_cidr
  availability_zones = var.availability_zones
  single_nat_gateway = var.single_nat_gateway
  logs_kms_key_arn   = module.kms.key_arns["logs"]
  log_retention_days = var.log_retention_days
}

module "security_groups" {
  source = "./modules/security_groups"

  name                        = local.name
  vpc_id                      = module.network.vpc_id
  vpc_cidr                    = module.network.vpc_cidr
  serve_port                  = var.serve_port
  control_plane_to_node_ports = var.control_plane_to_node_ports
}

module "eks" {
  source = "./modules/eks"

  cluster_name                    = local.cluster_name
  kubernetes_version              = var.kubernetes_version
  private_subnet_ids              = module.network.private_subnet_ids
  control_plane_security_group_id = module.security_groups.control_plane_id
  node_security_group_id          = module.security_groups.nodes_id
  endpoint_public_access          = var.eks_endpoint_public_access
  endpoint_public_access_cidrs    = var.eks_endpoint_public_access_cidrs
  eks_kms_key_arn                 = module.kms.key_arns["eks"]
  logs_kms_key_arn                = module.kms.key_arns["logs"]
  log_retention_days              = var.log_retention_days

  head_instance_types = var.head_instance_types
  head_min_size       = var.head_node_count.min
  head_desired_size   = var.head_node_count.desired
  head_max_size       = var.head_node_count.max

  worker_instance_types = var.worker_instance_types
  worker_min_size       = var.worker_node_count.min
  worker_desired_size   = var.worker_node_count.desired
  worker_max_size       = var.worker_node_count.max

  node_disk_size_gb = var.node_disk_size_gb
}

module "aurora" {
  source = "./modules/aurora"

  name                  = local.name
  engine_version        = var.aurora_engine_version
  instance_class        = var.aurora_instance_class
  reader_count          = var.aurora_reader_count
  database_name         = var.database_name
  master_username       = var.database_master_username
  master_password       = module.secrets.database_password
  db_subnet_group_name  = module.network.db_subnet_group_name
  security_group_id     = module.security_groups.aurora_id
  kms_key_arn           = module.kms.key_arns["aurora"]
  backup_retention_days = var.aurora_backup_retention_days
}

module "redis" {
  source = "./modules/redis"

  name                    = local.name
  engine_version          = var.redis_engine_version
  parameter_group_family  = var.redis_parameter_group_family
  node_type               = var.redis_node_type
  shard_count             = var.redis_shard_count
  replicas_per_shard      = var.redis_replicas_per_shard
  subnet_group_name       = module.network.elasticache_subnet_group_name
  security_group_id       = module.security_groups.redis_id
  auth_token              = module.secrets.redis_auth_token
  gcs_node_type           = var.gcs_redis_node_type
  gcs_auth_token          = module.secrets.gcs_redis_auth_token
  kms_key_arn             = module.kms.key_arns["redis"]
  snapshot_retention_days = var.redis_snapshot_retention_days
  logs_kms_key_arn        = module.kms.key_arns["logs"]
  log_retention_days      = var.log_retention_days
}

module "secrets" {
  source = "./modules/secrets"

  prefix               = local.secrets_path
  kms_key_arn          = module.kms.key_arns["secrets"]
  database_host        = module.aurora.writer_endpoint
  database_reader_host = module.aurora.reader_endpoint
  database_port        = module.aurora.port
  database_name        = var.database_name
  database_username    = var.database_master_username
  redis_host           = module.redis.configuration_endpoint
  redis_port           = module.redis.port
  gcs_redis_host       = module.redis.gcs_primary_endpoint
}

module "edge" {
  source = "./modules/edge"

  name                  = local.name
  vpc_id                = module.network.vpc_id
  public_subnet_ids     = module.network.public_subnet_ids
  alb_security_group_id = module.security_groups.alb_id
  serve_port            = var.serve_port
  certificate_arn       = var.certificate_arn
  ssl_policy            = var.alb_ssl_policy
  rate_limit            = var.waf_rate_limit
  rate_limit_window_sec = var.waf_rate_limit_window_sec
  allowed_country_codes = var.waf_allowed_country_codes
  logs_kms_key_arn      = module.kms.key_arns["logs"]
  log_retention_days    = var.log_retention_days
}

module "kubernetes" {
  source = "./modules/kubernetes"

  cluster_name        = module.eks.cluster_name
  vpc_id              = module.network.vpc_id
  oidc_provider_arn   = module.eks.oidc_provider_arn
  oidc_issuer         = module.eks.oidc_issuer
  namespace           = var.kubernetes_namespace
  serve_port          = var.serve_port
  target_group_arn    = module.edge.target_group_arn
  secret_arns         = module.secrets.secret_arns
  secret_names        = module.secrets.secret_names
  secrets_kms_key_arn = module.kms.key_arns["secrets"]
  env_secret_name     = var.env_secret_name

  kuberay_chart_version            = var.kuberay_chart_version
  lb_controller_chart_version      = var.lb_controller_chart_version
  external_secrets_chart_version   = var.external_secrets_chart_version
  cluster_autoscaler_chart_version = var.cluster_autoscaler_chart_version
  cluster_autoscaler_image_tag     = var.cluster_autoscaler_image_tag

  install_monitoring            = var.install_monitoring
  kube_prometheus_stack_version = var.kube_prometheus_stack_version
  gcs_redis_host                = module.redis.gcs_primary_endpoint

  deploy_workloads         = var.deploy_workloads
  rayservice_manifest_path = local.rayservice_manifest_path

  # The controllers need nodes (and CoreDNS) to run on.
  depends_on = [module.eks]
}
